-- queue_wide: queue_at_submit pivoted to one row per job. Column
-- `<scope>_<count>` holds count `<count>` of the job's `<scope>` queue at its
-- submit; servers fill the same columns from queue_state. Materialised.
SELECT
    job_key AS queue_job_key,
    MAX(pending) FILTER (WHERE scope_kind = 'partition') AS partition_pending,
    MAX(running) FILTER (WHERE scope_kind = 'partition') AS partition_running,
    MAX(pending) FILTER (WHERE scope_kind = 'user') AS user_pending,
    MAX(running) FILTER (WHERE scope_kind = 'user') AS user_running
FROM queue_at_submit
GROUP BY job_key
