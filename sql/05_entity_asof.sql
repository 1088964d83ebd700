-- entity_asof: each job's view of each of its entities at its submit time.
--
-- Submit and end events of an entity are merged in time order; a submit sorts
-- before an end at the same second, so the running count of ends at a submit
-- is the number of the entity's jobs that ended strictly before it. That
-- count selects the matching row of entity_end_stats: history as of submit,
-- with no quadratic join and nothing from the future.
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
    SELECT entity_kind, entity_key, job_key, submit_s AS t, 0 AS is_end
    FROM entity_membership
    UNION ALL
    SELECT entity_kind, entity_key, job_key, end_s AS t, 1 AS is_end
    FROM entity_membership
    WHERE ran
),
counted AS (
    SELECT
        entity_kind,
        entity_key,
        job_key,
        t,
        is_end,
        SUM(is_end) OVER (
            PARTITION BY entity_kind, entity_key ORDER BY t, is_end, job_key
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS n_ended,
        -- Submits are in submit order within the pass, so the latest earlier
        -- submit time is the previous submit's.
        MAX(CASE WHEN is_end = 0 THEN t END) OVER (
            PARTITION BY entity_kind, entity_key ORDER BY t, is_end, job_key
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS last_submit_s
    FROM events
)
SELECT
    c.job_key,
    c.entity_kind,
    c.n_ended,
    s.mean_log_rt,
    s.median_log_rt,
    s.last_rt,
    s.prev_rt,
    s.mean_ratio,
    s.timeout_share,
    s.end_s AS last_end_s,
    c.last_submit_s
FROM counted c
LEFT JOIN entity_end_stats s
    ON s.entity_kind = c.entity_kind
    AND s.entity_key = c.entity_key
    AND s.seq = c.n_ended
WHERE c.is_end = 0
ORDER BY c.job_key
