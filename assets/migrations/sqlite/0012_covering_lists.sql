-- List indexes that answer their residual filters themselves (README "Lists at scale"). A
-- page with two filters walks the first one's index and checks the others on every row it
-- examines (up to the scan budget); when those columns are in the index, SQLite checks them
-- without reading the table row, so examining 10,000 keys costs one index range instead of
-- 10,000 scattered table reads. Same names, same order (`seq` within the organization), so
-- plans are unchanged; `deleted_at` and `enabled` are columns too because SQLite does not
-- treat a partial index's own condition as covered.
DROP INDEX keys_list_disabled;
CREATE INDEX keys_list_disabled ON keys (org_id, seq, deleted_at, enabled, env, app_id)
    WHERE deleted_at IS NULL AND enabled = 0;
DROP INDEX keys_list_active;
CREATE INDEX keys_list_active ON keys (org_id, seq, deleted_at, enabled, expires_at, env, app_id)
    WHERE deleted_at IS NULL AND enabled = 1 AND expires_at IS NULL;
DROP INDEX keys_list_expiring;
CREATE INDEX keys_list_expiring
    ON keys (org_id, seq, deleted_at, enabled, expires_at, env, app_id)
    WHERE deleted_at IS NULL AND enabled = 1 AND expires_at IS NOT NULL;
DROP INDEX keys_list_app;
CREATE INDEX keys_list_app ON keys (org_id, app_id, seq, deleted_at, enabled, expires_at, env)
    WHERE deleted_at IS NULL AND app_id IS NOT NULL;
DROP INDEX keys_count_expiry;
CREATE INDEX keys_count_expiry ON keys (org_id, expires_at, deleted_at, enabled, env)
    WHERE deleted_at IS NULL AND enabled = 1 AND expires_at IS NOT NULL;
