-- Tenants: keypair resource policies as Backend.AI has them, per-keypair rate limits, session activity for idle
-- timeouts, private scaling groups through domain/project associations, and agent identities.

-- Backend.AI's keypair_resource_policies columns. NULL pending limits mean "no limit" (Backend.AI's nullable
-- columns); 0 means unlimited for the others, as for max_concurrent_sessions.
ALTER TABLE keypair_resource_policies
    ADD COLUMN default_for_unspecified            text NOT NULL DEFAULT 'UNLIMITED'
        CHECK (default_for_unspecified IN ('LIMITED', 'UNLIMITED')),
    ADD COLUMN max_session_lifetime               integer NOT NULL DEFAULT 0 CHECK (max_session_lifetime >= 0),
    ADD COLUMN max_concurrent_sftp_sessions       integer NOT NULL DEFAULT 0 CHECK (max_concurrent_sftp_sessions >= 0),
    ADD COLUMN max_containers_per_session         integer NOT NULL DEFAULT 1 CHECK (max_containers_per_session >= 0),
    ADD COLUMN idle_timeout                       bigint  NOT NULL DEFAULT 0 CHECK (idle_timeout >= 0),
    ADD COLUMN max_vfolder_count                  integer NOT NULL DEFAULT 0 CHECK (max_vfolder_count >= 0),
    ADD COLUMN max_vfolder_size                   bigint  NOT NULL DEFAULT 0 CHECK (max_vfolder_size >= 0),
    ADD COLUMN max_pending_session_count          integer CHECK (max_pending_session_count >= 0),
    ADD COLUMN max_pending_session_resource_slots jsonb,
    ADD COLUMN allowed_vfolder_hosts              jsonb NOT NULL DEFAULT '{}';

-- Requests per rolling 15-minute window (Backend.AI's keypairs.rate_limit).
ALTER TABLE keypairs ADD COLUMN rate_limit integer NOT NULL DEFAULT 30000 CHECK (rate_limit > 0);

-- The last time the session did something: an API request naming it, or CPU use its agent reported.
-- `idle_timeout` measures from here.
ALTER TABLE sessions ADD COLUMN last_activity timestamptz;
-- Signs this session's callback_url deliveries instead of webhook_delivery.callback_secret, when given at create.
ALTER TABLE sessions ADD COLUMN callback_secret text;
CREATE INDEX sessions_live_by_owner ON sessions (access_key)
    WHERE status NOT IN ('TERMINATED', 'CANCELLED', 'ERROR');

-- Private scaling groups (is_public = false) are usable only through these (Backend.AI's sgroups_for_domains /
-- sgroups_for_groups).
CREATE TABLE sgroups_for_domains (
    scaling_group text NOT NULL REFERENCES scaling_groups (name) ON UPDATE CASCADE ON DELETE CASCADE,
    domain        text NOT NULL REFERENCES domains (name) ON UPDATE CASCADE ON DELETE CASCADE,
    PRIMARY KEY (scaling_group, domain)
);
CREATE TABLE sgroups_for_groups (
    scaling_group text NOT NULL REFERENCES scaling_groups (name) ON UPDATE CASCADE ON DELETE CASCADE,
    group_id      uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (scaling_group, group_id)
);

-- One credential per remote agent (`manager agent-token create`): only the SHA-256 of the token is kept. A sync
-- must present the token of exactly this id; `epoch` is the fence taken at join (a second process joining as the
-- same id gets a newer epoch and the older one is refused from then on).
CREATE TABLE agent_tokens (
    agent_id      text PRIMARY KEY CHECK (length(agent_id) BETWEEN 1 AND 64),
    token_sha256  text NOT NULL UNIQUE,
    scaling_group text NOT NULL REFERENCES scaling_groups (name) ON UPDATE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
ALTER TABLE agents ADD COLUMN epoch bigint NOT NULL DEFAULT 0;
