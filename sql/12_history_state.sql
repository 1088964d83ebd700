-- history_state: every entity's history as of the end of the data, i.e. what
-- a job submitted after the last recorded end would see. Published in the
-- model bundle so that servers compute history features for new jobs without
-- the job table. Entities whose jobs have not ended yet appear with n_ended
-- = 0. Materialised.
WITH latest_end AS (
    SELECT *
    FROM (
        SELECT
            entity_kind,
            entity_key,
            seq AS n_ended,
            mean_log_rt,
            median_log_rt,
            last_rt,
            prev_rt,
            mean_ratio,
            timeout_share,
            end_s AS last_end_s,
            ROW_NUMBER() OVER (PARTITION BY entity_kind, entity_key ORDER BY seq DESC) AS recency
        FROM entity_end_stats
    ) ranked
    WHERE recency = 1
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
    s.last_submit_s
FROM latest_submit s
LEFT JOIN latest_end e
    ON e.entity_kind = s.entity_kind AND e.entity_key = s.entity_key
