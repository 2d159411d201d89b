//! The course database handle (`course/course.db`, SPEC §3): opening read-write or read-only,
//! connection setup, and a small connection pool.
//!
//! denis, web and the CLI write it; smtp reads it (which recipients exist), possibly from a
//! read-only mount. It follows the accounts database exactly: WAL mode with a busy timeout for
//! several processes, and `SQLITE_FCNTL_PERSIST_WAL` on every read-write connection, because a
//! reader on a read-only mount can only use a WAL database whose `-wal` and `-shm` files already
//! exist; [`CourseDb::open`] checks both exist before it returns.
//!
//! The operations live beside it, one file per area: [`assignments`], [`intake`] (what the
//! intake reads and records), [`crate::query`] (what `coursemail inspect` shows), and for the
//! deadlines [`deadlines`] (run claims and records), [`reviews`] (the peer-review cycle),
//! [`grades`] and [`oopsies`].

pub mod assignments;
pub mod deadlines;
pub mod grades;
pub mod intake;
mod migrate;
pub mod oopsies;
pub mod reviews;

use std::ffi::{c_int, c_void};
use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::types::Type;
use rusqlite::{Connection, OpenFlags, Row, ffi};

use crate::error::CourseDbError;

pub use migrate::LATEST_VERSION;

/// How long a statement waits for another process's lock before giving up with SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept for reuse (intake workers, web handlers); more are opened on demand.
const MAX_IDLE: usize = 8;
/// Prepared statements cached per connection.
const STATEMENT_CACHE: usize = 32;

/// Assignments, submissions, gradeables, findings, peer reviews and oopsies in `course.db`.
///
/// `Send + Sync`: share one per process in an `Arc`. Methods block (SQLite); async callers use
/// `spawn_blocking`.
pub struct CourseDb {
    path: PathBuf,
    read_only: bool,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for CourseDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CourseDb")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

impl CourseDb {
    /// Opens the database read-write, creating its directory (0700) and file (0600) if missing,
    /// and migrating it to the latest schema.
    pub fn open(path: &Path) -> Result<CourseDb, CourseDbError> {
        create_file(path)?;
        let mut conn = connect(path, false)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|source| open_error(path, source))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(CourseDbError::NotWal {
                path: path.to_path_buf(),
                mode,
            });
        }
        let from = migrate::migrate(&mut conn, path)?;
        // Reading through the WAL creates -wal and -shm; with PERSIST_WAL they outlive us.
        ensure_wal_files(path)?;
        tracing::info!(
            db = %path.display(),
            from_version = from,
            version = LATEST_VERSION,
            "opened course database read-write"
        );
        Ok(Self::with_connection(path, false, conn))
    }

    /// Opens the database read-only, as smtp does on a read-only mount. Never migrates: an
    /// older schema is an error telling the operator to run a read-write command once.
    pub fn open_read_only(path: &Path) -> Result<CourseDb, CourseDbError> {
        if !path.exists() {
            return Err(CourseDbError::Missing {
                path: path.to_path_buf(),
            });
        }
        let conn = connect(path, true)?;
        let found = migrate::version(&conn).map_err(|source| open_error(path, source))?;
        migrate::check_not_newer(found, path)?;
        if found < LATEST_VERSION {
            return Err(CourseDbError::SchemaOutdated {
                path: path.to_path_buf(),
                found,
                expected: LATEST_VERSION,
            });
        }
        tracing::info!(db = %path.display(), "opened course database read-only");
        Ok(Self::with_connection(path, true, conn))
    }

    fn with_connection(path: &Path, read_only: bool, conn: Connection) -> Self {
        Self {
            path: path.to_path_buf(),
            read_only,
            idle: Mutex::new(vec![conn]),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this handle was opened with [`CourseDb::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        // A Vec of connections is still valid if a holder panicked.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on a pooled connection (opening one if all are busy). A transaction `f` leaves
    /// open is rolled back when its `Transaction` drops, so connections go back clean.
    pub(crate) fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, CourseDbError>,
    ) -> Result<T, CourseDbError> {
        let pooled = self.idle().pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => connect(&self.path, self.read_only)?,
        };
        let result = f(&mut conn);
        let mut idle = self.idle();
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        result
    }
}

fn open_error(path: &Path, source: rusqlite::Error) -> CourseDbError {
    CourseDbError::Open {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates the parent directory (0700) and an empty 0600 database file if missing. SQLite would
/// create the file with the umask's mode and gives its -wal and -shm files the same mode; grades
/// and findings are private.
fn create_file(path: &Path) -> Result<(), CourseDbError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| CourseDbError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(CourseDbError::CreateFile {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Opens and configures one connection.
fn connect(path: &Path, read_only: bool) -> Result<Connection, CourseDbError> {
    let access = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    };
    let conn = Connection::open_with_flags(path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|source| open_error(path, source))?;
    if !read_only {
        // SQLite silently falls back to read-only when it cannot open the file for writing; a
        // writer must find out here, not at its first write.
        if conn
            .is_readonly("main")
            .map_err(|source| open_error(path, source))?
        {
            return Err(CourseDbError::NotWritable {
                path: path.to_path_buf(),
            });
        }
        persist_wal(&conn, path)?;
    }
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|source| open_error(path, source))?;
    // synchronous=FULL fsyncs the WAL at every commit: a recorded submission is the proof that
    // a session was processed, and losing it would process (and release) the session again.
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")
        .map_err(|source| open_error(path, source))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Tells SQLite to keep the -wal and -shm files when the last connection closes, because
/// read-only readers cannot create them.
fn persist_wal(conn: &Connection, path: &Path) -> Result<(), CourseDbError> {
    let mut on: c_int = 1;
    // SAFETY: `conn.handle()` is the live `sqlite3*` owned by `conn`, which outlives this call
    // and is not used by any other thread meanwhile (Connection is not Sync). "main" is a
    // NUL-terminated C string literal. For SQLITE_FCNTL_PERSIST_WAL, SQLite reads and writes
    // exactly one `int` through the pointer, which points at `on`, alive for the whole call.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_PERSIST_WAL,
            (&raw mut on).cast::<c_void>(),
        )
    };
    if rc != ffi::SQLITE_OK {
        return Err(CourseDbError::PersistWal {
            path: path.to_path_buf(),
            code: rc,
        });
    }
    Ok(())
}

/// Fails unless `<db>-wal` and `<db>-shm` exist next to the database.
fn ensure_wal_files(path: &Path) -> Result<(), CourseDbError> {
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = PathBuf::from(name);
        if !file.exists() {
            return Err(CourseDbError::WalFileMissing { path: file });
        }
    }
    Ok(())
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

/// The current time in Unix seconds (0 if the clock is before 1970).
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert!(matches!(err, CourseDbError::Missing { .. }), "{err}");
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
        assert!(matches!(err, CourseDbError::SchemaTooNew { .. }), "{err}");
    }
}
