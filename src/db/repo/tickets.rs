//! WebSocket tickets: stored at issue, consumed once at redemption.

use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::schema::ws_tickets;

/// Stores a ticket's hash with the access claims (JSON) it stands for, until `expires_at`.
pub fn insert_ticket(
    conn: &mut DbConn,
    hash: &str,
    claims_json: &str,
    expires_at: i64,
) -> QueryResult<()> {
    diesel::insert_into(ws_tickets::table)
        .values((
            ws_tickets::ticket_hash.eq(hash),
            ws_tickets::claims.eq(claims_json),
            ws_tickets::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(drop)
}

/// Consumes the ticket: its claims if it existed, had not expired and nobody consumed it
/// first. Of two redemptions at once only one deletes the row, so only one gets the claims.
/// The transaction begins with a write, as every write transaction here does (see the module
/// docs), so on SQLite the second redemption waits for the first instead of failing busy.
pub fn redeem_ticket(conn: &mut DbConn, hash: &str, now_ms: i64) -> QueryResult<Option<String>> {
    conn.transaction(|conn| {
        diesel::update(ws_tickets::table.find(hash))
            .set(ws_tickets::expires_at.eq(ws_tickets::expires_at))
            .execute(conn)?;
        let found = ws_tickets::table
            .find(hash)
            .filter(ws_tickets::expires_at.gt(now_ms))
            .select(ws_tickets::claims)
            .first::<String>(conn)
            .optional()?;
        let consumed = diesel::delete(ws_tickets::table.find(hash)).execute(conn)?;
        Ok(found.filter(|_| consumed == 1))
    })
}

/// Deletes expired tickets; the number deleted.
pub fn purge_tickets(conn: &mut DbConn, now_ms: i64) -> QueryResult<usize> {
    diesel::delete(ws_tickets::table.filter(ws_tickets::expires_at.le(now_ms))).execute(conn)
}
