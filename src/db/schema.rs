//! Diesel's view of the tables: portable column types (TEXT, BIGINT) shared by both backends.
//! Times are Unix milliseconds, except `users.tokens_valid_after` (whole seconds, like `iat`).

diesel::table! {
    /// Registered accounts.
    users (id) {
        id -> Text,
        email -> Text,
        name -> Nullable<Text>,
        role -> Text,
        password_hash -> Text,
        created_at -> BigInt,
        tokens_valid_after -> BigInt,
        email_verified_at -> Nullable<BigInt>,
        disabled_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// One family per sign-in: every rotation of its refresh token stays in it.
    refresh_families (id) {
        id -> Text,
        user_id -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        user_agent -> Nullable<Text>,
        client_ip -> Nullable<Text>,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Refresh tokens, stored only as SHA-256 hashes.
    refresh_tokens (token_hash) {
        token_hash -> Text,
        family_id -> Text,
        user_id -> Text,
        issued_at -> BigInt,
        expires_at -> BigInt,
        rotated_at -> Nullable<BigInt>,
        replaced_by -> Nullable<Text>,
        grace_sibling -> Nullable<Text>,
        parent_hash -> Nullable<Text>,
    }
}

diesel::table! {
    /// Every revocation and user change, in commit order: what other instances follow.
    revocation_log (seq) {
        seq -> BigInt,
        kind -> Text,
        subject -> Text,
        value -> BigInt,
        forget_at -> BigInt,
    }
}

diesel::table! {
    /// Single-use WebSocket tickets, by hash.
    ws_tickets (ticket_hash) {
        ticket_hash -> Text,
        claims -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    /// Sign-in attempts per account (hashed email) and client address, for throttling.
    sign_in_attempts (account_key, client) {
        account_key -> Text,
        client -> Text,
        attempts -> Integer,
        window_started_at -> BigInt,
        succeeded_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Single-use links sent by mail (verification, password reset), by hash.
    mail_tokens (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        purpose -> Text,
        email -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        at -> BigInt,
        kind -> Text,
        user_id -> Nullable<Text>,
        session_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        detail -> Nullable<Text>,
    }
}

diesel::joinable!(refresh_families -> users (user_id));
diesel::joinable!(refresh_tokens -> refresh_families (family_id));
diesel::allow_tables_to_appear_in_same_query!(
    audit_events,
    users,
    refresh_families,
    refresh_tokens,
    revocation_log,
    ws_tickets,
    sign_in_attempts,
    mail_tokens
);
