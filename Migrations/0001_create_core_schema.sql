-- Core schema: tenancy (domains, groups, users, keypairs, resource policies), scaling groups, agents,
-- sessions and their dependencies. Later migrations add their own tables; this file is never edited.

CREATE TABLE domains (
    name        text PRIMARY KEY,
    description text NOT NULL DEFAULT '',
    is_active   boolean NOT NULL DEFAULT true,
    total_resource_slots jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE keypair_resource_policies (
    name                    text PRIMARY KEY,
    max_concurrent_sessions integer NOT NULL DEFAULT 0 CHECK (max_concurrent_sessions >= 0), -- 0: unlimited
    total_resource_slots    jsonb NOT NULL DEFAULT '{}',                                      -- {} : unlimited
    created_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE groups (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    domain_name text NOT NULL REFERENCES domains (name),
    description text NOT NULL DEFAULT '',
    is_active   boolean NOT NULL DEFAULT true,
    total_resource_slots jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (domain_name, name)
);

CREATE TABLE users (
    uuid        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email       text NOT NULL UNIQUE,
    username    text NOT NULL,
    domain_name text NOT NULL REFERENCES domains (name),
    role        text NOT NULL DEFAULT 'user' CHECK (role IN ('superadmin', 'admin', 'user', 'monitor')),
    is_active   boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE group_members (
    group_id uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  uuid NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE keypairs (
    access_key      text PRIMARY KEY,
    secret_key      text NOT NULL,
    user_id         uuid NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    is_admin        boolean NOT NULL DEFAULT false,
    is_active       boolean NOT NULL DEFAULT true,
    resource_policy text NOT NULL DEFAULT 'default' REFERENCES keypair_resource_policies (name),
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used       timestamptz
);
CREATE INDEX keypairs_user_id ON keypairs (user_id);

CREATE TABLE scaling_groups (
    name              text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    description       text NOT NULL DEFAULT '',
    is_active         boolean NOT NULL DEFAULT true,
    is_public         boolean NOT NULL DEFAULT true,
    driver            text NOT NULL DEFAULT 'static',
    driver_opts       jsonb NOT NULL DEFAULT '{}',
    scheduler         text NOT NULL DEFAULT 'fifo',
    scheduler_opts    jsonb NOT NULL DEFAULT '{}',
    use_host_network  boolean NOT NULL DEFAULT false,
    wsproxy_addr      text,
    wsproxy_api_token text,
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agents (
    id              text PRIMARY KEY,
    scaling_group   text NOT NULL REFERENCES scaling_groups (name) ON UPDATE CASCADE,
    status          text NOT NULL DEFAULT 'ALIVE' CHECK (status IN ('ALIVE', 'LOST', 'TERMINATED')),
    schedulable     boolean NOT NULL DEFAULT true,
    architecture    text NOT NULL DEFAULT 'x86_64',
    available_slots jsonb NOT NULL DEFAULT '{}',
    occupied_slots  jsonb NOT NULL DEFAULT '{}',
    addr            text NOT NULL DEFAULT '',
    version         text NOT NULL DEFAULT '',
    first_contact   timestamptz NOT NULL DEFAULT now(),
    last_heartbeat  timestamptz NOT NULL DEFAULT now(),
    lost_at         timestamptz
);
CREATE INDEX agents_scaling_group ON agents (scaling_group, status);

CREATE TABLE sessions (
    id                 uuid PRIMARY KEY,
    creation_id        text NOT NULL DEFAULT '',
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    session_type       text NOT NULL DEFAULT 'interactive'
                       CHECK (session_type IN ('interactive', 'batch', 'inference', 'system')),
    cluster_mode       text NOT NULL DEFAULT 'single-node',
    cluster_size       integer NOT NULL DEFAULT 1,
    domain_name        text NOT NULL REFERENCES domains (name),
    group_id           uuid NOT NULL REFERENCES groups (id),
    user_uuid          uuid NOT NULL REFERENCES users (uuid),
    access_key         text NOT NULL REFERENCES keypairs (access_key),
    scaling_group_name text REFERENCES scaling_groups (name) ON UPDATE CASCADE,
    agent_id           text REFERENCES agents (id),
    image              text NOT NULL,
    architecture       text NOT NULL DEFAULT 'x86_64',
    tag                text,
    requested_slots    jsonb NOT NULL DEFAULT '{}',
    occupying_slots    jsonb NOT NULL DEFAULT '{}',
    resource_opts      jsonb NOT NULL DEFAULT '{}',
    vfolder_mounts     jsonb NOT NULL DEFAULT '[]',
    environ            jsonb NOT NULL DEFAULT '{}',
    bootstrap_script   text,
    startup_command    text,
    callback_url       text,
    starts_at          timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    terminated_at      timestamptz,
    status             text NOT NULL DEFAULT 'PENDING'
                       CHECK (status IN ('PENDING', 'SCHEDULED', 'PULLING', 'PREPARING', 'RUNNING', 'RESTARTING',
                                         'RUNNING_DEGRADED', 'TERMINATING', 'TERMINATED', 'ERROR', 'CANCELLED')),
    status_info        text,
    status_data        jsonb NOT NULL DEFAULT '{}',
    status_history     jsonb NOT NULL DEFAULT '{}',
    status_changed     timestamptz NOT NULL DEFAULT now(),
    result             text NOT NULL DEFAULT 'UNDEFINED' CHECK (result IN ('UNDEFINED', 'SUCCESS', 'FAILURE')),
    exit_code          integer
);
-- A live session name is unique per owner, as in Backend.AI (dead = TERMINATED or CANCELLED).
CREATE UNIQUE INDEX sessions_live_name ON sessions (access_key, name)
    WHERE status NOT IN ('TERMINATED', 'CANCELLED');
CREATE INDEX sessions_pending_by_group ON sessions (scaling_group_name, created_at) WHERE status = 'PENDING';
CREATE INDEX sessions_by_status ON sessions (status, created_at DESC);
CREATE INDEX sessions_by_owner ON sessions (access_key, created_at DESC);
CREATE INDEX sessions_by_agent ON sessions (agent_id) WHERE agent_id IS NOT NULL;

CREATE TABLE session_dependencies (
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    depends_on uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    PRIMARY KEY (session_id, depends_on),
    CHECK (session_id <> depends_on)
);
CREATE INDEX session_dependencies_depends_on ON session_dependencies (depends_on);

-- The rows every fresh installation starts with.
INSERT INTO domains (name, description) VALUES ('default', 'The default domain');
INSERT INTO keypair_resource_policies (name) VALUES ('default');
INSERT INTO groups (name, domain_name, description) VALUES ('default', 'default', 'The default project');
INSERT INTO scaling_groups (name, description) VALUES ('default', 'The default scaling group');
