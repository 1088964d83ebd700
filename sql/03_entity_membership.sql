-- entity_membership: one row per (job, entity the job belongs to), the
-- entity keys of job_entities unpivoted. Executed as a view.
CREATE VIEW entity_membership AS
SELECT job_key, 'user' AS entity_kind, user_key AS entity_key,
       submit_s, end_s, ran, log_rt, run_time_s, run_req_ratio, is_timeout
FROM job_entities WHERE user_key IS NOT NULL
UNION ALL
SELECT job_key, 'account', account_key,
       submit_s, end_s, ran, log_rt, run_time_s, run_req_ratio, is_timeout
FROM job_entities WHERE account_key IS NOT NULL
UNION ALL
SELECT job_key, 'partition', partition_key,
       submit_s, end_s, ran, log_rt, run_time_s, run_req_ratio, is_timeout
FROM job_entities WHERE partition_key IS NOT NULL
UNION ALL
SELECT job_key, 'user_req', user_req_key,
       submit_s, end_s, ran, log_rt, run_time_s, run_req_ratio, is_timeout
FROM job_entities WHERE user_req_key IS NOT NULL
UNION ALL
SELECT job_key, 'user_req_size', user_req_size_key,
       submit_s, end_s, ran, log_rt, run_time_s, run_req_ratio, is_timeout
FROM job_entities WHERE user_req_size_key IS NOT NULL
UNION ALL
SELECT job_key, 'user_name', user_name_key,
       submit_s, end_s, ran, log_rt, run_time_s, run_req_ratio, is_timeout
FROM job_entities WHERE user_name_key IS NOT NULL
