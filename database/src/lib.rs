//! How coursemail opens, pools and migrates its SQLite databases (`accounts/accounts.db`,
//! `course/course.db`, SPEC §3), in one place.
//!
//! Several processes use each database at once, so it runs in WAL mode with a busy timeout. The
//! smtp and pop containers mount the databases read-only, and a WAL reader on a read-only mount
//! only works if the `-wal` and `-shm` files already exist (SQLite >= 3.22 then reads through them
//! without writing). SQLite normally deletes both when the last connection closes, so every
//! read-write connection sets `SQLITE_FCNTL_PERSIST_WAL`, and [`Database::open`] checks that both
//! files exist before it returns.
//!
//! # Layout
//! - this file: [`Database`], opening read-write or read-only, connection setup, a small pool.
//! - [`migrate`]: numbered schema migrations, tracked in `PRAGMA user_version`.
//! - [`error`]: what can go wrong, as [`DbError`].

pub mod error;
pub mod migrate;

use std::ffi::{c_int, c_void};
use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, ffi};

pub use error::DbError;
pub use migrate::Schema;

/// The current time in Unix seconds, as both databases store times (0 if the clock is before
/// 1970).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// How long a statement waits for another process's lock before giving up with SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept for reuse; more are opened on demand and closed after use.
const MAX_IDLE: usize = 8;
/// Prepared statements cached per connection.
const STATEMENT_CACHE: usize = 32;

/// One SQLite database file and a pool of connections to it.
///
/// `Send + Sync`: share one per process. Methods block; async callers use `spawn_blocking`.
pub struct Database {
    path: PathBuf,
    read_only: bool,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Opens `path` read-write, creating its directory (0700) and the file (0600: the databases
    /// hold password hashes and grades) if missing, and migrating it to `schema`'s latest version.
    pub fn open(path: &Path, schema: &Schema) -> Result<Database, DbError> {
        create_file(path)?;
        let mut conn = connect(path, false)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|source| open_error(path, source))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(DbError::NotWal {
                path: path.to_path_buf(),
                mode,
            });
        }
        let from = schema.migrate(&mut conn, path)?;
        // Reading through the WAL creates -wal and -shm; with PERSIST_WAL they outlive us.
        ensure_wal_files(path)?;
        tracing::info!(
            db = %path.display(),
            from_version = from,
            version = schema.latest(),
            "opened {} database read-write",
            schema.name
        );
        Ok(Self::with_connection(path, false, conn))
    }

    /// Opens `path` read-only (`SQLITE_OPEN_READ_ONLY`), as smtp and pop do on a read-only
    /// mount. Never migrates: a database older than this code is an error that tells the
    /// operator to run a read-write command once.
    pub fn open_read_only(path: &Path, schema: &Schema) -> Result<Database, DbError> {
        if !path.exists() {
            return Err(DbError::Missing {
                path: path.to_path_buf(),
            });
        }
        let conn = connect(path, true)?;
        let found = migrate::version(&conn).map_err(|source| open_error(path, source))?;
        schema.check_not_newer(found, path)?;
        if found < schema.latest() {
            return Err(DbError::SchemaOutdated {
                path: path.to_path_buf(),
                found,
                expected: schema.latest(),
            });
        }
        tracing::info!(db = %path.display(), "opened {} database read-only", schema.name);
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

    /// Whether this handle was opened with [`Database::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        // A Vec of connections is still valid if a holder panicked.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on a pooled connection (opening one if all are busy). A transaction `f` leaves
    /// open is rolled back when its `Transaction` drops, so connections go back clean.
    pub fn with_conn<T, E: From<DbError>>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, E>,
    ) -> Result<T, E> {
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

fn open_error(path: &Path, source: rusqlite::Error) -> DbError {
    DbError::Open {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates the parent directory (0700) and an empty 0600 database file if they are missing.
/// SQLite would create the file itself, but with the umask's mode (usually world-readable), and
/// it gives its -wal and -shm files the mode of the database file.
fn create_file(path: &Path) -> Result<(), DbError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| DbError::CreateDir {
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
        Err(source) => Err(DbError::CreateFile {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Opens and configures one connection.
fn connect(path: &Path, read_only: bool) -> Result<Connection, DbError> {
    let access = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    };
    let conn = Connection::open_with_flags(path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|source| open_error(path, source))?;
    if !read_only {
        // SQLite silently falls back to read-only when it cannot open the file for writing
        // (read-only mount, permissions); a writer must find out here, not at its first write.
        if conn
            .is_readonly("main")
            .map_err(|source| open_error(path, source))?
        {
            return Err(DbError::NotWritable {
                path: path.to_path_buf(),
            });
        }
        persist_wal(&conn, path)?;
    }
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|source| open_error(path, source))?;
    // foreign_keys makes ON DELETE CASCADE work; synchronous=FULL fsyncs the WAL at every
    // commit, so what was committed (a registration whose one-time password was shown, a
    // recorded submission, a grade) survives a power cut.
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")
        .map_err(|source| open_error(path, source))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Tells SQLite to keep the -wal and -shm files when the last connection closes, because
/// read-only readers cannot create them.
fn persist_wal(conn: &Connection, path: &Path) -> Result<(), DbError> {
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
        return Err(DbError::PersistWal {
            path: path.to_path_buf(),
            code: rc,
        });
    }
    Ok(())
}

/// Fails unless `<db>-wal` and `<db>-shm` exist next to the database.
fn ensure_wal_files(path: &Path) -> Result<(), DbError> {
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = PathBuf::from(name);
        if !file.exists() {
            return Err(DbError::WalFileMissing { path: file });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const SCHEMA: Schema = Schema {
        name: "test",
        migrations: &[
            "CREATE TABLE t (x INTEGER);",
            "ALTER TABLE t ADD COLUMN y TEXT;",
        ],
    };

    #[test]
    fn open_creates_a_private_file_in_a_new_directory_and_keeps_the_wal_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("test.db");
        let db = Database::open(&path, &SCHEMA).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(db);
        // Still there after the last connection closed: read-only readers rely on them.
        assert!(dir.path().join("sub/test.db-wal").exists());
        assert!(dir.path().join("sub/test.db-shm").exists());
    }

    #[test]
    fn read_only_open_reads_what_a_writer_wrote_and_refuses_to_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        let writer = Database::open(&path, &SCHEMA).unwrap();
        writer
            .with_conn(|c| {
                c.execute("INSERT INTO t VALUES (1, 'a')", [])
                    .map_err(DbError::from)
            })
            .unwrap();
        let reader = Database::open_read_only(&path, &SCHEMA).unwrap();
        assert!(reader.is_read_only());
        let n: i64 = reader
            .with_conn(|c| {
                c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                    .map_err(DbError::from)
            })
            .unwrap();
        assert_eq!(n, 1);
        let write = reader.with_conn(|c| {
            c.execute("INSERT INTO t VALUES (2, 'b')", [])
                .map_err(DbError::from)
        });
        assert!(write.is_err());
    }

    #[test]
    fn read_only_open_of_a_missing_file_or_an_old_schema_explains() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        assert!(matches!(
            Database::open_read_only(&path, &SCHEMA),
            Err(DbError::Missing { .. })
        ));
        let old = Schema {
            name: "test",
            migrations: &SCHEMA.migrations[..1],
        };
        drop(Database::open(&path, &old).unwrap());
        let err = Database::open_read_only(&path, &SCHEMA).unwrap_err();
        assert!(
            matches!(
                err,
                DbError::SchemaOutdated {
                    found: 1,
                    expected: 2,
                    ..
                }
            ),
            "{err}"
        );
    }
}
