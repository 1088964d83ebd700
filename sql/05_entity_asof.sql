-- entity_asof: each job's view of each of its entities at its submit time.
--
-- The entity's submits and its rows of entity_end_stats (one per job that
-- ended, with the statistics including that job) are merged in time order; a
-- submit sorts before an end at the same second, and ends at the same second
-- keep their seq order, which is job order. The running count of ends at a
-- submit is then the number of the entity's jobs that ended strictly before
-- it, and the latest end row before it is the one with that seq: history as
-- of submit, with no quadratic join and nothing from the future.
--
-- That end row's statistics reach the submits after it as the first value
-- of their run of equal counts. The count only grows along the merged order,
-- so the runs follow that order too and DataFusion needs no second sort;
-- rows equal on (kind, key, count) share their (kind, key) hash partition,
-- so it needs no repartition either (`subset_repartition_threshold` in
-- pipeline/src/features.rs).
--
-- Recency is known at submit too: the entity's previous submit (bursts of
-- similar jobs), the latest submit time among the events before this one in
-- the same pass, and its last end. The statistic columns are those of
-- history_state, which describes the same thing for a job submitted after
-- the data ends.
--
-- The rows are written in job order: history_wide gathers each job's rows
-- into one, and over tens of millions of jobs that is a cheap streaming
-- pass over sorted input, where unsorted input scatters every row's update
-- across a hash table far larger than the CPU caches. Materialised.
WITH events AS (
    SELECT entity_kind, entity_key, submit_s AS t, 0 AS is_end, job_key AS tie, job_key,
           CAST(NULL AS DOUBLE) AS mean_log_rt,
           CAST(NULL AS DOUBLE) AS median_log_rt,
           CAST(NULL AS DOUBLE) AS last_rt,
           CAST(NULL AS DOUBLE) AS prev_rt,
           CAST(NULL AS DOUBLE) AS mean_ratio,
           CAST(NULL AS DOUBLE) AS timeout_share
    FROM entity_membership
    UNION ALL
    SELECT entity_kind, entity_key, end_s AS t, 1 AS is_end, seq AS tie,
           CAST(NULL AS BIGINT) AS job_key,
           mean_log_rt, median_log_rt, last_rt, prev_rt, mean_ratio, timeout_share
    FROM entity_end_stats
),
counted AS (
    SELECT
        *,
        -- A COUNT, which DataFusion knows never decreases along the order.
        COUNT(CASE WHEN is_end = 1 THEN t END) OVER (
            PARTITION BY entity_kind, entity_key ORDER BY t, is_end, tie
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS n_ended,
        -- Ends are in end order, so the latest is the largest.
        MAX(CASE WHEN is_end = 1 THEN t END) OVER (
            PARTITION BY entity_kind, entity_key ORDER BY t, is_end, tie
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS last_end_s,
        -- Submits are in submit order within the pass, so the latest earlier
        -- submit time is the previous submit's.
        MAX(CASE WHEN is_end = 0 THEN t END) OVER (
            PARTITION BY entity_kind, entity_key ORDER BY t, is_end, tie
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS last_submit_s
    FROM events
),
carried AS (
    -- A run of equal counts starts with its end row (or, for the count 0,
    -- with a submit, whose statistics are null: nothing has ended yet).
    SELECT
        job_key, entity_kind, n_ended, is_end, last_end_s, last_submit_s,
        FIRST_VALUE(mean_log_rt) OVER run AS mean_log_rt,
        FIRST_VALUE(median_log_rt) OVER run AS median_log_rt,
        FIRST_VALUE(last_rt) OVER run AS last_rt,
        FIRST_VALUE(prev_rt) OVER run AS prev_rt,
        FIRST_VALUE(mean_ratio) OVER run AS mean_ratio,
        FIRST_VALUE(timeout_share) OVER run AS timeout_share
    FROM counted
    WINDOW run AS (
        PARTITION BY entity_kind, entity_key, n_ended ORDER BY t, is_end, tie
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    )
)
SELECT
    job_key,
    entity_kind,
    n_ended,
    mean_log_rt,
    median_log_rt,
    last_rt,
    prev_rt,
    mean_ratio,
    timeout_share,
    last_end_s,
    last_submit_s
FROM carried
WHERE is_end = 0
ORDER BY job_key
