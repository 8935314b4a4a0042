-- `session create --assign-agent A,B` (`config.agentList`, admins only): the session is placed only on one of these
-- agents (Backend.AI's designated agents). Empty: any agent of its scaling group.
ALTER TABLE sessions ADD COLUMN designated_agents text[] NOT NULL DEFAULT '{}';
