-- The change feed (API.md §7, README "Running many instances").
--
-- Every change of a key that can alter a decision appends one row here, written by these
-- triggers inside the mutation's own transaction, so a committed change always has its row
-- and a rolled-back one never does. `seq` is the change's number (`x-keyconsole-change`):
-- SQLite has one writer at a time, so rows commit in `seq` order and an instance that has
-- read up to n has seen every change up to n. Usage flushes, which only move
-- `last_used_at`, write no row.
CREATE TABLE key_changes (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id   TEXT    NOT NULL,
    key_id   TEXT    NOT NULL,
    -- The secret hashes whose cached entries the change makes stale (both, when a secret
    -- was replaced; NULL for a new key).
    old_hash BLOB,
    new_hash BLOB    NOT NULL,
    -- The key's version after the change: a cached copy at this version or later already
    -- holds it (every change takes a new version), so it is not evicted.
    version  INTEGER NOT NULL,
    at       INTEGER NOT NULL
);
CREATE INDEX key_changes_key ON key_changes (key_id, seq);
CREATE INDEX key_changes_org ON key_changes (org_id, seq);
CREATE INDEX key_changes_at ON key_changes (at);

CREATE TRIGGER key_changes_insert AFTER INSERT ON keys
BEGIN
    INSERT INTO key_changes (org_id, key_id, old_hash, new_hash, version, at)
    VALUES (NEW.org_id, NEW.id, NULL, NEW.secret_hash, NEW.version,
            CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER key_changes_update AFTER UPDATE ON keys
WHEN NEW.version IS NOT OLD.version
  OR NEW.enabled IS NOT OLD.enabled
  OR NEW.deleted_at IS NOT OLD.deleted_at
  OR NEW.secret_hash IS NOT OLD.secret_hash
  OR NEW.scopes IS NOT OLD.scopes
  OR NEW.allowed_domains IS NOT OLD.allowed_domains
  OR NEW.expires_at IS NOT OLD.expires_at
  OR NEW.app_id IS NOT OLD.app_id
BEGIN
    INSERT INTO key_changes (org_id, key_id, old_hash, new_hash, version, at)
    VALUES (NEW.org_id, NEW.id, OLD.secret_hash, NEW.secret_hash,
            CASE WHEN NEW.version > OLD.version THEN NEW.version ELSE 9223372036854775807 END,
            CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

-- Every running `serve` process: a heartbeat and the last change it has applied
-- (`GET /v1/instances`). Rows not seen for a day are pruned.
CREATE TABLE instances (
    id             TEXT    PRIMARY KEY,
    started_at     INTEGER NOT NULL,
    last_seen_at   INTEGER NOT NULL,
    applied_change INTEGER NOT NULL
) WITHOUT ROWID;

-- Keys are soft-deleted; a row removed by hand still reaches every instance.
CREATE TRIGGER key_changes_delete AFTER DELETE ON keys
BEGIN
    INSERT INTO key_changes (org_id, key_id, old_hash, new_hash, version, at)
    VALUES (OLD.org_id, OLD.id, OLD.secret_hash, OLD.secret_hash, 9223372036854775807,
            CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
