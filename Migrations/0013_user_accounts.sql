-- Accounts an operator manages through the CLI (`admin user add`, `admin keypair add|list|info|delete`): the user
-- fields Backend.AI's `users` table has and the CLI shows, and a password hash (PBKDF2-SHA256, `Accounts/PasswordHash`;
-- never returned by any query). Users made by `manager keypair create` have no password.
ALTER TABLE users
    ADD COLUMN password_hash        text,
    ADD COLUMN full_name            text NOT NULL DEFAULT '',
    ADD COLUMN description          text NOT NULL DEFAULT '',
    ADD COLUMN status               text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'deleted', 'before-verification')),
    ADD COLUMN need_password_change boolean NOT NULL DEFAULT false,
    ADD COLUMN modified_at          timestamptz NOT NULL DEFAULT now();
