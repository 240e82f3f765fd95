-- An auth event may stand for several denied requests: the excess of one (org, code, client
-- address) in one minute is stored as one event with its `count` (README "Auth events").
ALTER TABLE auth_events ADD COLUMN count INTEGER NOT NULL DEFAULT 1;

-- Owner keys (enabled, not deleted, not bound to an app, holding `*`): the lock-out guard
-- asks whether an organization has another one inside every disable, delete, expiry or
-- scope change, so that question is an index probe however many keys the org has.
CREATE INDEX keys_org_owner ON keys (org_id)
    WHERE deleted_at IS NULL AND enabled = 1 AND app_id IS NULL AND instr(scopes, '"*"') > 0;
