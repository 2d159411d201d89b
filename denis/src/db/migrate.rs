//! Numbered schema migrations (`denis/migrations/NNNN_*.sql`), tracked in `PRAGMA
//! user_version`, the same scheme as the accounts database.
//!
//! Migration `i` (from 1) moves the schema from version `i-1` to `i`. They are embedded in the
//! binary, so a container image always carries the schema it expects.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::CourseDbError;

/// The migrations, in order. Append only: never edit or reorder one that has shipped.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_course.sql"),
    include_str!("../../migrations/0002_deadlines_grades.sql"),
];

/// The schema version this code reads and writes.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Reads the schema version of an open database.
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Brings the database up to [`LATEST_VERSION`]; returns the version it started from.
///
/// One IMMEDIATE transaction: the write lock is taken before the version is read, so two
/// processes starting at once (denis and web) cannot both apply a migration, and a crash leaves
/// the old schema intact (user_version is part of the transaction).
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<i64, CourseDbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = version(&tx)?;
    check_not_newer(found, path)?;
    let first = usize::try_from(found).unwrap_or(0);
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(first) {
        tx.execute_batch(sql)?;
        tracing::info!(db = %path.display(), version = index + 1, "applied course migration");
    }
    if found != LATEST_VERSION {
        tx.pragma_update(None, "user_version", LATEST_VERSION)?;
    }
    tx.commit()?;
    Ok(found)
}

/// Refuses a database written by newer code: its schema may mean things this code gets wrong.
pub(crate) fn check_not_newer(found: i64, path: &Path) -> Result<(), CourseDbError> {
    if found > LATEST_VERSION {
        return Err(CourseDbError::SchemaTooNew {
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

    #[test]
    fn fresh_database_gets_every_table_and_a_second_run_changes_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn, Path::new(":memory:")).unwrap(), 0);
        let tables: Vec<String> = {
            let mut stmt = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(
            tables,
            [
                "assignments",
                "deadline_runs",
                "findings",
                "gradeables",
                "grades",
                "oopsies",
                "peer_reviews",
                "submissions"
            ]
        );
        assert_eq!(
            migrate(&mut conn, Path::new(":memory:")).unwrap(),
            LATEST_VERSION
        );
    }
}
