-- Hints for the change feed (README "Running many instances"): every row appended to
-- `key_changes` also sends a NOTIFY on `keyconsole_key_changes` with its number, delivered
-- when the mutation commits. Each instance LISTENs and reads the new rows at once instead of
-- at its next poll. A hint is only a hint: notifications are lost while a listener is
-- reconnecting, so the feed still polls `key_changes`, and the rows stay the truth.
CREATE OR REPLACE FUNCTION kc_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    next_seq BIGINT;
    now_ms   BIGINT := (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT;
BEGIN
    UPDATE key_change_counter SET n = n + 1 WHERE one RETURNING n INTO next_seq;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO key_changes (seq, org_id, key_id, old_hash, new_hash, version, at)
        VALUES (next_seq, NEW.org_id, NEW.id, NULL, NEW.secret_hash, NEW.version, now_ms);
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO key_changes (seq, org_id, key_id, old_hash, new_hash, version, at)
        VALUES (next_seq, NEW.org_id, NEW.id, OLD.secret_hash, NEW.secret_hash,
                CASE WHEN NEW.version > OLD.version THEN NEW.version
                     ELSE 9223372036854775807 END, now_ms);
    ELSE
        -- Keys are soft-deleted; a row removed by hand still reaches every instance.
        INSERT INTO key_changes (seq, org_id, key_id, old_hash, new_hash, version, at)
        VALUES (next_seq, OLD.org_id, OLD.id, OLD.secret_hash, OLD.secret_hash,
                9223372036854775807, now_ms);
    END IF;
    -- Delivered at commit, to every instance listening; dropped on rollback.
    PERFORM pg_notify('keyconsole_key_changes', next_seq::text);
    RETURN NULL;
END
$$;
