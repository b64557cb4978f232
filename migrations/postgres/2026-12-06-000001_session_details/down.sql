ALTER TABLE refresh_families DROP COLUMN last_used_at;
ALTER TABLE refresh_families DROP COLUMN client_ip;
ALTER TABLE refresh_families DROP COLUMN user_agent;
