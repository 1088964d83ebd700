-- queue_at_submit: how many jobs were pending and running, in the job's
-- partition and for the job's user, at the instant the job was submitted.
--
-- Each job's own query row sorts first at its second, so only events
-- strictly before the submit count. Materialised.
WITH events AS (
    SELECT scope_kind, scope_key, job_key, t, 0 AS ord, 0 AS d_pending, 0 AS d_running, TRUE AS is_query
    FROM queue_events WHERE d_pending = 1
    UNION ALL
    SELECT scope_kind, scope_key, job_key, t, 1, d_pending, d_running, FALSE FROM queue_events
),
running_totals AS (
    SELECT
        scope_kind,
        job_key,
        is_query,
        SUM(d_pending) OVER w AS pending,
        SUM(d_running) OVER w AS running
    FROM events
    WINDOW w AS (
        PARTITION BY scope_kind, scope_key ORDER BY t, ord, job_key
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    )
)
SELECT job_key, scope_kind, pending, running
FROM running_totals
WHERE is_query
