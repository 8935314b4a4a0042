-- Images imported with `manager image import NAME:TAG PATH`: a root filesystem in the agent's image store. Sessions
-- of a registered image run on it; with [agent.local] require_images = true, enqueue refuses any other image.
CREATE TABLE images (
    name          text NOT NULL,          -- everything before the tag: `python`, `cr.backend.ai/stable/python`
    tag           text NOT NULL,
    architecture  text NOT NULL DEFAULT 'x86_64',
    registry      text NOT NULL DEFAULT 'local',
    digest        text NOT NULL DEFAULT '',
    size_bytes    bigint NOT NULL DEFAULT 0,
    labels        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, tag, architecture)
);

-- What a session used, as its agent measured it from the session's cgroups (Backend.AI's stat shape:
-- {"cpu_used": {"current": ms}, "mem": {"current": bytes, "capacity": limit, "stats.max": peak}}): updated while it
-- runs (live_stat) and kept when it ends (last_stat).
ALTER TABLE sessions ADD COLUMN last_stat jsonb;
