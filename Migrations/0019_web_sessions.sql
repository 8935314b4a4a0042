-- Sign-ins of the web view (`/ui/`): the browser holds a random token in an HttpOnly cookie; only its SHA-256 is
-- stored, so a copy of this table signs no one in. Each row carries the CSRF token its page must send with every
-- state-changing request. Rows end at `expires_at`, at sign-out, and with their keypair.
CREATE TABLE web_sessions (
    token_hash  text PRIMARY KEY,  -- hex SHA-256 of the cookie token
    access_key  text NOT NULL REFERENCES keypairs (access_key) ON DELETE CASCADE,
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

CREATE INDEX web_sessions_by_key ON web_sessions (access_key, created_at);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
