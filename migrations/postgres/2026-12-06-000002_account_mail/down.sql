DROP TABLE mail_tokens;
DROP TRIGGER users_changed ON users;
CREATE TRIGGER users_changed AFTER UPDATE ON users FOR EACH ROW
    WHEN (OLD.email IS DISTINCT FROM NEW.email
          OR OLD.name IS DISTINCT FROM NEW.name
          OR OLD.role IS DISTINCT FROM NEW.role)
    EXECUTE FUNCTION doorward_log_user_change();
ALTER TABLE users DROP COLUMN disabled_at;
ALTER TABLE users DROP COLUMN email_verified_at;
