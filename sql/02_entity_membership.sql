-- entity_membership: one row per (job, entity the job belongs to). An entity
-- is a user, an account, a partition, or one of the user's templates in the
-- sense of Smith, Foster & Taylor: earlier jobs of the same user with the same
-- requested time, with the same requested time and size, or with the same job
-- name. Executed as a view.
CREATE VIEW entity_membership AS
WITH j AS (
    SELECT
        job_key,
        "user",
        account,
        "partition",
        name,
        CAST(wallclock_req_s AS VARCHAR) AS req,
        concat(CAST(nodes_req AS VARCHAR), 'x', CAST(processors_req AS VARCHAR)) AS size,
        submit_s,
        end_s,
        ran,
        ln(1.0 + run_time_s) AS log_rt,
        run_time_s,
        CASE WHEN wallclock_req_s > 0 THEN run_time_s / wallclock_req_s END AS run_req_ratio,
        CASE WHEN state = 'TIMEOUT' THEN 1.0 ELSE 0.0 END AS is_timeout
    FROM job_base
)
SELECT job_key, 'user' AS entity_kind, "user" AS entity_key,
       submit_s, end_s, ran, log_rt, run_time_s, run_req_ratio, is_timeout
FROM j WHERE "user" IS NOT NULL
UNION ALL
SELECT job_key, 'account', account,
       submit_s, end_s, ran, log_rt, run_time_s, run_req_ratio, is_timeout
FROM j WHERE account IS NOT NULL
UNION ALL
SELECT job_key, 'partition', "partition",
       submit_s, end_s, ran, log_rt, run_time_s, run_req_ratio, is_timeout
FROM j WHERE "partition" IS NOT NULL
UNION ALL
SELECT job_key, 'user_req', concat("user", '|', req),
       submit_s, end_s, ran, log_rt, run_time_s, run_req_ratio, is_timeout
FROM j WHERE "user" IS NOT NULL AND req IS NOT NULL
UNION ALL
SELECT job_key, 'user_req_size', concat("user", '|', req, '|', size),
       submit_s, end_s, ran, log_rt, run_time_s, run_req_ratio, is_timeout
FROM j WHERE "user" IS NOT NULL AND req IS NOT NULL
UNION ALL
SELECT job_key, 'user_name', concat("user", '|', name),
       submit_s, end_s, ran, log_rt, run_time_s, run_req_ratio, is_timeout
FROM j WHERE "user" IS NOT NULL AND name IS NOT NULL
