-- Lists at a million keys on PostgreSQL (README "Lists at scale"): the same bounds as SQLite,
-- and bulk imports that do not pay the change feed's per-row trigger.

-- `status=expiring` / `expired` in creation order (the expiry test is checked on each row).
CREATE INDEX keys_list_expiring ON keys (org_id, seq)
    WHERE deleted_at IS NULL AND enabled AND expires_at IS NOT NULL;
-- `owner=` in creation order (0001's owner index orders equal owners by heap position, so
-- a page or a total had to fetch and sort every key of the owner).
CREATE INDEX keys_list_owner ON keys (org_id, kc_ascii_lower(owner), seq)
    WHERE deleted_at IS NULL;

-- `q=` of 3+ characters: the seqs of an organization's live keys whose ASCII-lowercased name
-- or id is LIKE `pattern` (an exact substring pattern), at most `n` of them. The planner
-- settings leave it only the trigram GIN indexes (0010): estimating a trigram match's
-- selectivity is guesswork, and a wrong guess walks the whole organization for a string no
-- key holds.
CREATE FUNCTION kc_q_seqs(org TEXT, pattern TEXT, n BIGINT) RETURNS SETOF BIGINT
    LANGUAGE sql STABLE PARALLEL SAFE ROWS 100
    SET enable_seqscan = off
    SET enable_indexscan = off
    SET enable_indexonlyscan = off
    AS $$
        SELECT seq FROM keys
        WHERE org_id = org COLLATE "C" AND deleted_at IS NULL
          AND (kc_ascii_lower(name) LIKE pattern OR kc_ascii_lower(id) LIKE pattern)
        LIMIT n
    $$;

-- Inserts skip the per-row change trigger inside a bulk import (`KeyStore::import_keys` sets
-- `keyconsole.bulk_import` for its transaction only and writes the same feed rows itself, a
-- batch at a time, with one notification). Deletes keep their trigger.
DROP TRIGGER key_changes_insert_delete ON keys;
CREATE TRIGGER key_changes_insert AFTER INSERT ON keys
    FOR EACH ROW
    WHEN (current_setting('keyconsole.bulk_import', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION kc_key_change();
CREATE TRIGGER key_changes_delete AFTER DELETE ON keys
    FOR EACH ROW EXECUTE FUNCTION kc_key_change();
