-- State of the installation that every replica shares: the manager status (`running` or `frozen`: a frozen
-- installation refuses new sessions and folders, as Backend.AI's `ServerFrozen`) and the announcement the CLI shows.
-- Replicas read it through a one-second cache (`Services/ManagerState`).
CREATE TABLE manager_state (
    key        text PRIMARY KEY CHECK (key IN ('status', 'announcement')),
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO manager_state (key, value) VALUES
    ('status', '"running"'),
    ('announcement', '{"enabled": false, "message": ""}');
