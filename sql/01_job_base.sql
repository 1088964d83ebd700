-- job_base: the canonical job table with times as epoch seconds and the
-- request-derived quantities every later step needs. Executed as a view.
--
-- Only `submit_s` and the request columns describe the job itself at submit
-- time; `start_s`, `end_s`, `run_time_s` and `state` are outcomes, used by
-- later files solely for *other* jobs' history and for the training label.
CREATE VIEW job_base AS
SELECT
    job_key,
    "user",
    account,
    "partition",
    qos,
    name,
    wallclock_req_s,
    nodes_req,
    processors_req,
    gpus_req,
    mem_req_mb,
    submit_time,
    CAST(submit_time AS BIGINT) AS submit_s,
    CAST(start_time AS BIGINT) AS start_s,
    CAST(end_time AS BIGINT) AS end_s,
    run_time_s,
    state,
    -- A job "ran" when it has a start, an end and a positive runtime: only
    -- such jobs feed history.
    (start_time IS NOT NULL AND end_time IS NOT NULL AND run_time_s > 0) AS ran
FROM jobs
