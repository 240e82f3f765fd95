-- Lists and search (README "Lists at scale"): the indexes `GET /v1/keys` reads on
-- PostgreSQL. `q=` is an exact substring test (`LIKE '%…%'` with `%`, `_` and `\` escaped) on
-- ASCII-folded name and id, answered by trigram indexes.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- The secret that seals list cursors (`server::routes::cursor`): written once, at the first
-- start, with 32 bytes from the OS random source (storage/postgres.rs), shared by every
-- instance on the database.
CREATE TABLE cursor_secret (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    secret BYTEA   NOT NULL CHECK (length(secret) = 32)
);

CREATE INDEX keys_q_name ON keys USING gin (kc_ascii_lower(name) gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX keys_q_id ON keys USING gin (kc_ascii_lower(id) gin_trgm_ops)
    WHERE deleted_at IS NULL;

-- Filters in creation order: each status, env and app.
CREATE INDEX keys_list_disabled ON keys (org_id, seq)
    WHERE deleted_at IS NULL AND NOT enabled;
CREATE INDEX keys_list_active ON keys (org_id, seq)
    WHERE deleted_at IS NULL AND enabled AND expires_at IS NULL;
CREATE INDEX keys_list_expiry ON keys (org_id, expires_at)
    WHERE deleted_at IS NULL AND enabled AND expires_at IS NOT NULL;
CREATE INDEX keys_list_env ON keys (org_id, env, seq)
    WHERE deleted_at IS NULL;
CREATE INDEX keys_list_app ON keys (org_id, app_id, seq)
    WHERE deleted_at IS NULL AND app_id IS NOT NULL;

-- `sort=`: name (ASCII case folded, bytewise), last use (never = oldest), expiry (never =
-- latest), each with `seq` as the tie-breaker.
CREATE INDEX keys_sort_name ON keys (org_id, kc_ascii_lower(name), seq)
    WHERE deleted_at IS NULL;
CREATE INDEX keys_sort_last_used ON keys (org_id, COALESCE(last_used_at, -1), seq)
    WHERE deleted_at IS NULL;
CREATE INDEX keys_sort_expires ON keys (org_id, COALESCE(expires_at, 9223372036854775807), seq)
    WHERE deleted_at IS NULL;
