-- The session list pages newest first across statuses (an admin's `session list`, the CLI's `ps`): with this index
-- a page reads about limit ÷ (share of matching rows) index entries instead of sorting every matching row.
CREATE INDEX sessions_by_creation ON sessions (created_at DESC, id);
