ALTER TABLE refresh_tokens DROP COLUMN parent_hash;
ALTER TABLE refresh_tokens DROP COLUMN grace_sibling;
