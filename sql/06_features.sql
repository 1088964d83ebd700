-- features: one row per job, everything known at its submit time.
--
-- Columns named `f_*` are numeric model features, `cat_*` categorical ones;
-- `base_*` are the baselines the evaluation compares against. The other
-- columns identify the job and carry its outcome (the training label and
-- evaluation target), never used as features. Materialised.
WITH hist AS (
    SELECT
        job_key,
        MAX(n_ended) FILTER (WHERE entity_kind = 'user') AS user_n,
        MAX(mean_log_rt) FILTER (WHERE entity_kind = 'user') AS user_mean_log_rt,
        MAX(median_log_rt) FILTER (WHERE entity_kind = 'user') AS user_median_log_rt,
        MAX(last_rt) FILTER (WHERE entity_kind = 'user') AS user_last_rt,
        MAX(prev_rt) FILTER (WHERE entity_kind = 'user') AS user_prev_rt,
        MAX(mean_ratio) FILTER (WHERE entity_kind = 'user') AS user_mean_ratio,
        MAX(timeout_share) FILTER (WHERE entity_kind = 'user') AS user_timeout_share,
        MAX(secs_since_last_end) FILTER (WHERE entity_kind = 'user') AS user_secs_since_last_end,
        MAX(secs_since_prev_submit) FILTER (WHERE entity_kind = 'user') AS user_secs_since_prev_submit,
        MAX(n_ended) FILTER (WHERE entity_kind = 'account') AS account_n,
        MAX(mean_log_rt) FILTER (WHERE entity_kind = 'account') AS account_mean_log_rt,
        MAX(median_log_rt) FILTER (WHERE entity_kind = 'account') AS account_median_log_rt,
        MAX(last_rt) FILTER (WHERE entity_kind = 'account') AS account_last_rt,
        MAX(prev_rt) FILTER (WHERE entity_kind = 'account') AS account_prev_rt,
        MAX(mean_ratio) FILTER (WHERE entity_kind = 'account') AS account_mean_ratio,
        MAX(timeout_share) FILTER (WHERE entity_kind = 'account') AS account_timeout_share,
        MAX(secs_since_last_end) FILTER (WHERE entity_kind = 'account') AS account_secs_since_last_end,
        MAX(secs_since_prev_submit) FILTER (WHERE entity_kind = 'account') AS account_secs_since_prev_submit,
        MAX(n_ended) FILTER (WHERE entity_kind = 'partition') AS partition_n,
        MAX(mean_log_rt) FILTER (WHERE entity_kind = 'partition') AS partition_mean_log_rt,
        MAX(median_log_rt) FILTER (WHERE entity_kind = 'partition') AS partition_median_log_rt,
        MAX(last_rt) FILTER (WHERE entity_kind = 'partition') AS partition_last_rt,
        MAX(prev_rt) FILTER (WHERE entity_kind = 'partition') AS partition_prev_rt,
        MAX(mean_ratio) FILTER (WHERE entity_kind = 'partition') AS partition_mean_ratio,
        MAX(timeout_share) FILTER (WHERE entity_kind = 'partition') AS partition_timeout_share,
        MAX(secs_since_last_end) FILTER (WHERE entity_kind = 'partition') AS partition_secs_since_last_end,
        MAX(secs_since_prev_submit) FILTER (WHERE entity_kind = 'partition') AS partition_secs_since_prev_submit,
        MAX(n_ended) FILTER (WHERE entity_kind = 'user_req') AS user_req_n,
        MAX(mean_log_rt) FILTER (WHERE entity_kind = 'user_req') AS user_req_mean_log_rt,
        MAX(median_log_rt) FILTER (WHERE entity_kind = 'user_req') AS user_req_median_log_rt,
        MAX(last_rt) FILTER (WHERE entity_kind = 'user_req') AS user_req_last_rt,
        MAX(prev_rt) FILTER (WHERE entity_kind = 'user_req') AS user_req_prev_rt,
        MAX(mean_ratio) FILTER (WHERE entity_kind = 'user_req') AS user_req_mean_ratio,
        MAX(timeout_share) FILTER (WHERE entity_kind = 'user_req') AS user_req_timeout_share,
        MAX(secs_since_last_end) FILTER (WHERE entity_kind = 'user_req') AS user_req_secs_since_last_end,
        MAX(secs_since_prev_submit) FILTER (WHERE entity_kind = 'user_req') AS user_req_secs_since_prev_submit,
        MAX(n_ended) FILTER (WHERE entity_kind = 'user_req_size') AS user_req_size_n,
        MAX(mean_log_rt) FILTER (WHERE entity_kind = 'user_req_size') AS user_req_size_mean_log_rt,
        MAX(median_log_rt) FILTER (WHERE entity_kind = 'user_req_size') AS user_req_size_median_log_rt,
        MAX(last_rt) FILTER (WHERE entity_kind = 'user_req_size') AS user_req_size_last_rt,
        MAX(prev_rt) FILTER (WHERE entity_kind = 'user_req_size') AS user_req_size_prev_rt,
        MAX(mean_ratio) FILTER (WHERE entity_kind = 'user_req_size') AS user_req_size_mean_ratio,
        MAX(timeout_share) FILTER (WHERE entity_kind = 'user_req_size') AS user_req_size_timeout_share,
        MAX(secs_since_last_end) FILTER (WHERE entity_kind = 'user_req_size') AS user_req_size_secs_since_last_end,
        MAX(secs_since_prev_submit) FILTER (WHERE entity_kind = 'user_req_size') AS user_req_size_secs_since_prev_submit,
        MAX(n_ended) FILTER (WHERE entity_kind = 'user_name') AS user_name_n,
        MAX(mean_log_rt) FILTER (WHERE entity_kind = 'user_name') AS user_name_mean_log_rt,
        MAX(median_log_rt) FILTER (WHERE entity_kind = 'user_name') AS user_name_median_log_rt,
        MAX(last_rt) FILTER (WHERE entity_kind = 'user_name') AS user_name_last_rt,
        MAX(prev_rt) FILTER (WHERE entity_kind = 'user_name') AS user_name_prev_rt,
        MAX(mean_ratio) FILTER (WHERE entity_kind = 'user_name') AS user_name_mean_ratio,
        MAX(timeout_share) FILTER (WHERE entity_kind = 'user_name') AS user_name_timeout_share,
        MAX(secs_since_last_end) FILTER (WHERE entity_kind = 'user_name') AS user_name_secs_since_last_end,
        MAX(secs_since_prev_submit) FILTER (WHERE entity_kind = 'user_name') AS user_name_secs_since_prev_submit
    FROM entity_asof
    GROUP BY job_key
),
queue AS (
    SELECT
        job_key,
        MAX(pending) FILTER (WHERE scope_kind = 'partition') AS partition_pending,
        MAX(running) FILTER (WHERE scope_kind = 'partition') AS partition_running,
        MAX(pending) FILTER (WHERE scope_kind = 'user') AS user_pending,
        MAX(running) FILTER (WHERE scope_kind = 'user') AS user_running
    FROM queue_at_submit
    GROUP BY job_key
)
SELECT
    -- identity and outcome
    j.job_key,
    j.submit_time,
    j.submit_s,
    j.end_s,
    j.run_time_s,
    j.state,
    j.wallclock_req_s,
    -- request
    ln(1.0 + j.wallclock_req_s) AS f_log_req_wallclock,
    CAST(j.nodes_req AS DOUBLE) AS f_nodes,
    CAST(j.processors_req AS DOUBLE) AS f_processors,
    CAST(j.gpus_req AS DOUBLE) AS f_gpus,
    j.mem_req_mb AS f_mem_mb,
    CASE WHEN j.nodes_req > 0 THEN CAST(j.processors_req AS DOUBLE) / j.nodes_req END AS f_processors_per_node,
    CASE WHEN j.processors_req > 0 AND j.mem_req_mb > 0 THEN j.mem_req_mb / j.processors_req END AS f_mem_per_processor_mb,
    CASE WHEN j.nodes_req > 0 THEN CAST(j.gpus_req AS DOUBLE) / j.nodes_req END AS f_gpus_per_node,
    -- calendar at submit (the cluster's local clock)
    CAST(date_part('hour', j.submit_time) AS DOUBLE) AS f_submit_hour,
    CAST(date_part('dow', j.submit_time) AS DOUBLE) AS f_submit_weekday,
    -- who submits
    j."user" AS cat_user,
    j.account AS cat_account,
    j."partition" AS cat_partition,
    j.qos AS cat_qos,
    -- history as of submit, per entity
    COALESCE(h.user_n, 0) AS f_user_n,
    h.user_mean_log_rt AS f_user_mean_log_rt,
    h.user_median_log_rt AS f_user_median_log_rt,
    h.user_last_rt AS f_user_last_rt,
    h.user_prev_rt AS f_user_prev_rt,
    h.user_mean_ratio AS f_user_mean_ratio,
    h.user_timeout_share AS f_user_timeout_share,
    CAST(h.user_secs_since_last_end AS DOUBLE) AS f_user_secs_since_last_end,
    CAST(h.user_secs_since_prev_submit AS DOUBLE) AS f_user_secs_since_prev_submit,
    COALESCE(h.account_n, 0) AS f_account_n,
    h.account_mean_log_rt AS f_account_mean_log_rt,
    h.account_median_log_rt AS f_account_median_log_rt,
    h.account_last_rt AS f_account_last_rt,
    h.account_prev_rt AS f_account_prev_rt,
    h.account_mean_ratio AS f_account_mean_ratio,
    h.account_timeout_share AS f_account_timeout_share,
    CAST(h.account_secs_since_last_end AS DOUBLE) AS f_account_secs_since_last_end,
    CAST(h.account_secs_since_prev_submit AS DOUBLE) AS f_account_secs_since_prev_submit,
    COALESCE(h.partition_n, 0) AS f_partition_n,
    h.partition_mean_log_rt AS f_partition_mean_log_rt,
    h.partition_median_log_rt AS f_partition_median_log_rt,
    h.partition_last_rt AS f_partition_last_rt,
    h.partition_prev_rt AS f_partition_prev_rt,
    h.partition_mean_ratio AS f_partition_mean_ratio,
    h.partition_timeout_share AS f_partition_timeout_share,
    CAST(h.partition_secs_since_last_end AS DOUBLE) AS f_partition_secs_since_last_end,
    CAST(h.partition_secs_since_prev_submit AS DOUBLE) AS f_partition_secs_since_prev_submit,
    COALESCE(h.user_req_n, 0) AS f_user_req_n,
    h.user_req_mean_log_rt AS f_user_req_mean_log_rt,
    h.user_req_median_log_rt AS f_user_req_median_log_rt,
    h.user_req_last_rt AS f_user_req_last_rt,
    h.user_req_prev_rt AS f_user_req_prev_rt,
    h.user_req_mean_ratio AS f_user_req_mean_ratio,
    h.user_req_timeout_share AS f_user_req_timeout_share,
    CAST(h.user_req_secs_since_last_end AS DOUBLE) AS f_user_req_secs_since_last_end,
    CAST(h.user_req_secs_since_prev_submit AS DOUBLE) AS f_user_req_secs_since_prev_submit,
    COALESCE(h.user_req_size_n, 0) AS f_user_req_size_n,
    h.user_req_size_mean_log_rt AS f_user_req_size_mean_log_rt,
    h.user_req_size_median_log_rt AS f_user_req_size_median_log_rt,
    h.user_req_size_last_rt AS f_user_req_size_last_rt,
    h.user_req_size_prev_rt AS f_user_req_size_prev_rt,
    h.user_req_size_mean_ratio AS f_user_req_size_mean_ratio,
    h.user_req_size_timeout_share AS f_user_req_size_timeout_share,
    CAST(h.user_req_size_secs_since_last_end AS DOUBLE) AS f_user_req_size_secs_since_last_end,
    CAST(h.user_req_size_secs_since_prev_submit AS DOUBLE) AS f_user_req_size_secs_since_prev_submit,
    COALESCE(h.user_name_n, 0) AS f_user_name_n,
    h.user_name_mean_log_rt AS f_user_name_mean_log_rt,
    h.user_name_median_log_rt AS f_user_name_median_log_rt,
    h.user_name_last_rt AS f_user_name_last_rt,
    h.user_name_prev_rt AS f_user_name_prev_rt,
    h.user_name_mean_ratio AS f_user_name_mean_ratio,
    h.user_name_timeout_share AS f_user_name_timeout_share,
    CAST(h.user_name_secs_since_last_end AS DOUBLE) AS f_user_name_secs_since_last_end,
    CAST(h.user_name_secs_since_prev_submit AS DOUBLE) AS f_user_name_secs_since_prev_submit,
    -- the user's and the template's typical use of their request, applied to this request
    ln(1.0 + h.user_mean_ratio * j.wallclock_req_s) AS f_user_ratio_applied_log,
    ln(1.0 + h.user_req_mean_ratio * j.wallclock_req_s) AS f_user_req_ratio_applied_log,
    -- queue at submit
    CAST(COALESCE(q.partition_pending, 0) AS DOUBLE) AS f_partition_pending,
    CAST(COALESCE(q.partition_running, 0) AS DOUBLE) AS f_partition_running,
    CAST(COALESCE(q.user_pending, 0) AS DOUBLE) AS f_user_pending,
    CAST(COALESCE(q.user_running, 0) AS DOUBLE) AS f_user_running,
    -- baselines
    j.wallclock_req_s AS base_user_request_s,
    CASE
        WHEN COALESCE(h.user_n, 0) = 0 THEN j.wallclock_req_s
        ELSE LEAST(
            CASE WHEN h.user_prev_rt IS NULL THEN h.user_last_rt
                 ELSE (h.user_last_rt + h.user_prev_rt) / 2.0 END,
            COALESCE(j.wallclock_req_s, CAST('Infinity' AS DOUBLE)))
    END AS base_last2_s
FROM job_base j
LEFT JOIN hist h ON h.job_key = j.job_key
LEFT JOIN queue q ON q.job_key = j.job_key
