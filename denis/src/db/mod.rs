//! The course database handle (`course/course.db`, SPEC §3), opened through the shared
//! [`database`] crate: WAL that a read-only mount can read, a connection pool, migrations.
//!
//! denis, web and the CLI write it; smtp reads it (which recipients exist), possibly from a
//! read-only mount.
//!
//! The operations live beside it, one file per area: [`assignments`], [`intake`] (what the
//! intake reads and records), [`crate::query`] (what `coursemail inspect` shows), and for the
//! deadlines [`deadlines`] (run claims and records), [`reviews`] (the peer-review cycle),
//! [`grades`] and [`oopsies`]; [`requests`] holds what the web asks denis to do,
//! [`student`] what one student's dashboard reads, and [`overview`] the per-assignment counts of
//! the instructors' overview.

pub mod assignments;
pub mod deadlines;
pub mod grades;
pub mod intake;
mod migrate;
pub mod oopsies;
pub mod overview;
pub mod requests;
pub mod reviews;
pub mod student;

use std::path::Path;
use std::str::FromStr;

use database::Database;
use rusqlite::types::Type;
use rusqlite::{Connection, Row};

use crate::error::CourseDbError;

pub use migrate::LATEST_VERSION;

/// Assignments, submissions, gradeables, findings, peer reviews and oopsies in `course.db`.
///
/// `Send + Sync`: share one per process in an `Arc`. Methods block (SQLite); async callers use
/// `spawn_blocking`.
#[derive(Debug)]
pub struct CourseDb {
    db: Database,
}

impl CourseDb {
    /// Opens the database read-write, creating its directory (0700) and file (0600) if missing,
    /// and migrating it to the latest schema.
    pub fn open(path: &Path) -> Result<CourseDb, CourseDbError> {
        Ok(Self {
            db: Database::open(path, &migrate::SCHEMA)?,
        })
    }

    /// Opens the database read-only, as smtp does on a read-only mount. Never migrates: an
    /// older schema is an error telling the operator to run a read-write command once.
    pub fn open_read_only(path: &Path) -> Result<CourseDb, CourseDbError> {
        Ok(Self {
            db: Database::open_read_only(path, &migrate::SCHEMA)?,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.db.path()
    }

    /// Whether this handle was opened with [`CourseDb::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.db.is_read_only()
    }

    /// Runs `f` on a pooled connection (opening one if all are busy). A transaction `f` leaves
    /// open is rolled back when its `Transaction` drops, so connections go back clean.
    pub(crate) fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, CourseDbError>,
    ) -> Result<T, CourseDbError> {
        self.db.with_conn(f)
    }
}

/// Reads column `idx` as one of the crate's text enumerations (or validated names); a value
/// this code does not know is a conversion error naming the column, not a panic.
pub(crate) fn text<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let raw: String = row.get(idx)?;
    raw.parse()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

/// Like [`text`] for a nullable column.
pub(crate) fn opt_text<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let raw: Option<String> = row.get(idx)?;
    raw.map(|raw| {
        raw.parse()
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use database::DbError;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn open_creates_a_private_file_with_persistent_wal_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("course").join("course.db");
        let db = CourseDb::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(db);
        assert!(dir.path().join("course/course.db-wal").exists());
        assert!(dir.path().join("course/course.db-shm").exists());
        let ro = CourseDb::open_read_only(&path).unwrap();
        assert!(ro.is_read_only());
    }

    #[test]
    fn read_only_open_of_a_missing_file_says_how_to_create_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = CourseDb::open_read_only(&dir.path().join("nope.db")).unwrap_err();
        assert!(
            matches!(err, CourseDbError::Database(DbError::Missing { .. })),
            "{err}"
        );
    }

    #[test]
    fn database_from_newer_code_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("course.db");
        drop(CourseDb::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", LATEST_VERSION + 1)
            .unwrap();
        drop(conn);
        let err = CourseDb::open(&path).unwrap_err();
        assert!(
            matches!(err, CourseDbError::Database(DbError::SchemaTooNew { .. })),
            "{err}"
        );
    }
}
