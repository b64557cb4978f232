DROP TABLE revoked_tokens;
DROP TABLE refresh_tokens;
DROP TABLE refresh_families;
DROP TABLE users;
