DROP TABLE mail_tokens;
DROP TRIGGER users_changed;
CREATE TRIGGER users_changed AFTER UPDATE OF email, name, role ON users FOR EACH ROW
    WHEN OLD.email IS NOT NEW.email OR OLD.name IS NOT NEW.name OR OLD.role IS NOT NEW.role
BEGIN
    INSERT INTO revocation_log (kind, subject, forget_at)
    VALUES ('user', OLD.id,
            CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + 86400000);
END;
ALTER TABLE users DROP COLUMN disabled_at;
ALTER TABLE users DROP COLUMN email_verified_at;
