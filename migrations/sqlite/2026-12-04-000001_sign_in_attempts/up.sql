-- Sign-in attempts per account and client address (issue 10): shared by every instance, so an
-- attacker cannot spread guesses over them. `account_key` is the SHA-256 of the canonical email
-- as typed, whether or not the account exists, so throttling tells nobody which emails are
-- registered. `client` is the IP address (an IPv6 client by its /64). `attempts` counts the
-- attempts since `window_started_at` that have not (yet) succeeded; `succeeded_at` marks a
-- client this account has signed in from, which the account-wide backstop lets through.
CREATE TABLE sign_in_attempts (
    account_key TEXT NOT NULL,
    client TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    window_started_at BIGINT NOT NULL,
    succeeded_at BIGINT,
    PRIMARY KEY (account_key, client)
);
CREATE INDEX sign_in_attempts_window_started_at ON sign_in_attempts (window_started_at);
