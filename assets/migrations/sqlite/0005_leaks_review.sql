-- Leaks and access review (API.md §5, §9, §10).

-- Key fields: who owns a key and what it is for (free text), and when a leak was first
-- reported.
ALTER TABLE keys ADD COLUMN owner TEXT;
ALTER TABLE keys ADD COLUMN description TEXT;
ALTER TABLE keys ADD COLUMN leaked_at INTEGER;

-- `GET /v1/keys?owner=`: exact match, ignoring ASCII case (README "Decisions beyond the
-- contract"), an index probe however many keys the org has.
CREATE INDEX keys_org_owner_field ON keys (org_id, owner COLLATE NOCASE)
    WHERE deleted_at IS NULL;

-- `GET /v1/review`: each kind of finding is one bounded index scan of its own partial index
-- (README "Access review").
CREATE INDEX keys_review_no_owner ON keys (org_id, seq)
    WHERE deleted_at IS NULL AND owner IS NULL;
CREATE INDEX keys_review_last_used ON keys (org_id, last_used_at)
    WHERE deleted_at IS NULL;
CREATE INDEX keys_review_created ON keys (org_id, created_at)
    WHERE deleted_at IS NULL;
CREATE INDEX keys_review_wildcard ON keys (org_id, seq)
    WHERE deleted_at IS NULL AND (instr(scopes, '"*"') > 0 OR instr(scopes, ':*"') > 0);
CREATE INDEX keys_review_test_no_expiry ON keys (org_id, seq)
    WHERE deleted_at IS NULL AND env = 'test' AND expires_at IS NULL;
CREATE INDEX keys_review_leaked ON keys (org_id, seq)
    WHERE deleted_at IS NULL AND leaked_at IS NOT NULL AND enabled = 1;

-- Where and when each leaked key was seen: one row per (key, source); a repeated report of
-- the same place changes nothing.
CREATE TABLE leak_sightings (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id     TEXT    NOT NULL,
    org_id     TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    source     TEXT    NOT NULL,
    actor_type TEXT    NOT NULL,
    actor_id   TEXT    NOT NULL,
    UNIQUE (key_id, source)
);
CREATE INDEX leak_sightings_key_seq ON leak_sightings (key_id, seq);

-- Which required scope each allowed request exercised, per key and UTC day (flushed with the
-- usage batches). `last_used_at` is the latest such request that day.
CREATE TABLE scope_usage (
    key_id       TEXT    NOT NULL,
    org_id       TEXT    NOT NULL,
    day          INTEGER NOT NULL,
    scope        TEXT    NOT NULL,
    requests     INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, day, scope)
) WITHOUT ROWID;
CREATE INDEX scope_usage_org_day ON scope_usage (org_id, day);

-- The audit actor (API.md §5): `{type: key|user|system, id, name?}`. Existing entries are
-- migrated: a key actor from `actor_key_id`; `org recover`'s entries (no actor key, `"via":
-- "org recover"` in their changes); every other entry without an actor key was written by
-- `org create`. The append-only trigger is lifted for this one migration only.
ALTER TABLE audit ADD COLUMN actor_type TEXT;
ALTER TABLE audit ADD COLUMN actor_id TEXT;
ALTER TABLE audit ADD COLUMN actor_name TEXT;
DROP TRIGGER audit_no_update;
UPDATE audit SET actor_type = 'key', actor_id = actor_key_id WHERE actor_key_id IS NOT NULL;
UPDATE audit SET actor_type = 'system', actor_id = 'org recover'
    WHERE actor_key_id IS NULL AND json_valid(changes)
    AND json_extract(changes, '$.via') = 'org recover';
UPDATE audit SET actor_type = 'system', actor_id = 'org create' WHERE actor_type IS NULL;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE INDEX audit_org_actor_seq ON audit (org_id, actor_type, actor_id, seq);
