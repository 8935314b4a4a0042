-- `session restart`: the agent is told to start the session's process again. A session is still started at most
-- once and stopped at most once; it may be restarted many times, one restart open (unacknowledged) at a time.
ALTER TABLE agent_commands DROP CONSTRAINT agent_commands_kind_check,
    ADD CONSTRAINT agent_commands_kind_check CHECK (kind IN ('start', 'stop', 'restart'));
DROP INDEX agent_commands_once;
CREATE UNIQUE INDEX agent_commands_once ON agent_commands (session_id, kind) WHERE kind IN ('start', 'stop');
CREATE UNIQUE INDEX agent_commands_restart_open ON agent_commands (session_id) WHERE kind = 'restart' AND acked_at IS NULL;
