-- queue_at_submit: how many jobs were pending and running, in the job's
-- partition and for the job's user, at the instant the job was submitted.
--
-- Only events strictly before the submit's second count. A scope's events
-- are in time order, its submits first within each second; a submit's
-- running totals over the rows before it hold every earlier second's events
-- and the submits earlier in its own second, each +1 pending, which its row
-- number within the second takes off again. The second is a prefix of the
-- order, so that row number needs no sort of its own. Materialised.
WITH ordered AS (
    SELECT
        scope_kind,
        scope_key,
        job_key,
        t,
        d_pending,
        d_running,
        CASE WHEN d_pending = 1 THEN 0 ELSE 1 END AS ord
    FROM queue_events
),
running_totals AS (
    SELECT
        scope_kind,
        job_key,
        d_pending,
        COALESCE(SUM(d_pending) OVER before, 0)
            - (CAST(ROW_NUMBER() OVER (
                PARTITION BY scope_kind, scope_key, t ORDER BY ord, job_key
            ) AS BIGINT) - 1) AS pending,
        COALESCE(SUM(d_running) OVER before, 0) AS running
    FROM ordered
    WINDOW before AS (
        PARTITION BY scope_kind, scope_key ORDER BY t, ord, job_key
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    )
)
SELECT job_key, scope_kind, pending, running
FROM running_totals
WHERE d_pending = 1
