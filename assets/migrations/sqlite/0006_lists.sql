-- Lists and search at a million keys (README "Lists at scale"): `GET /v1/keys` pages, totals
-- and `q=` each read one index range, never the whole organization.

-- The secret that seals list cursors (`server::routes::cursor`): random, made once with the
-- database (SQLite's `randomblob` reads the OS random source), shared by every process.
CREATE TABLE cursor_secret (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    secret BLOB    NOT NULL CHECK (length(secret) = 32)
);
INSERT INTO cursor_secret (id, secret) VALUES (1, randomblob(32));

-- `q=`: trigram index of every live key's name and id (case folded), rowid = keys.seq.
-- Contentless: it holds only the index; candidates are checked against `keys` (an exact
-- substring test) before they are returned. Triggers keep it exact inside the transaction
-- of every insert, rename, rotation and delete.
CREATE VIRTUAL TABLE keys_fts USING fts5(
    key_name, key_id, content = '', tokenize = 'trigram case_sensitive 0'
);
INSERT INTO keys_fts (rowid, key_name, key_id)
    SELECT seq, name, id FROM keys WHERE deleted_at IS NULL;
CREATE TRIGGER keys_fts_insert AFTER INSERT ON keys WHEN new.deleted_at IS NULL
BEGIN
    INSERT INTO keys_fts (rowid, key_name, key_id) VALUES (new.seq, new.name, new.id);
END;
CREATE TRIGGER keys_fts_update AFTER UPDATE OF name, id, deleted_at ON keys
BEGIN
    INSERT INTO keys_fts (keys_fts, rowid, key_name, key_id)
        SELECT 'delete', old.seq, old.name, old.id WHERE old.deleted_at IS NULL;
    INSERT INTO keys_fts (rowid, key_name, key_id)
        SELECT new.seq, new.name, new.id WHERE new.deleted_at IS NULL;
END;
CREATE TRIGGER keys_fts_delete AFTER DELETE ON keys WHEN old.deleted_at IS NULL
BEGIN
    INSERT INTO keys_fts (keys_fts, rowid, key_name, key_id)
        VALUES ('delete', old.seq, old.name, old.id);
END;

-- Filters in creation order (every index ends in the rowid, `seq`): each status, env and
-- app. `owner=` reads `keys_org_owner_field` (0005).
CREATE INDEX keys_list_disabled ON keys (org_id)
    WHERE deleted_at IS NULL AND enabled = 0;
CREATE INDEX keys_list_active ON keys (org_id)
    WHERE deleted_at IS NULL AND enabled = 1 AND expires_at IS NULL;
CREATE INDEX keys_list_expiring ON keys (org_id)
    WHERE deleted_at IS NULL AND enabled = 1 AND expires_at IS NOT NULL;
CREATE INDEX keys_list_env ON keys (org_id, env)
    WHERE deleted_at IS NULL;
CREATE INDEX keys_list_app ON keys (org_id, app_id)
    WHERE deleted_at IS NULL AND app_id IS NOT NULL;
-- Counts of `expiring` and `expired`: a range on either side of now.
CREATE INDEX keys_count_expiry ON keys (org_id, expires_at)
    WHERE deleted_at IS NULL AND enabled = 1 AND expires_at IS NOT NULL;

-- `sort=`: name (ASCII case folded), last use (never = oldest), expiry (never = latest).
CREATE INDEX keys_sort_name ON keys (org_id, name COLLATE NOCASE)
    WHERE deleted_at IS NULL;
CREATE INDEX keys_sort_last_used ON keys (org_id, ifnull(last_used_at, -1))
    WHERE deleted_at IS NULL;
CREATE INDEX keys_sort_expires ON keys (org_id, ifnull(expires_at, 9223372036854775807))
    WHERE deleted_at IS NULL;
