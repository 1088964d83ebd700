-- history_state: every entity's history as of the end of the data, i.e. what
-- a job submitted after the last recorded end would see. Published in the
-- model bundle so that servers compute history features for new jobs without
-- the job table. Materialised.
SELECT
    entity_kind,
    entity_key,
    n_ended,
    mean_log_rt,
    median_log_rt,
    last_rt,
    prev_rt,
    mean_ratio,
    timeout_share,
    last_end_s
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
) latest
WHERE recency = 1
