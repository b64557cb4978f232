-- The audit log (issue 13): one row per security event, never a secret. `at` is Unix ms;
-- `user_id` outlives its account (no foreign key), so deleting a user keeps its history until
-- the retention (`DOORWARD_AUDIT_RETENTION`) purges it.
CREATE TABLE audit_events (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT,
    session_id TEXT,
    ip TEXT,
    user_agent TEXT,
    detail TEXT
);
CREATE INDEX audit_events_user_id ON audit_events (user_id, id);
CREATE INDEX audit_events_at ON audit_events (at);
