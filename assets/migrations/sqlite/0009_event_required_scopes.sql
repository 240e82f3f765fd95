-- The scopes a request refused with insufficient_scope needed (space-separated; NULL for
-- any other refusal), so a support lookup of its request id names the missing scope.
ALTER TABLE auth_events ADD COLUMN required_scopes TEXT;
