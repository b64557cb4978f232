-- The revocation log: every revocation and every change to a user's email, name or role (or
-- its deletion), in commit order. Instances follow it by `seq`, never by a clock; SQLite has
-- one writer at a time, so `seq` order is commit order.
CREATE TABLE revocation_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
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

-- Whoever changes an account (doorward or an operator with sqlite3), caches hear of it.
CREATE TRIGGER users_changed AFTER UPDATE OF email, name, role ON users FOR EACH ROW
    WHEN OLD.email IS NOT NEW.email OR OLD.name IS NOT NEW.name OR OLD.role IS NOT NEW.role
BEGIN
    INSERT INTO revocation_log (kind, subject, forget_at)
    VALUES ('user', OLD.id,
            CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + 86400000);
END;
CREATE TRIGGER users_deleted AFTER DELETE ON users FOR EACH ROW
BEGIN
    INSERT INTO revocation_log (kind, subject, forget_at)
    VALUES ('user', OLD.id,
            CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + 86400000);
END;
