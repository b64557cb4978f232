-- Every statement that adds to the revocation log (doorward's own writes, the users trigger, an
-- operator's SQL) wakes the instances that LISTEN, at its commit: they then read the log after
-- the last seq they merged, as their periodic sync does. The payload is empty: what changed is
-- always read from the log, so a notification lost or coalesced costs nothing but delay.
CREATE FUNCTION doorward_notify_revocations() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('doorward_revocations', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER revocation_log_notify
    AFTER INSERT ON revocation_log
    FOR EACH STATEMENT EXECUTE FUNCTION doorward_notify_revocations();
