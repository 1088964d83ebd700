-- job_context: everything known about a job at its submit time, one row per
-- job: its own columns, its entities' history and its queues. Executed as a
-- view. Servers build the same row for a new job (job_base's columns from
-- its record, the rest from history_state and queue_state) and evaluate
-- features' row-level expressions on it.
CREATE VIEW job_context AS
SELECT *
FROM job_base j
LEFT JOIN history_wide h ON h.hist_job_key = j.job_key
LEFT JOIN queue_wide q ON q.queue_job_key = j.job_key
