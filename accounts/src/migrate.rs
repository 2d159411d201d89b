//! Numbered schema migrations (`accounts/migrations/NNNN_*.sql`), tracked in `PRAGMA
//! user_version`.
//!
//! Migration `i` (from 1) moves the schema from version `i-1` to `i`. They are embedded in the
//! binary, so a container image always carries the schema it expects.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::AccountsError;

/// The migrations, in order. Append only: never edit or reorder one that has shipped.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_users.sql"),
    include_str!("../migrations/0002_web_sessions.sql"),
];

/// The schema version this code reads and writes.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Reads the schema version of an open database.
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Brings the database up to [`LATEST_VERSION`]; returns the version it started from.
///
/// Everything runs in one IMMEDIATE transaction: the write lock is taken before the version is
/// read, so two processes starting at once cannot both apply the same migration, and a crash
/// leaves the old schema intact (user_version is part of the transaction).
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<i64, AccountsError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = version(&tx)?;
    check_not_newer(found, path)?;
    let first = usize::try_from(found).unwrap_or(0);
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(first) {
        tx.execute_batch(sql)?;
        tracing::info!(
            db = %path.display(),
            version = index + 1,
            "applied accounts migration"
        );
    }
    if found != LATEST_VERSION {
        tx.pragma_update(None, "user_version", LATEST_VERSION)?;
    }
    tx.commit()?;
    Ok(found)
}

/// Refuses a database written by newer code: its schema may mean things this code gets wrong.
pub(crate) fn check_not_newer(found: i64, path: &Path) -> Result<(), AccountsError> {
    if found > LATEST_VERSION {
        return Err(AccountsError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported: LATEST_VERSION,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn fresh_database_reaches_the_latest_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn, Path::new(":memory:")).unwrap(), 0);
        assert_eq!(version(&conn).unwrap(), LATEST_VERSION);
        assert_eq!(tables(&conn), ["users", "web_sessions"]);
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        conn.execute(
            "INSERT INTO users (username, full_name, role, created_at) VALUES ('a', 'A', 'student', 1)",
            [],
        )
        .unwrap();
        assert_eq!(
            migrate(&mut conn, Path::new(":memory:")).unwrap(),
            LATEST_VERSION
        );
        let users: i64 = conn
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
            .unwrap();
        assert_eq!(users, 1);
    }

    #[test]
    fn partially_migrated_database_gets_only_the_missing_steps() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        assert_eq!(migrate(&mut conn, Path::new(":memory:")).unwrap(), 1);
        assert_eq!(tables(&conn), ["users", "web_sessions"]);
    }

    #[test]
    fn newer_database_is_refused_and_left_alone() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", LATEST_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn, Path::new("x.db")).unwrap_err();
        assert!(matches!(err, AccountsError::SchemaTooNew { .. }));
        assert!(err.to_string().contains("upgrade coursemail"), "{err}");
        assert_eq!(version(&conn).unwrap(), LATEST_VERSION + 1);
        assert!(tables(&conn).is_empty());
    }
}
