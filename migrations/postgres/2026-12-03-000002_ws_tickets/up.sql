-- Single-use WebSocket tickets (POST /auth/ws-ticket): the SHA-256 of the ticket, the access
-- claims it was issued under (JSON), and its end (Unix ms, 30 s after issue). Stored, so a
-- ticket issued by one instance is redeemed once by any.
CREATE TABLE ws_tickets (
    ticket_hash TEXT PRIMARY KEY NOT NULL,
    claims TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ws_tickets_expires_at ON ws_tickets (expires_at);
