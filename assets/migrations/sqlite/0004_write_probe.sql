-- One row that `/readyz` rewrites, only after a write failed, to learn whether writes work
-- again (a full disk freed, a lock released) without waiting for real traffic.
CREATE TABLE write_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
);
