//! Numbered schema migrations, tracked in `PRAGMA user_version`.
//!
//! Migration `i` (from 1) moves a schema from version `i-1` to `i`. Each crate embeds its own
//! (`include_str!`), so a container image always carries the schema it expects. Append only:
//! never edit or reorder a migration that has shipped.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::DbError;

/// One database's schema: its name (for messages) and its migrations, in order.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// What the database is called in messages ("accounts", "course").
    pub name: &'static str,
    /// The migrations, oldest first.
    pub migrations: &'static [&'static str],
}

impl Schema {
    /// The schema version this code reads and writes.
    pub const fn latest(&self) -> i64 {
        self.migrations.len() as i64
    }

    /// Brings the database up to [`Schema::latest`]; returns the version it started from.
    ///
    /// Everything runs in one IMMEDIATE transaction: the write lock is taken before the version
    /// is read, so two processes starting at once cannot both apply the same migration, and a
    /// crash leaves the old schema intact (user_version is part of the transaction).
    pub fn migrate(&self, conn: &mut Connection, path: &Path) -> Result<i64, DbError> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = version(&tx)?;
        self.check_not_newer(found, path)?;
        let first = usize::try_from(found).unwrap_or(0);
        for (index, sql) in self.migrations.iter().enumerate().skip(first) {
            tx.execute_batch(sql)?;
            tracing::info!(db = %path.display(), version = index + 1, "applied {} migration", self.name);
        }
        if found != self.latest() {
            tx.pragma_update(None, "user_version", self.latest())?;
        }
        tx.commit()?;
        Ok(found)
    }

    /// Refuses a database written by newer code: its schema may mean things this code gets
    /// wrong.
    pub fn check_not_newer(&self, found: i64, path: &Path) -> Result<(), DbError> {
        if found > self.latest() {
            return Err(DbError::SchemaTooNew {
                path: path.to_path_buf(),
                found,
                supported: self.latest(),
            });
        }
        Ok(())
    }
}

/// Reads the schema version of an open database.
pub fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: Schema = Schema {
        name: "test",
        migrations: &["CREATE TABLE a (x);", "CREATE TABLE b (y);"],
    };

    #[test]
    fn migrating_applies_each_step_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        let path = Path::new("mem");
        assert_eq!(SCHEMA.migrate(&mut conn, path).unwrap(), 0);
        assert_eq!(version(&conn).unwrap(), 2);
        assert_eq!(
            SCHEMA.migrate(&mut conn, path).unwrap(),
            2,
            "second run changes nothing"
        );
    }

    #[test]
    fn a_partly_migrated_database_gets_only_the_missing_steps() {
        let mut conn = Connection::open_in_memory().unwrap();
        let older = Schema {
            name: "test",
            migrations: &SCHEMA.migrations[..1],
        };
        older.migrate(&mut conn, Path::new("mem")).unwrap();
        assert_eq!(SCHEMA.migrate(&mut conn, Path::new("mem")).unwrap(), 1);
        assert_eq!(version(&conn).unwrap(), 2);
    }

    #[test]
    fn a_newer_database_is_refused_and_left_alone() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 9).unwrap();
        let err = SCHEMA.migrate(&mut conn, Path::new("mem")).unwrap_err();
        assert!(
            matches!(
                err,
                DbError::SchemaTooNew {
                    found: 9,
                    supported: 2,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(version(&conn).unwrap(), 9);
    }
}
