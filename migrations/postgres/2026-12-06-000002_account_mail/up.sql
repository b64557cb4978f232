-- Email verification and password reset (issue 13). `email_verified_at` and `disabled_at`
-- are Unix ms (NULL: not verified / not disabled). The user-change trigger now also fires for
-- them, so every instance's user cache drops the account when either changes.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
DROP TRIGGER users_changed ON users;
CREATE TRIGGER users_changed AFTER UPDATE ON users FOR EACH ROW
    WHEN (OLD.email IS DISTINCT FROM NEW.email
          OR OLD.name IS DISTINCT FROM NEW.name
          OR OLD.role IS DISTINCT FROM NEW.role
          OR OLD.email_verified_at IS DISTINCT FROM NEW.email_verified_at
          OR OLD.disabled_at IS DISTINCT FROM NEW.disabled_at)
    EXECUTE FUNCTION doorward_log_user_change();
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
