-- The durable event log: every session status change writes a row here in the same transaction.
-- SSE streams read it by id (resuming with Last-Event-ID); Redis only carries wake-ups.

CREATE TABLE events (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    session_id   uuid,
    session_name text,
    access_key   text,
    reason       text NOT NULL DEFAULT '',
    exit_code    integer,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_by_session ON events (session_id, id) WHERE session_id IS NOT NULL;
CREATE INDEX events_by_owner ON events (access_key, id);
