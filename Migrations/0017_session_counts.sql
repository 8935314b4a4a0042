-- Sessions counted by owner and status, kept exact by triggers, so a list's total_count (what every `ps` asks
-- for) costs a few rows instead of a scan of every matching session.
--
-- A change never updates a shared counter row (two transactions enqueueing for one key would queue on its lock
-- until the first commits): it appends a delta in its own transaction. `compact_session_counts()` folds the
-- deltas into `session_counts` now and then; a count reads both tables in one snapshot, so it is exact at every
-- moment, before and after a compaction.
CREATE TABLE session_counts (
    access_key text NOT NULL,
    status     text NOT NULL,
    n          bigint NOT NULL,
    PRIMARY KEY (access_key, status)
);

CREATE TABLE session_count_deltas (
    id         bigserial PRIMARY KEY,
    access_key text NOT NULL,
    status     text NOT NULL,
    delta      bigint NOT NULL
);

INSERT INTO session_counts (access_key, status, n)
SELECT access_key, status, count(*) FROM sessions GROUP BY access_key, status;

-- New and deleted rows: one delta per owner and status per statement (an enqueue batch is one statement).
CREATE FUNCTION session_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO session_count_deltas (access_key, status, delta)
    SELECT access_key, status, count(*) FROM new_rows GROUP BY access_key, status;
    RETURN NULL;
END $$;

CREATE FUNCTION session_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO session_count_deltas (access_key, status, delta)
    SELECT access_key, status, -count(*) FROM old_rows GROUP BY access_key, status;
    RETURN NULL;
END $$;

-- A changed status (or owner): a row-level trigger that fires only when one of them changed, so the frequent
-- updates of stats, activity and waiting reasons cost nothing here.
CREATE FUNCTION session_counts_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO session_count_deltas (access_key, status, delta)
    VALUES (OLD.access_key, OLD.status, -1), (NEW.access_key, NEW.status, 1);
    RETURN NULL;
END $$;

CREATE TRIGGER sessions_count_insert AFTER INSERT ON sessions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION session_counts_inserted();
CREATE TRIGGER sessions_count_delete AFTER DELETE ON sessions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION session_counts_deleted();
CREATE TRIGGER sessions_count_update AFTER UPDATE OF status, access_key ON sessions
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.access_key IS DISTINCT FROM NEW.access_key)
    EXECUTE FUNCTION session_counts_moved();

-- Folds the deltas into the counters; returns how many it folded. One compaction at a time (an advisory lock
-- taken for the transaction: another replica's call returns 0 at once).
CREATE FUNCTION compact_session_counts() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    folded bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('session_counts')) THEN
        RETURN 0;
    END IF;
    WITH moved AS (
        DELETE FROM session_count_deltas RETURNING access_key, status, delta
    ), summed AS (
        SELECT access_key, status, sum(delta) AS n, count(*) AS folded_rows FROM moved GROUP BY access_key, status
    ), upserted AS (
        INSERT INTO session_counts (access_key, status, n)
        SELECT access_key, status, n FROM summed
        ON CONFLICT (access_key, status) DO UPDATE SET n = session_counts.n + EXCLUDED.n
    )
    SELECT coalesce(sum(folded_rows), 0) INTO folded FROM summed;
    DELETE FROM session_counts WHERE n = 0;
    RETURN folded;
END $$;
