-- vfolders on storage volumes, and durable background tasks with their event logs.

CREATE TABLE vfolders (
    id             uuid PRIMARY KEY,
    host           text NOT NULL CHECK (length(host) BETWEEN 1 AND 128),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    domain_name    text NOT NULL REFERENCES domains (name),
    usage_mode     text NOT NULL DEFAULT 'general' CHECK (usage_mode IN ('general', 'model', 'data')),
    permission     text NOT NULL DEFAULT 'rw' CHECK (permission IN ('ro', 'rw', 'wd')),
    ownership_type text NOT NULL CHECK (ownership_type IN ('user', 'group')),
    user_uuid      uuid REFERENCES users (uuid) ON DELETE CASCADE,
    group_id       uuid REFERENCES groups (id) ON DELETE CASCADE,
    creator        text NOT NULL,
    cloneable      boolean NOT NULL DEFAULT false,
    status         text NOT NULL DEFAULT 'ready'
                   CHECK (status IN ('ready', 'performing', 'cloning', 'mounted', 'error', 'delete-pending',
                                     'delete-ongoing', 'delete-complete', 'delete-error')),
    status_history jsonb NOT NULL DEFAULT '{}',
    status_changed timestamptz NOT NULL DEFAULT now(),
    num_files      bigint NOT NULL DEFAULT 0,
    cur_size       bigint NOT NULL DEFAULT 0,  -- bytes
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used      timestamptz,
    CHECK ((ownership_type = 'user') = (user_uuid IS NOT NULL)),
    CHECK ((ownership_type = 'group') = (group_id IS NOT NULL))
);
-- A folder name is unique per owner among folders that are not being deleted (as Backend.AI's DEAD statuses).
CREATE UNIQUE INDEX vfolders_live_user_name ON vfolders (user_uuid, name)
    WHERE ownership_type = 'user' AND status NOT LIKE 'delete-%';
CREATE UNIQUE INDEX vfolders_live_group_name ON vfolders (group_id, name)
    WHERE ownership_type = 'group' AND status NOT LIKE 'delete-%';
CREATE INDEX vfolders_by_group ON vfolders (group_id) WHERE group_id IS NOT NULL;

-- Which live sessions mount which folders is read from sessions.vfolder_mounts ([{"id": …}, …]).
CREATE INDEX sessions_live_mounts ON sessions USING gin (vfolder_mounts jsonb_path_ops)
    WHERE status NOT IN ('TERMINATED', 'CANCELLED', 'ERROR');

CREATE TABLE background_tasks (
    id               uuid PRIMARY KEY,
    kind             text NOT NULL,
    access_key       text NOT NULL REFERENCES keypairs (access_key) ON DELETE CASCADE,
    status           text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
    current_progress double precision NOT NULL DEFAULT 0,
    total_progress   double precision NOT NULL DEFAULT 0,
    message          text NOT NULL DEFAULT '',
    params           jsonb NOT NULL DEFAULT '{}',
    replica          text NOT NULL,            -- the replica that runs it (or cleans it up)
    lease_until      timestamptz NOT NULL,     -- renewed by that replica; past it, another replica takes over
    cancel_requested boolean NOT NULL DEFAULT false,
    last_seq         integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX background_tasks_running_lease ON background_tasks (lease_until) WHERE status = 'running';
CREATE INDEX background_tasks_by_owner ON background_tasks (access_key, created_at DESC);

-- Every event a task's stream shows, numbered per task (the SSE id), so a client resumes exactly.
CREATE TABLE background_task_events (
    task_id          uuid NOT NULL REFERENCES background_tasks (id) ON DELETE CASCADE,
    seq              integer NOT NULL,
    name             text NOT NULL CHECK (name IN ('bgtask_updated', 'bgtask_done', 'bgtask_failed', 'bgtask_cancelled')),
    message          text NOT NULL DEFAULT '',
    current_progress double precision NOT NULL DEFAULT 0,
    total_progress   double precision NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, seq)
);
