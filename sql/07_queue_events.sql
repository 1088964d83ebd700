-- queue_events: how each job changes the queue of its partition and of its
-- user. +1 pending at submit; at start, -1 pending and +1 running; at end,
-- -1 running (or -1 pending if it never started). A scope kind is an entity
-- kind of job_entities, keyed by the same `<kind>_key`. Executed as a view.
CREATE VIEW queue_events AS
WITH scopes AS (
    SELECT job_key, 'partition' AS scope_kind, partition_key AS scope_key, submit_s, start_s, end_s
    FROM job_entities WHERE partition_key IS NOT NULL
    UNION ALL
    SELECT job_key, 'user', user_key, submit_s, start_s, end_s
    FROM job_entities WHERE user_key IS NOT NULL
)
SELECT scope_kind, scope_key, job_key, submit_s AS t, 1 AS d_pending, 0 AS d_running FROM scopes
UNION ALL
SELECT scope_kind, scope_key, job_key, start_s, -1, 1 FROM scopes WHERE start_s IS NOT NULL
UNION ALL
SELECT scope_kind, scope_key, job_key, end_s, 0, -1
FROM scopes WHERE start_s IS NOT NULL AND end_s IS NOT NULL
UNION ALL
SELECT scope_kind, scope_key, job_key, end_s, -1, 0
FROM scopes WHERE start_s IS NULL AND end_s IS NOT NULL
