-- keyconsole schema, SQLite. Times are Unix milliseconds (UTC). `seq` orders lists
-- (newest first) and backs the opaque cursors.

CREATE TABLE orgs (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE apps (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    org_id     TEXT    NOT NULL REFERENCES orgs(id),
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX apps_org_seq ON apps (org_id, seq);

CREATE TABLE keys (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT    NOT NULL UNIQUE,
    org_id          TEXT    NOT NULL REFERENCES orgs(id),
    name            TEXT    NOT NULL,
    env             TEXT    NOT NULL CHECK (env IN ('live', 'test')),
    app_id          TEXT    REFERENCES apps(id),
    scopes          TEXT    NOT NULL,          -- JSON array of strings
    allowed_domains TEXT    NOT NULL,          -- JSON array of strings
    enabled         INTEGER NOT NULL,
    secret_hash     BLOB    NOT NULL UNIQUE,   -- SHA-256 of the secret; the secret is never stored
    secret_hint     TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    expires_at      INTEGER,
    last_used_at    INTEGER,
    rotated_from    TEXT,
    rotated_to      TEXT,
    version         INTEGER NOT NULL,
    deleted_at      INTEGER
);
CREATE INDEX keys_org_seq ON keys (org_id, seq);

-- Counters per key and bucket. Every flush adds to the minute, hour and day rows at once.
CREATE TABLE usage (
    key_id       TEXT    NOT NULL,
    org_id       TEXT    NOT NULL,
    bucket       TEXT    NOT NULL CHECK (bucket IN ('minute', 'hour', 'day')),
    start        INTEGER NOT NULL,
    ok           INTEGER NOT NULL DEFAULT 0,
    unauthorized INTEGER NOT NULL DEFAULT 0,
    forbidden    INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, bucket, start)
) WITHOUT ROWID;
CREATE INDEX usage_org_bucket_start ON usage (org_id, bucket, start);
CREATE INDEX usage_bucket_start ON usage (bucket, start);

-- Denied decisions (401/403/429). Bounded per org; see README "Retention".
CREATE TABLE auth_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT    NOT NULL,
    org_id     TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    key_id     TEXT,
    code       TEXT    NOT NULL,
    status     INTEGER NOT NULL,
    method     TEXT    NOT NULL,
    path       TEXT    NOT NULL,
    ip         TEXT    NOT NULL,
    origin     TEXT,
    app_id     TEXT
);
CREATE INDEX auth_events_org_seq ON auth_events (org_id, seq);
CREATE INDEX auth_events_request ON auth_events (request_id);

-- Append-only: nothing updates or deletes rows here.
CREATE TABLE audit (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    org_id       TEXT    NOT NULL,
    at           INTEGER NOT NULL,
    actor_key_id TEXT,
    action       TEXT    NOT NULL,
    key_id       TEXT,
    changes      TEXT    NOT NULL
);
CREATE INDEX audit_org_seq ON audit (org_id, seq);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
