-- Sessions (API.md §8): a denied session's auth event names its user (`sub`) when the
-- token's signature was valid. Key events leave it NULL. (SQLite: 0008_session_events.sql.)
ALTER TABLE auth_events ADD COLUMN user_sub TEXT;
