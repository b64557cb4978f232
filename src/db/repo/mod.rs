//! Every query doorward makes, as plain synchronous functions on
//! `DbConn`, verb first: accounts in [`users`], sign-in and rotation in
//! [`sessions`], revocations and the log other instances follow in [`revocations`], WebSocket
//! tickets in [`tickets`], sign-in throttling in [`sign_in_attempts`], mailed links in
//! [`mail_tokens`], the audit log in [`audit`].
//!
//! Write transactions begin with a write to the user's row ([`users::lock_user`]): on
//! PostgreSQL that row lock serializes rotation and "log out everywhere" per user (contract
//! §2); on SQLite a transaction whose first statement writes takes the write lock at once
//! (waiting under `busy_timeout`), so it can never fail later trying to upgrade a stale read
//! snapshot.

pub mod audit;
pub mod mail_tokens;
pub mod revocations;
pub mod sessions;
pub mod sign_in_attempts;
pub mod tickets;
pub mod users;

pub use audit::{insert_audit_events, list_audit_events, purge_audit_events};
pub use mail_tokens::{
    NewMailToken, insert_mail_token, mail_token_since, purge_mail_tokens, purpose, reset_password,
    verify_email,
};
pub use revocations::{
    Revocation, SessionChoice, database_clock_ms, disable_user, purge_expired, read_log,
    replace_password, revoke, revoke_all_sessions, revoke_sessions_of,
};
pub use sessions::{
    FamilyStart, Rotation, RotationRules, create_account, find_family_of_refresh_token,
    find_session_owner, list_sessions, rotate_refresh_token, start_family,
};
pub use sign_in_attempts::{
    AttemptRules, AttemptVerdict, claim_attempt, purge_attempts, record_success,
};
pub use tickets::{insert_ticket, redeem_ticket};
pub use users::{
    find_user_by_email, find_user_by_id, set_disabled, set_email_verified, set_role,
    update_password_hash,
};
