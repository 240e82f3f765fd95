-- Sort indexes that answer the filters checked on their walk (README "Lists at scale"). A
-- page with `sort=` other than by creation walks that sort's index and checks `q` and any
-- list filter on every row it examines (up to the scan budget); where the matches cluster
-- far along the order (`q=billing&sort=name`: every name beginning with a word before
-- "billing" comes first), that was thousands of scattered table reads for one page. With
-- the name, id and list columns in the index the check reads the index alone. Same names,
-- same order, so plans are unchanged; `deleted_at` is a column because SQLite does not
-- treat a partial index's own condition as covered (as in 0012).
DROP INDEX keys_sort_name;
CREATE INDEX keys_sort_name
    ON keys (org_id, name COLLATE NOCASE, seq, deleted_at, id, enabled, expires_at, env, app_id)
    WHERE deleted_at IS NULL;
DROP INDEX keys_sort_last_used;
CREATE INDEX keys_sort_last_used
    ON keys (org_id, ifnull(last_used_at, -1), seq, deleted_at, name, id, enabled, expires_at,
             env, app_id)
    WHERE deleted_at IS NULL;
DROP INDEX keys_sort_expires;
CREATE INDEX keys_sort_expires
    ON keys (org_id, ifnull(expires_at, 9223372036854775807), seq, deleted_at, name, id,
             enabled, expires_at, env, app_id)
    WHERE deleted_at IS NULL;
