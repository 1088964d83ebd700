-- queue_state: every queue as of the end of the data, i.e. what a job
-- submitted after the last recorded event would see. Published in the model
-- bundle with history_state; `last_event_s` tells servers which later
-- events are new to it. Materialised.
SELECT
    scope_kind,
    scope_key,
    SUM(d_pending) AS pending,
    SUM(d_running) AS running,
    MAX(t) AS last_event_s
FROM queue_events
GROUP BY scope_kind, scope_key
