-- entity_asof: each job's view of each of its entities at its submit time.
--
-- An entity's submits and its rows of entity_end_stats (one per end, in end
-- order) are merged in time order; a submit sorts before an end at the same
-- second, so the ends before a submit are the entity's jobs that ended
-- strictly before it. Each statistic at a submit is carried forward from the
-- latest end row before it (LAST_VALUE ... IGNORE NULLS, since submit rows
-- hold none): history as of submit, with no join and nothing from the
-- future. Carrying a value forward over nulls is exact here because an end
-- row's statistic is null only when every earlier end row's is too (prev_rt
-- at the first end; mean_ratio until a job has a ratio).
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
    SELECT
        entity_kind,
        entity_key,
        job_key,
        submit_s AS t,
        0 AS is_end,
        CAST(NULL AS BIGINT) AS seq,
        CAST(NULL AS DOUBLE) AS mean_log_rt,
        CAST(NULL AS DOUBLE) AS median_log_rt,
        CAST(NULL AS DOUBLE) AS last_rt,
        CAST(NULL AS DOUBLE) AS prev_rt,
        CAST(NULL AS DOUBLE) AS mean_ratio,
        CAST(NULL AS DOUBLE) AS timeout_share,
        CAST(NULL AS BIGINT) AS end_s
    FROM entity_membership
    UNION ALL
    -- Ends at the same second follow their end order, seq.
    SELECT
        entity_kind,
        entity_key,
        CAST(NULL AS BIGINT),
        end_s AS t,
        1,
        seq,
        mean_log_rt,
        median_log_rt,
        last_rt,
        prev_rt,
        mean_ratio,
        timeout_share,
        end_s
    FROM entity_end_stats
),
counted AS (
    SELECT
        entity_kind,
        job_key,
        is_end,
        SUM(is_end) OVER w AS n_ended,
        LAST_VALUE(mean_log_rt IGNORE NULLS) OVER w AS mean_log_rt,
        LAST_VALUE(median_log_rt IGNORE NULLS) OVER w AS median_log_rt,
        LAST_VALUE(last_rt IGNORE NULLS) OVER w AS last_rt,
        LAST_VALUE(prev_rt IGNORE NULLS) OVER w AS prev_rt,
        LAST_VALUE(mean_ratio IGNORE NULLS) OVER w AS mean_ratio,
        LAST_VALUE(timeout_share IGNORE NULLS) OVER w AS timeout_share,
        LAST_VALUE(end_s IGNORE NULLS) OVER w AS last_end_s,
        -- Submits are in submit order within the pass, so the latest earlier
        -- submit time is the previous submit's.
        MAX(CASE WHEN is_end = 0 THEN t END) OVER (
            PARTITION BY entity_kind, entity_key ORDER BY t, is_end, seq, job_key
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS last_submit_s
    FROM events
    WINDOW w AS (
        PARTITION BY entity_kind, entity_key ORDER BY t, is_end, seq, job_key
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
FROM counted
WHERE is_end = 0
ORDER BY job_key
