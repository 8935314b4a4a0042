-- File operations on a running session's work folder (`session upload|download|ls`), carried to the session's
-- agent over the sync channel: the API call queues a request here and wakes the agent (`agent_commands`); the
-- agent answers in a later sync, which stores the result and notifies `session_file_results` with the id; the
-- waiting call (on any replica) reads the result and deletes the row. Payloads are bounded by the API (uploads of
-- at most 20 files of 1 MiB, downloads of at most 16 MiB of tar), so a row stays small. Rows nobody came back
-- for (the caller gave up) are pruned by the retention service.
CREATE TABLE session_file_requests (
    id          bigserial PRIMARY KEY,
    agent_id    text NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    request     jsonb NOT NULL,
    result      jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    answered_at timestamptz
);
CREATE INDEX session_file_requests_open ON session_file_requests (agent_id, id) WHERE answered_at IS NULL;
