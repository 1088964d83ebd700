-- history_state: every entity's history as of the end of the data, i.e. what
-- a job submitted after the last recorded end would see. Published in the
-- model bundle so that servers compute history features for new jobs without
-- the job table. Entities whose jobs have not ended yet appear with n_ended
-- = 0. Materialised.
--
-- Besides the statistics, each row carries what servers need to continue
-- them as new jobs end: the running sums behind the means, and the log
-- runtimes of the entity's most recent ends in end order (the median's
-- window of entity_end_stats, whose frame size servers read from that file).
WITH last_seq AS (
    SELECT entity_kind, entity_key, MAX(seq) AS n_ended
    FROM entity_end_stats
    GROUP BY entity_kind, entity_key
),
-- The entity's latest end by a grouping and a join, not a sort of its ends.
latest_end AS (
    SELECT
        s.entity_kind,
        s.entity_key,
        s.seq AS n_ended,
        s.mean_log_rt,
        s.median_log_rt,
        s.last_rt,
        s.prev_rt,
        s.mean_ratio,
        s.timeout_share,
        s.end_s AS last_end_s
    FROM entity_end_stats s
    JOIN last_seq l
        ON l.entity_kind = s.entity_kind AND l.entity_key = s.entity_key AND s.seq = l.n_ended
),
ended AS (
    SELECT
        entity_kind,
        entity_key,
        log_rt,
        run_req_ratio,
        is_timeout,
        ROW_NUMBER() OVER (
            PARTITION BY entity_kind, entity_key ORDER BY end_s DESC, job_key DESC
        ) AS recency
    FROM entity_membership
    WHERE ran
),
sums AS (
    SELECT
        entity_kind,
        entity_key,
        SUM(log_rt) AS log_rt_sum,
        COUNT(run_req_ratio) AS ratio_n,
        SUM(run_req_ratio) AS ratio_sum,
        SUM(is_timeout) AS timeout_sum,
        ARRAY_AGG(log_rt ORDER BY recency DESC) FILTER (WHERE recency <= 25) AS recent_log_rt
    FROM ended
    GROUP BY entity_kind, entity_key
),
latest_submit AS (
    SELECT entity_kind, entity_key, MAX(submit_s) AS last_submit_s
    FROM entity_membership
    GROUP BY entity_kind, entity_key
)
SELECT
    s.entity_kind,
    s.entity_key,
    COALESCE(e.n_ended, 0) AS n_ended,
    e.mean_log_rt,
    e.median_log_rt,
    e.last_rt,
    e.prev_rt,
    e.mean_ratio,
    e.timeout_share,
    e.last_end_s,
    s.last_submit_s,
    u.log_rt_sum,
    u.ratio_n,
    u.ratio_sum,
    u.timeout_sum,
    u.recent_log_rt
FROM latest_submit s
LEFT JOIN latest_end e
    ON e.entity_kind = s.entity_kind AND e.entity_key = s.entity_key
LEFT JOIN sums u
    ON u.entity_kind = s.entity_kind AND u.entity_key = s.entity_key
