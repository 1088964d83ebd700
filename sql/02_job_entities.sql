-- job_entities: per job, the key of each entity it belongs to, next to the
-- outcome columns the history statistics need. Executed as a view.
--
-- An entity is a user, an account, a partition, or one of the user's
-- templates in the sense of Smith, Foster & Taylor: earlier jobs of the same
-- user with the same requested time, with the same requested time and size,
-- or with the same job name. Each `<kind>_key` column names the job's entity
-- of that kind (null when the job has none). The keys are row-level, so
-- servers compute them for new jobs from this same definition.
CREATE VIEW job_entities AS
SELECT
    job_key,
    submit_s,
    start_s,
    end_s,
    ran,
    ln(1.0 + run_time_s) AS log_rt,
    run_time_s,
    CASE WHEN wallclock_req_s > 0 THEN run_time_s / wallclock_req_s END AS run_req_ratio,
    CASE WHEN state = 'TIMEOUT' THEN 1.0 ELSE 0.0 END AS is_timeout,
    "user" AS user_key,
    account AS account_key,
    "partition" AS partition_key,
    CASE WHEN "user" IS NOT NULL AND wallclock_req_s IS NOT NULL
        THEN concat("user", '|', CAST(wallclock_req_s AS VARCHAR)) END AS user_req_key,
    CASE WHEN "user" IS NOT NULL AND wallclock_req_s IS NOT NULL
        THEN concat("user", '|', CAST(wallclock_req_s AS VARCHAR), '|',
                    CAST(nodes_req AS VARCHAR), 'x', CAST(processors_req AS VARCHAR)) END
        AS user_req_size_key,
    CASE WHEN "user" IS NOT NULL AND name IS NOT NULL
        THEN concat("user", '|', name) END AS user_name_key
FROM job_base
