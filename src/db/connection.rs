//! The connection type for both backends. Its derive generates undocumented items, hence
//! this module of its own.
#![allow(missing_docs)]

use diesel::prelude::*;

/// A connection to either backend; every query in [`super::repo`] is written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// PostgreSQL.
    Pg(PgConnection),
    /// The embedded SQLite file.
    Sqlite(SqliteConnection),
}
