-- The audit log lists newest first by time (`at`, then `seq` for entries of one millisecond),
-- not by insertion: history written out of order (a backdated import, writes that stamped
-- their time before waiting for the write lock) still reads in time order.
CREATE INDEX audit_org_at ON audit (org_id, at, seq);
CREATE INDEX audit_org_actor_at ON audit (org_id, actor_type, actor_id, at, seq);
