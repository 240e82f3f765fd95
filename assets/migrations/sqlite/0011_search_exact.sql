-- `q=` answered by the index alone (README "Lists at scale"). The trigram index of 0006
-- folded case the Unicode way while `q=` folds ASCII letters only, so each of its candidates
-- had to be re-checked against `keys`. This one indexes the name and id already
-- ASCII-lowercased (SQLite's `lower` folds ASCII only) and compares trigrams exactly, so a
-- phrase match of 3+ characters is exactly the substring match: nothing left to verify.
DROP TRIGGER keys_fts_insert;
DROP TRIGGER keys_fts_update;
DROP TRIGGER keys_fts_delete;
DROP TABLE keys_fts;

-- A row here only inside a bulk import's transaction (`KeyStore::import_keys`): the insert
-- trigger leaves the index alone and the import fills it in one statement before it
-- commits, so no other connection ever sees the flag or a key missing from the index.
CREATE TABLE bulk_import (
    id INTEGER PRIMARY KEY CHECK (id = 1)
);

-- Contentless (only the index; rows are read from `keys`, rowid = keys.seq). Deleting from
-- a contentless table takes the values that were indexed: `lower` of the old row.
CREATE VIRTUAL TABLE keys_q USING fts5(
    name_lc, id_lc, content = '', tokenize = 'trigram case_sensitive 1'
);
INSERT INTO keys_q (rowid, name_lc, id_lc)
    SELECT seq, lower(name), lower(id) FROM keys WHERE deleted_at IS NULL;
CREATE TRIGGER keys_q_insert AFTER INSERT ON keys
WHEN new.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM bulk_import)
BEGIN
    INSERT INTO keys_q (rowid, name_lc, id_lc) VALUES (new.seq, lower(new.name), lower(new.id));
END;
CREATE TRIGGER keys_q_update AFTER UPDATE OF name, id, deleted_at ON keys
WHEN old.name IS NOT new.name OR old.id IS NOT new.id OR old.deleted_at IS NOT new.deleted_at
BEGIN
    INSERT INTO keys_q (keys_q, rowid, name_lc, id_lc)
        SELECT 'delete', old.seq, lower(old.name), lower(old.id) WHERE old.deleted_at IS NULL;
    INSERT INTO keys_q (rowid, name_lc, id_lc)
        SELECT new.seq, lower(new.name), lower(new.id) WHERE new.deleted_at IS NULL;
END;
CREATE TRIGGER keys_q_delete AFTER DELETE ON keys WHEN old.deleted_at IS NULL
BEGIN
    INSERT INTO keys_q (keys_q, rowid, name_lc, id_lc)
        VALUES ('delete', old.seq, lower(old.name), lower(old.id));
END;
