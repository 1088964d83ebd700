-- features: one row per job, everything known at its submit time.
--
-- Columns named `f_*` are numeric model features, `cat_*` categorical ones;
-- `base_*` are the baselines the evaluation compares against. The other
-- columns identify the job and carry its outcome (the training label and
-- evaluation target), never used as features. Every expression reads one
-- job_context row, so servers evaluate the same expressions on new jobs.
-- Materialised.
SELECT
    -- identity and outcome
    job_key,
    submit_time,
    submit_s,
    end_s,
    run_time_s,
    state,
    wallclock_req_s,
    -- request
    ln(1.0 + wallclock_req_s) AS f_log_req_wallclock,
    CAST(nodes_req AS DOUBLE) AS f_nodes,
    CAST(processors_req AS DOUBLE) AS f_processors,
    CAST(gpus_req AS DOUBLE) AS f_gpus,
    mem_req_mb AS f_mem_mb,
    CASE WHEN nodes_req > 0 THEN CAST(processors_req AS DOUBLE) / nodes_req END AS f_processors_per_node,
    CASE WHEN processors_req > 0 AND mem_req_mb > 0 THEN mem_req_mb / processors_req END AS f_mem_per_processor_mb,
    CASE WHEN nodes_req > 0 THEN CAST(gpus_req AS DOUBLE) / nodes_req END AS f_gpus_per_node,
    -- calendar at submit (the cluster's local clock)
    CAST(date_part('hour', submit_time) AS DOUBLE) AS f_submit_hour,
    CAST(date_part('dow', submit_time) AS DOUBLE) AS f_submit_weekday,
    -- who submits
    "user" AS cat_user,
    account AS cat_account,
    "partition" AS cat_partition,
    qos AS cat_qos,
    -- history as of submit, per entity
    COALESCE(user_n_ended, 0) AS f_user_n,
    user_mean_log_rt AS f_user_mean_log_rt,
    user_median_log_rt AS f_user_median_log_rt,
    user_last_rt AS f_user_last_rt,
    user_prev_rt AS f_user_prev_rt,
    user_mean_ratio AS f_user_mean_ratio,
    user_timeout_share AS f_user_timeout_share,
    CAST(submit_s - user_last_end_s AS DOUBLE) AS f_user_secs_since_last_end,
    CAST(submit_s - user_last_submit_s AS DOUBLE) AS f_user_secs_since_prev_submit,
    COALESCE(account_n_ended, 0) AS f_account_n,
    account_mean_log_rt AS f_account_mean_log_rt,
    account_median_log_rt AS f_account_median_log_rt,
    account_last_rt AS f_account_last_rt,
    account_prev_rt AS f_account_prev_rt,
    account_mean_ratio AS f_account_mean_ratio,
    account_timeout_share AS f_account_timeout_share,
    CAST(submit_s - account_last_end_s AS DOUBLE) AS f_account_secs_since_last_end,
    CAST(submit_s - account_last_submit_s AS DOUBLE) AS f_account_secs_since_prev_submit,
    COALESCE(partition_n_ended, 0) AS f_partition_n,
    partition_mean_log_rt AS f_partition_mean_log_rt,
    partition_median_log_rt AS f_partition_median_log_rt,
    partition_last_rt AS f_partition_last_rt,
    partition_prev_rt AS f_partition_prev_rt,
    partition_mean_ratio AS f_partition_mean_ratio,
    partition_timeout_share AS f_partition_timeout_share,
    CAST(submit_s - partition_last_end_s AS DOUBLE) AS f_partition_secs_since_last_end,
    CAST(submit_s - partition_last_submit_s AS DOUBLE) AS f_partition_secs_since_prev_submit,
    COALESCE(user_req_n_ended, 0) AS f_user_req_n,
    user_req_mean_log_rt AS f_user_req_mean_log_rt,
    user_req_median_log_rt AS f_user_req_median_log_rt,
    user_req_last_rt AS f_user_req_last_rt,
    user_req_prev_rt AS f_user_req_prev_rt,
    user_req_mean_ratio AS f_user_req_mean_ratio,
    user_req_timeout_share AS f_user_req_timeout_share,
    CAST(submit_s - user_req_last_end_s AS DOUBLE) AS f_user_req_secs_since_last_end,
    CAST(submit_s - user_req_last_submit_s AS DOUBLE) AS f_user_req_secs_since_prev_submit,
    COALESCE(user_req_size_n_ended, 0) AS f_user_req_size_n,
    user_req_size_mean_log_rt AS f_user_req_size_mean_log_rt,
    user_req_size_median_log_rt AS f_user_req_size_median_log_rt,
    user_req_size_last_rt AS f_user_req_size_last_rt,
    user_req_size_prev_rt AS f_user_req_size_prev_rt,
    user_req_size_mean_ratio AS f_user_req_size_mean_ratio,
    user_req_size_timeout_share AS f_user_req_size_timeout_share,
    CAST(submit_s - user_req_size_last_end_s AS DOUBLE) AS f_user_req_size_secs_since_last_end,
    CAST(submit_s - user_req_size_last_submit_s AS DOUBLE) AS f_user_req_size_secs_since_prev_submit,
    COALESCE(user_name_n_ended, 0) AS f_user_name_n,
    user_name_mean_log_rt AS f_user_name_mean_log_rt,
    user_name_median_log_rt AS f_user_name_median_log_rt,
    user_name_last_rt AS f_user_name_last_rt,
    user_name_prev_rt AS f_user_name_prev_rt,
    user_name_mean_ratio AS f_user_name_mean_ratio,
    user_name_timeout_share AS f_user_name_timeout_share,
    CAST(submit_s - user_name_last_end_s AS DOUBLE) AS f_user_name_secs_since_last_end,
    CAST(submit_s - user_name_last_submit_s AS DOUBLE) AS f_user_name_secs_since_prev_submit,
    -- the user's and the template's typical use of their request, applied to this request
    ln(1.0 + user_mean_ratio * wallclock_req_s) AS f_user_ratio_applied_log,
    ln(1.0 + user_req_mean_ratio * wallclock_req_s) AS f_user_req_ratio_applied_log,
    -- queue at submit
    CAST(COALESCE(partition_pending, 0) AS DOUBLE) AS f_partition_pending,
    CAST(COALESCE(partition_running, 0) AS DOUBLE) AS f_partition_running,
    CAST(COALESCE(user_pending, 0) AS DOUBLE) AS f_user_pending,
    CAST(COALESCE(user_running, 0) AS DOUBLE) AS f_user_running,
    -- baselines
    wallclock_req_s AS base_user_request_s,
    CASE
        WHEN COALESCE(user_n_ended, 0) = 0 THEN wallclock_req_s
        ELSE LEAST(
            CASE WHEN user_prev_rt IS NULL THEN user_last_rt
                 ELSE (user_last_rt + user_prev_rt) / 2.0 END,
            COALESCE(wallclock_req_s, CAST('Infinity' AS DOUBLE)))
    END AS base_last2_s
FROM job_context
