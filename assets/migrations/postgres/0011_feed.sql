-- The change feed (API.md §7, README "Running many instances"); SQLite: 0007_feed.sql.
--
-- Every change of a key that can alter a decision appends one row here, written by a trigger
-- inside the mutation's own transaction. Its number comes from the one-row counter below,
-- updated in the same transaction: the counter's row lock is held until commit, so numbers
-- are dense and commit in order (a rolled-back change gives its number back). An instance
-- that has read up to n has therefore seen every change up to n, which a sequence could not
-- promise (a later number may commit first). Key mutations queue on that one row; they are
-- rare next to verifications, which never write here. Usage flushes, which only move
-- `last_used_at`, write no row.
CREATE TABLE key_change_counter (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    n   BIGINT  NOT NULL
);
INSERT INTO key_change_counter (one, n) VALUES (TRUE, 0);

CREATE TABLE key_changes (
    seq      BIGINT PRIMARY KEY,
    org_id   TEXT COLLATE "C" NOT NULL,
    key_id   TEXT COLLATE "C" NOT NULL,
    -- The secret hashes whose cached entries the change makes stale (both when a secret was
    -- replaced; NULL for a new key).
    old_hash BYTEA,
    new_hash BYTEA  NOT NULL,
    -- The key's version after the change: a cached copy at this version or later already
    -- holds it, so it is not evicted (the maximum when the change took no new version).
    version  BIGINT NOT NULL,
    at       BIGINT NOT NULL
);
CREATE INDEX key_changes_key ON key_changes (key_id, seq);
CREATE INDEX key_changes_org ON key_changes (org_id, seq);
CREATE INDEX key_changes_at ON key_changes (at);

-- Which changes of a row can alter a decision is said once, in the update trigger's WHEN
-- clause below, so the function never runs for a usage flush (which moves only
-- `last_used_at`).
CREATE FUNCTION kc_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    next_seq BIGINT;
    now_ms   BIGINT := (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT;
BEGIN
    UPDATE key_change_counter SET n = n + 1 WHERE one RETURNING n INTO next_seq;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO key_changes (seq, org_id, key_id, old_hash, new_hash, version, at)
        VALUES (next_seq, NEW.org_id, NEW.id, NULL, NEW.secret_hash, NEW.version, now_ms);
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO key_changes (seq, org_id, key_id, old_hash, new_hash, version, at)
        VALUES (next_seq, NEW.org_id, NEW.id, OLD.secret_hash, NEW.secret_hash,
                CASE WHEN NEW.version > OLD.version THEN NEW.version
                     ELSE 9223372036854775807 END, now_ms);
    ELSE
        -- Keys are soft-deleted; a row removed by hand still reaches every instance.
        INSERT INTO key_changes (seq, org_id, key_id, old_hash, new_hash, version, at)
        VALUES (next_seq, OLD.org_id, OLD.id, OLD.secret_hash, OLD.secret_hash,
                9223372036854775807, now_ms);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER key_changes_insert_delete AFTER INSERT OR DELETE ON keys
    FOR EACH ROW EXECUTE FUNCTION kc_key_change();

CREATE TRIGGER key_changes_update AFTER UPDATE ON keys
    FOR EACH ROW
    WHEN (NEW.version IS DISTINCT FROM OLD.version
       OR NEW.enabled IS DISTINCT FROM OLD.enabled
       OR NEW.deleted_at IS DISTINCT FROM OLD.deleted_at
       OR NEW.secret_hash IS DISTINCT FROM OLD.secret_hash
       OR NEW.scopes IS DISTINCT FROM OLD.scopes
       OR NEW.allowed_domains IS DISTINCT FROM OLD.allowed_domains
       OR NEW.expires_at IS DISTINCT FROM OLD.expires_at
       OR NEW.app_id IS DISTINCT FROM OLD.app_id)
    EXECUTE FUNCTION kc_key_change();

-- Every running `serve` process: a heartbeat and the last change it has applied
-- (`GET /v1/instances`). Rows not seen for a day are pruned.
CREATE TABLE instances (
    id             TEXT COLLATE "C" PRIMARY KEY,
    started_at     BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    applied_change BIGINT NOT NULL
);
