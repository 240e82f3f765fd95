-- List indexes that answer their residual filters themselves (README "Lists at scale"), as
-- SQLite's migration 0012 does. A page with two filters walks the first one's index and
-- checks the others on every row it examines (up to the scan budget); with those columns in
-- the index (`INCLUDE`) the walk is an index-only scan, so examining 10,000 keys reads one
-- index range instead of 10,000 scattered heap rows. Same names, same keys and order, so
-- plans are unchanged. `deleted_at` and the index's own condition need no column: the
-- planner treats a partial index's condition as given.
DROP INDEX keys_list_disabled;
CREATE INDEX keys_list_disabled ON keys (org_id, seq) INCLUDE (env, app_id)
    WHERE deleted_at IS NULL AND NOT enabled;
DROP INDEX keys_list_active;
CREATE INDEX keys_list_active ON keys (org_id, seq) INCLUDE (env, app_id)
    WHERE deleted_at IS NULL AND enabled AND expires_at IS NULL;
DROP INDEX keys_list_expiring;
CREATE INDEX keys_list_expiring ON keys (org_id, seq) INCLUDE (expires_at, env, app_id)
    WHERE deleted_at IS NULL AND enabled AND expires_at IS NOT NULL;
DROP INDEX keys_list_expiry;
CREATE INDEX keys_list_expiry ON keys (org_id, expires_at) INCLUDE (env, app_id)
    WHERE deleted_at IS NULL AND enabled AND expires_at IS NOT NULL;
DROP INDEX keys_list_env;
CREATE INDEX keys_list_env ON keys (org_id, env, seq) INCLUDE (enabled, expires_at, app_id)
    WHERE deleted_at IS NULL;
DROP INDEX keys_list_app;
CREATE INDEX keys_list_app ON keys (org_id, app_id, seq) INCLUDE (enabled, expires_at, env)
    WHERE deleted_at IS NULL AND app_id IS NOT NULL;

-- The sort indexes, likewise: a page with `sort=` other than by creation walks that sort's
-- index and checks `q` and any list filter on every row it examines. Where the matches
-- cluster far along the order (`q=billing&sort=name`: every name beginning with a word
-- before "billing" comes first) that was thousands of heap reads for one page. With the
-- name, id and list columns included (and the column under the sort's expression, which the
-- planner needs to recompute it), the walk is an index-only scan.
DROP INDEX keys_sort_name;
CREATE INDEX keys_sort_name ON keys (org_id, kc_ascii_lower(name), seq)
    INCLUDE (name, id, enabled, expires_at, env, app_id)
    WHERE deleted_at IS NULL;
DROP INDEX keys_sort_last_used;
CREATE INDEX keys_sort_last_used ON keys (org_id, COALESCE(last_used_at, -1), seq)
    INCLUDE (last_used_at, name, id, enabled, expires_at, env, app_id)
    WHERE deleted_at IS NULL;
DROP INDEX keys_sort_expires;
CREATE INDEX keys_sort_expires ON keys (org_id, COALESCE(expires_at, 9223372036854775807), seq)
    INCLUDE (expires_at, name, id, enabled, env, app_id)
    WHERE deleted_at IS NULL;
