//! The audit log: security events appended as they happen, read back newest first, purged
//! past the retention.

use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::models::{AuditRow, NewAuditEvent};
use crate::db::schema::audit_events;

/// Appends events, in one transaction.
pub fn insert_audit_events(conn: &mut DbConn, events: &[NewAuditEvent<'_>]) -> QueryResult<()> {
    conn.transaction(|conn| {
        // One statement per row: Diesel's batch insert is not available on a
        // `MultiConnection`.
        for event in events {
            diesel::insert_into(audit_events::table)
                .values(event)
                .execute(conn)?;
        }
        Ok(())
    })
}

/// Up to `limit` events of `user_id` (every user's with `None`), newest first, older than
/// the event `before` when given.
pub fn list_audit_events(
    conn: &mut DbConn,
    user_id: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    let mut query = audit_events::table
        .order(audit_events::id.desc())
        .limit(limit)
        .select(AuditRow::as_select())
        .into_boxed();
    if let Some(user_id) = user_id {
        query = query.filter(audit_events::user_id.eq(user_id));
    }
    if let Some(before) = before {
        query = query.filter(audit_events::id.lt(before));
    }
    query.load(conn)
}

/// Deletes the events recorded before `older_than` (Unix ms); how many.
pub fn purge_audit_events(conn: &mut DbConn, older_than: i64) -> QueryResult<usize> {
    diesel::delete(audit_events::table.filter(audit_events::at.lt(older_than))).execute(conn)
}
