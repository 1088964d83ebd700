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
-- The entity's latest end and its most recent ends are rows of
-- entity_end_stats found by how many ends follow them, so nothing is sorted
-- again.
WITH latest_end AS (
    SELECT
        entity_kind,
        entity_key,
        MAX(seq) AS n_ended,
        MAX(mean_log_rt) FILTER (WHERE later_ends = 0) AS mean_log_rt,
        MAX(median_log_rt) FILTER (WHERE later_ends = 0) AS median_log_rt,
        MAX(last_rt) FILTER (WHERE later_ends = 0) AS last_rt,
        MAX(prev_rt) FILTER (WHERE later_ends = 0) AS prev_rt,
        MAX(mean_ratio) FILTER (WHERE later_ends = 0) AS mean_ratio,
        MAX(timeout_share) FILTER (WHERE later_ends = 0) AS timeout_share,
        MAX(end_s) FILTER (WHERE later_ends = 0) AS last_end_s,
        MAX(log_rt_sum) FILTER (WHERE later_ends = 0) AS log_rt_sum,
        MAX(ratio_sum) FILTER (WHERE later_ends = 0) AS ratio_sum,
        ARRAY_AGG(ln(1.0 + last_rt) ORDER BY seq) AS recent_log_rt
    FROM entity_end_stats
    WHERE later_ends < 25
    GROUP BY entity_kind, entity_key
),
-- The counts behind the means (exact in any order), and the latest submit,
-- in one grouping.
membership_totals AS (
    SELECT
        entity_kind,
        entity_key,
        MAX(submit_s) AS last_submit_s,
        -- Null, not 0, for an entity none of whose jobs has ended.
        CASE WHEN BOOL_OR(ran) THEN COUNT(run_req_ratio) FILTER (WHERE ran) END AS ratio_n,
        SUM(is_timeout) FILTER (WHERE ran) AS timeout_sum
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
    e.log_rt_sum,
    s.ratio_n,
    e.ratio_sum,
    s.timeout_sum,
    e.recent_log_rt
FROM membership_totals s
LEFT JOIN latest_end e
    ON e.entity_kind = s.entity_kind AND e.entity_key = s.entity_key
