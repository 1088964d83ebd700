-- entity_end_stats: for every entity, its jobs that ran, in the order they
-- ended, with the entity's history statistics *including* that job. Row
-- `seq = n` therefore describes the entity as it was known once its first n
-- jobs had ended. Materialised.
SELECT
    entity_kind,
    entity_key,
    end_s,
    CAST(ROW_NUMBER() OVER w_all AS BIGINT) AS seq,
    -- How many of the entity's ends follow this one, counted up to 25:
    -- history_state picks the latest (0) and the most recent (< 25) by it,
    -- with no second sort and no whole entity held in memory.
    COUNT(*) OVER (
        PARTITION BY entity_kind, entity_key ORDER BY end_s, job_key
        ROWS BETWEEN 1 FOLLOWING AND 25 FOLLOWING
    ) AS later_ends,
    -- AVG as DataFusion computes it (the sum over the count), from the sum
    -- this file publishes anyway: one running aggregate fewer per row.
    SUM(log_rt) OVER w_all / CAST(ROW_NUMBER() OVER w_all AS DOUBLE) AS mean_log_rt,
    -- Median over the 25 most recent ends: habits drift, and a bounded
    -- window keeps the cost linear.
    MEDIAN(log_rt) OVER (
        PARTITION BY entity_kind, entity_key ORDER BY end_s, job_key
        ROWS BETWEEN 24 PRECEDING AND CURRENT ROW
    ) AS median_log_rt,
    run_time_s AS last_rt,
    LAG(run_time_s) OVER (
        PARTITION BY entity_kind, entity_key ORDER BY end_s, job_key
    ) AS prev_rt,
    AVG(run_req_ratio) OVER w_all AS mean_ratio,
    AVG(is_timeout) OVER w_all AS timeout_share,
    -- The sums behind the means, added in the same order as the means add
    -- them: servers continue them in history_state and reach the same means.
    SUM(log_rt) OVER w_all AS log_rt_sum,
    SUM(run_req_ratio) OVER w_all AS ratio_sum
FROM entity_membership
WHERE ran
WINDOW w_all AS (
    PARTITION BY entity_kind, entity_key ORDER BY end_s, job_key
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
)
