-- Durable webhooks: every session event row (written in the transaction of its status change) fans out, in that
-- same transaction, to one delivery per destination: the session's callback_url and each configured endpoint
-- that subscribes to the event. Dispatchers on any replica send them, in order per session and destination.

-- The configured endpoints (written by each replica at start from [[webhooks]]; secrets stay in the config).
CREATE TABLE webhook_endpoints (
    name       text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    url        text NOT NULL,
    events     text[] NOT NULL DEFAULT '{}',   -- empty: every session_* event
    active     boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    seq              bigserial UNIQUE,             -- creation order: deliveries of a session go out in it
    target           text NOT NULL,                -- 'callback' or 'endpoint:<name>'
    url              text NOT NULL,
    session_id       uuid,
    event            text NOT NULL,
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead', 'refused')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,                  -- a dispatcher is sending it until then
    leased_by        text,
    last_error       text,
    last_status_code integer,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_pending_order ON webhook_deliveries (session_id, target, seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (created_at DESC);

CREATE TABLE webhook_attempts (
    delivery_id     uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt         integer NOT NULL,
    started_at      timestamptz NOT NULL,
    duration_ms     integer NOT NULL,
    status_code     integer,
    error           text,
    response_prefix text,                          -- at most the first KiB of the response body
    PRIMARY KEY (delivery_id, attempt)
);

CREATE FUNCTION enqueue_webhook_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    queued integer;
BEGIN
    WITH targets AS (
        SELECT e.id AS event_id, e.name, e.created_at, s.id AS session_id, s.name AS session_name, s.status,
               s.status_info, s.result, s.exit_code, s.scaling_group_name, 'callback'::text AS target, s.callback_url AS url
        FROM new_events e JOIN sessions s ON s.id = e.session_id
        WHERE s.callback_url IS NOT NULL
          AND e.name IN ('session_enqueued', 'session_scheduled', 'session_preparing', 'session_started',
                         'session_cancelled', 'session_terminating', 'session_terminated', 'session_success',
                         'session_failure')
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

CREATE TRIGGER events_enqueue_webhooks AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION enqueue_webhook_deliveries();
