-- What "your sessions" shows (issue 13): where a session began and when it was last used.
-- `user_agent` (at most 256 characters) and `client_ip` are as doorward saw them at the
-- sign-in; `last_used_at` is the last refresh rotation (Unix ms), NULL until the first.
-- Sessions started before this migration show none of them.
ALTER TABLE refresh_families ADD COLUMN user_agent TEXT;
ALTER TABLE refresh_families ADD COLUMN client_ip TEXT;
ALTER TABLE refresh_families ADD COLUMN last_used_at BIGINT;
