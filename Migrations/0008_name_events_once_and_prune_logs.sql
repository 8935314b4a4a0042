-- Event names live in one place, SchedulerKit's `SessionEventName`: webhooks receive every event whose name
-- starts with `session_` (`SessionEventName.isWebhookEvent`), for callbacks as for endpoints, so the trigger no
-- longer lists names of its own.
CREATE OR REPLACE FUNCTION enqueue_webhook_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    queued integer;
BEGIN
    WITH targets AS (
        SELECT e.id AS event_id, e.name, e.created_at, s.id AS session_id, s.name AS session_name, s.status,
               s.status_info, s.result, s.exit_code, s.scaling_group_name, 'callback'::text AS target, s.callback_url AS url
        FROM new_events e JOIN sessions s ON s.id = e.session_id
        WHERE s.callback_url IS NOT NULL
          AND e.name LIKE 'session\_%'
        UNION ALL
        SELECT e.id, e.name, e.created_at, s.id, s.name, s.status, s.status_info, s.result, s.exit_code,
               s.scaling_group_name, 'endpoint:' || w.name, w.url
        FROM new_events e JOIN sessions s ON s.id = e.session_id
        JOIN webhook_endpoints w ON w.active
             AND (e.name = ANY (w.events) OR (cardinality(w.events) = 0 AND e.name LIKE 'session\_%'))
    ), numbered AS (
        SELECT gen_random_uuid() AS id, t.* FROM targets t ORDER BY t.event_id, t.target
    )
    INSERT INTO webhook_deliveries (id, target, url, session_id, event, payload)
    SELECT n.id, n.target, n.url, n.session_id, n.name,
           jsonb_build_object(
               'type', 'session_lifecycle',
               'event', regexp_replace(n.name, '^session_', ''),
               'session_id', n.session_id,
               'when', to_char(n.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
               'session_name', n.session_name,
               'status', n.status,
               'status_info', n.status_info,
               'result', n.result,
               'exit_code', n.exit_code,
               'scaling_group', n.scaling_group_name,
               'delivery_id', n.id)
    FROM numbered n
    ORDER BY n.event_id, n.target;
    GET DIAGNOSTICS queued = ROW_COUNT;
    IF queued > 0 THEN
        PERFORM pg_notify('webhook_deliveries', '');
    END IF;
    RETURN NULL;
END
$$;


-- Retention (`RetentionService`) prunes the append-only logs by age in small batches; BRIN indexes find the old
-- rows at almost no cost to inserts. `retention_marks` remembers how far each log was pruned, so a stream that
-- resumes from an id older than that is told its events are gone instead of silently missing them.
CREATE INDEX events_by_age ON events USING brin (created_at);
CREATE INDEX background_task_events_by_age ON background_task_events USING brin (created_at);
CREATE INDEX webhook_attempts_by_age ON webhook_attempts USING brin (started_at);
CREATE INDEX webhook_deliveries_delivered ON webhook_deliveries (finished_at) WHERE status = 'delivered';
CREATE INDEX sessions_ended_by_age ON sessions (terminated_at) WHERE terminated_at IS NOT NULL;

CREATE TABLE retention_marks (
    log         text PRIMARY KEY,
    pruned_upto bigint NOT NULL DEFAULT 0,   -- every row with an id at or below this may be gone
    pruned_rows bigint NOT NULL DEFAULT 0,
    last_run    timestamptz NOT NULL DEFAULT now()
);

-- One order over every task's events, so one reader per replica (`EventBroadcaster`) follows all of them with one
-- cursor, as it follows `events`.
ALTER TABLE background_task_events ADD COLUMN id bigserial;
CREATE UNIQUE INDEX background_task_events_by_id ON background_task_events (id);
