DROP TRIGGER revocation_log_notify ON revocation_log;
DROP FUNCTION doorward_notify_revocations();
