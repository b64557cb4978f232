-- Email verification and password reset (issue 13). `email_verified_at` and `disabled_at`
-- are Unix ms (NULL: not verified / not disabled). The user-change trigger now also fires for
-- them, so every instance's user cache drops the account when either changes.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
DROP TRIGGER users_changed;
CREATE TRIGGER users_changed AFTER UPDATE OF email, name, role, email_verified_at, disabled_at ON users FOR EACH ROW
    WHEN OLD.email IS NOT NEW.email OR OLD.name IS NOT NEW.name OR OLD.role IS NOT NEW.role
      OR OLD.email_verified_at IS NOT NEW.email_verified_at OR OLD.disabled_at IS NOT NEW.disabled_at
BEGIN
    INSERT INTO revocation_log (kind, subject, forget_at)
    VALUES ('user', OLD.id,
            CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + 86400000);
END;
-- Single-use links sent by mail, stored only as SHA-256 hashes. `purpose` is `verify` or
-- `reset`; a token is spent by deleting its row, in the transaction that reads it.
CREATE TABLE mail_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX mail_tokens_expires_at ON mail_tokens (expires_at);
CREATE INDEX mail_tokens_user_id ON mail_tokens (user_id);
