DROP TRIGGER users_deleted ON users;
DROP TRIGGER users_changed ON users;
DROP FUNCTION doorward_log_user_change();
CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_revoked_at ON revoked_tokens (revoked_at);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);
INSERT INTO revoked_tokens (jti, expires_at, revoked_at)
    SELECT DISTINCT ON (subject) subject, forget_at, 0 FROM revocation_log WHERE kind = 'jti';
DROP TABLE revocation_log;
