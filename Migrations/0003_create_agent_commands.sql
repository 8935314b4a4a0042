-- Commands the manager sends to agents, the scheduler's per-group state, and session logs.

-- A command stays until the agent acknowledges it, so a restart of either side loses nothing. A session is
-- started at most once and stopped at most once: the unique index makes a second start impossible even if two
-- schedulers raced.
CREATE TABLE agent_commands (
    id          bigserial PRIMARY KEY,
    agent_id    text NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('start', 'stop')),
    payload     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    acked_at    timestamptz
);
CREATE UNIQUE INDEX agent_commands_once ON agent_commands (session_id, kind);
CREATE INDEX agent_commands_open ON agent_commands (agent_id, id) WHERE acked_at IS NULL;

-- Where round-robin agent selection continues, and when the group was last scheduled.
CREATE TABLE scheduler_state (
    scaling_group      text PRIMARY KEY REFERENCES scaling_groups (name) ON UPDATE CASCADE ON DELETE CASCADE,
    round_robin_cursor integer NOT NULL DEFAULT 0,
    last_pass          timestamptz
);

-- The tail of each session's stdout/stderr as its agent reported it (at most 1 MiB is kept), and how many
-- bytes of the output have been received, so a chunk delivered twice is stored once.
CREATE TABLE session_logs (
    session_id     uuid PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    content        text NOT NULL DEFAULT '',
    reported_bytes bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Occupancy is derived from the sessions that hold slots on an agent.
CREATE INDEX sessions_active_by_agent ON sessions (agent_id)
    WHERE status IN ('SCHEDULED', 'PULLING', 'PREPARING', 'RUNNING', 'RESTARTING', 'RUNNING_DEGRADED', 'TERMINATING');
CREATE INDEX sessions_active_by_owner ON sessions (access_key)
    WHERE status IN ('SCHEDULED', 'PULLING', 'PREPARING', 'RUNNING', 'RESTARTING', 'RUNNING_DEGRADED', 'TERMINATING');
