-- The revocation log: every revocation and every change to a user's email, name or role (or
-- its deletion), in commit order. Instances follow it by `seq`, never by a clock. Every writer
-- takes the advisory lock 1685024626 (`door`, see src/db/repo/revocations.rs) before its
-- insert and holds it until commit, so sequence order is commit order.
CREATE TABLE revocation_log (
    seq BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('jti', 'family', 'cutoff', 'user')),
    subject TEXT NOT NULL,
    value BIGINT NOT NULL DEFAULT 0,
    forget_at BIGINT NOT NULL
);
CREATE INDEX revocation_log_forget_at ON revocation_log (forget_at);

-- What was revoked before the log existed. A revoked family or a cut-off is kept a day: the
-- lifetime of the access tokens it refuses is not known here (ACCESS_TOKEN_TTL is 15 min by
-- default).
INSERT INTO revocation_log (kind, subject, forget_at)
    SELECT 'jti', jti, expires_at FROM revoked_tokens ORDER BY revoked_at;
INSERT INTO revocation_log (kind, subject, forget_at)
    SELECT 'family', id, revoked_at + 86400000 FROM refresh_families
    WHERE revoked_at IS NOT NULL ORDER BY revoked_at;
INSERT INTO revocation_log (kind, subject, value, forget_at)
    SELECT 'cutoff', id, tokens_valid_after, tokens_valid_after * 1000 + 86400000 FROM users
    WHERE tokens_valid_after > 0;
DROP TABLE revoked_tokens;

-- Whoever changes an account (doorward or an operator with psql), caches hear of it.
CREATE FUNCTION doorward_log_user_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1685024626);
    INSERT INTO revocation_log (kind, subject, forget_at)
    VALUES ('user', OLD.id, (extract(epoch FROM clock_timestamp()) * 1000)::bigint + 86400000);
    RETURN NULL;
END
$$;
CREATE TRIGGER users_changed AFTER UPDATE ON users FOR EACH ROW
    WHEN (OLD.email IS DISTINCT FROM NEW.email
          OR OLD.name IS DISTINCT FROM NEW.name
          OR OLD.role IS DISTINCT FROM NEW.role)
    EXECUTE FUNCTION doorward_log_user_change();
CREATE TRIGGER users_deleted AFTER DELETE ON users FOR EACH ROW
    EXECUTE FUNCTION doorward_log_user_change();
