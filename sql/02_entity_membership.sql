-- entity_membership: one row per (job, entity the job belongs to). An entity
-- is a user, an account, a partition, or one of the user's templates in the
-- sense of Smith, Foster & Taylor: earlier jobs of the same user with the same
-- requested time, with the same requested time and size, or with the same job
-- name. Executed as a view.
CREATE VIEW entity_membership AS
WITH m AS (
    SELECT job_key, 'user' AS entity_kind, "user" AS entity_key FROM job_base
    UNION ALL
    SELECT job_key, 'account', account FROM job_base
    UNION ALL
    SELECT job_key, 'partition', "partition" FROM job_base
    UNION ALL
    SELECT job_key, 'user_req', concat("user", '|', CAST(wallclock_req_s AS VARCHAR))
    FROM job_base WHERE "user" IS NOT NULL AND wallclock_req_s IS NOT NULL
    UNION ALL
    SELECT job_key, 'user_req_size',
           concat("user", '|', CAST(wallclock_req_s AS VARCHAR), '|',
                  CAST(nodes_req AS VARCHAR), '|', CAST(processors_req AS VARCHAR))
    FROM job_base WHERE "user" IS NOT NULL AND wallclock_req_s IS NOT NULL
    UNION ALL
    SELECT job_key, 'user_name', concat("user", '|', name)
    FROM job_base WHERE "user" IS NOT NULL AND name IS NOT NULL
)
SELECT
    m.job_key,
    m.entity_kind,
    m.entity_key,
    j.submit_s,
    j.end_s,
    j.ran,
    ln(1.0 + j.run_time_s) AS log_rt,
    j.run_time_s,
    CASE WHEN j.wallclock_req_s > 0 THEN j.run_time_s / j.wallclock_req_s END AS run_req_ratio,
    CASE WHEN j.state = 'TIMEOUT' THEN 1.0 ELSE 0.0 END AS is_timeout
FROM m
JOIN job_base j ON j.job_key = m.job_key
WHERE m.entity_key IS NOT NULL
