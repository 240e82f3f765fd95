-- Sessions (API.md §8): a denied session's auth event names its user (`sub`) when the
-- token's signature was valid. Key events leave it NULL.
ALTER TABLE auth_events ADD COLUMN user_sub TEXT;
