-- queue_at_submit: how many jobs were pending and running, in the job's
-- partition and for the job's user, at the instant the job was submitted.
--
-- Each job contributes events: +1 pending at submit; at start, -1 pending and
-- +1 running; at end, -1 running (or -1 pending if it never started). Each
-- job's own query row sorts first at its second, so only events strictly
-- before the submit count. Materialised.
WITH scopes AS (
    SELECT job_key, 'partition' AS scope_kind, "partition" AS scope_key, submit_s, start_s, end_s
    FROM job_base WHERE "partition" IS NOT NULL
    UNION ALL
    SELECT job_key, 'user', "user", submit_s, start_s, end_s
    FROM job_base WHERE "user" IS NOT NULL
),
events AS (
    SELECT scope_kind, scope_key, job_key, submit_s AS t, 0 AS ord, 0 AS d_pending, 0 AS d_running, TRUE AS is_query
    FROM scopes
    UNION ALL
    SELECT scope_kind, scope_key, job_key, submit_s, 1, 1, 0, FALSE FROM scopes
    UNION ALL
    SELECT scope_kind, scope_key, job_key, start_s, 1, -1, 1, FALSE FROM scopes WHERE start_s IS NOT NULL
    UNION ALL
    SELECT scope_kind, scope_key, job_key, end_s, 1, 0, -1, FALSE
    FROM scopes WHERE start_s IS NOT NULL AND end_s IS NOT NULL
    UNION ALL
    SELECT scope_kind, scope_key, job_key, end_s, 1, -1, 0, FALSE
    FROM scopes WHERE start_s IS NULL AND end_s IS NOT NULL
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
