-- Times are Unix milliseconds (BIGINT) in both backends, so comparisons are exact and portable;
-- users.tokens_valid_after is in whole seconds because it is compared with a JWT's `iat`.
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE,
    name TEXT,
    role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    tokens_valid_after BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX users_tokens_valid_after ON users (tokens_valid_after);

CREATE TABLE refresh_families (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX refresh_families_user_id ON refresh_families (user_id);
CREATE INDEX refresh_families_revoked_at ON refresh_families (revoked_at);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    rotated_at BIGINT,
    replaced_by TEXT
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_revoked_at ON revoked_tokens (revoked_at);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);
