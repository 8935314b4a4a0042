-- Account edits an operator makes through the CLI (`admin user update|delete|purge`, `admin group
-- add|update|delete|purge|add-users|remove-users`, `admin domain add|update|delete|purge`).

-- The keypair a user's clients use by default (`--main-access-key`); without one, their oldest keypair.
ALTER TABLE users ADD COLUMN main_access_key text REFERENCES keypairs (access_key) ON DELETE SET NULL;

-- What the CLI shows and sets on projects and domains.
ALTER TABLE groups
    ADD COLUMN integration_id text,
    ADD COLUMN modified_at    timestamptz NOT NULL DEFAULT now();
ALTER TABLE domains
    ADD COLUMN integration_id text,
    ADD COLUMN modified_at    timestamptz NOT NULL DEFAULT now();

-- Renaming a domain (`modify_domain(props: {name})`) carries every row that names it.
ALTER TABLE groups DROP CONSTRAINT groups_domain_name_fkey,
    ADD CONSTRAINT groups_domain_name_fkey FOREIGN KEY (domain_name) REFERENCES domains (name) ON UPDATE CASCADE;
ALTER TABLE users DROP CONSTRAINT users_domain_name_fkey,
    ADD CONSTRAINT users_domain_name_fkey FOREIGN KEY (domain_name) REFERENCES domains (name) ON UPDATE CASCADE;
ALTER TABLE sessions DROP CONSTRAINT sessions_domain_name_fkey,
    ADD CONSTRAINT sessions_domain_name_fkey FOREIGN KEY (domain_name) REFERENCES domains (name) ON UPDATE CASCADE;
ALTER TABLE vfolders DROP CONSTRAINT vfolders_domain_name_fkey,
    ADD CONSTRAINT vfolders_domain_name_fkey FOREIGN KEY (domain_name) REFERENCES domains (name) ON UPDATE CASCADE;
