//! The accounts database handle: opening (read-write or read-only), connection setup and a
//! small pool of connections, each with its own prepared-statement cache.
//!
//! Several processes use `accounts/accounts.db` at once (web writes; smtp and pop only read), so
//! it runs in WAL mode with a busy timeout. smtp and pop containers mount `accounts/` read-only,
//! and a WAL reader on a read-only mount can only work if the `-wal` and `-shm` files already
//! exist (SQLite >= 3.22 then reads through them without writing). SQLite normally deletes both
//! when the last connection closes, so every read-write connection sets
//! `SQLITE_FCNTL_PERSIST_WAL`, and [`Accounts::open`] checks that both files exist before it
//! returns.

use std::ffi::{c_int, c_void};
use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, ffi};

use crate::cache::{self, SuccessCache};
use crate::error::AccountsError;
use crate::migrate;

/// How long a statement waits for another process's lock before giving up with SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept for reuse; more are opened on demand and closed after use.
const MAX_IDLE: usize = 8;
/// Prepared statements cached per connection (the crate uses about a dozen distinct ones).
const STATEMENT_CACHE: usize = 32;

/// Users, roles, passwords and web sessions in `accounts/accounts.db`.
///
/// `Send + Sync`: share one per process in an `Arc`. Methods are blocking (SQLite, and argon2 in
/// [`Accounts::verify_password`]); async callers use `spawn_blocking` or the
/// [`Authenticator`](crate::Authenticator).
pub struct Accounts {
    pub(crate) path: PathBuf,
    pub(crate) read_only: bool,
    idle: Mutex<Vec<Connection>>,
    pub(crate) cache: Mutex<SuccessCache>,
    pub(crate) argon2_checks: AtomicU64,
    /// Bounds how many argon2 checks run at once (see [`crate::gate`]).
    pub(crate) argon2_gate: crate::gate::Gate,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

impl Accounts {
    /// Opens the database read-write, creating the parent directory and the file (mode 0600:
    /// it holds password hashes) if missing, and migrating it to the latest schema.
    pub fn open(path: &Path) -> Result<Accounts, AccountsError> {
        create_file(path)?;
        let mut conn = connect(path, false)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|source| open_error(path, source))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(AccountsError::NotWal {
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
            version = migrate::LATEST_VERSION,
            "opened accounts database read-write"
        );
        Ok(Self::with_connection(path, false, conn))
    }

    /// Opens the database read-only (`SQLITE_OPEN_READ_ONLY`), as smtp and pop do on a
    /// read-only mount. Never migrates: a database older than this code is an error that tells
    /// the operator to run a read-write command once.
    pub fn open_read_only(path: &Path) -> Result<Accounts, AccountsError> {
        if !path.exists() {
            return Err(AccountsError::Missing {
                path: path.to_path_buf(),
            });
        }
        let conn = connect(path, true)?;
        let found = migrate::version(&conn).map_err(|source| open_error(path, source))?;
        migrate::check_not_newer(found, path)?;
        if found < migrate::LATEST_VERSION {
            return Err(AccountsError::SchemaOutdated {
                path: path.to_path_buf(),
                found,
                expected: migrate::LATEST_VERSION,
            });
        }
        tracing::info!(db = %path.display(), "opened accounts database read-only");
        Ok(Self::with_connection(path, true, conn))
    }

    fn with_connection(path: &Path, read_only: bool, conn: Connection) -> Self {
        Self {
            path: path.to_path_buf(),
            read_only,
            idle: Mutex::new(vec![conn]),
            cache: Mutex::new(SuccessCache::new(
                cache::DEFAULT_TTL,
                cache::DEFAULT_CAPACITY,
            )),
            argon2_checks: AtomicU64::new(0),
            argon2_gate: crate::gate::Gate::per_core(),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this handle was opened with [`Accounts::open_read_only`].
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
        f: impl FnOnce(&mut Connection) -> Result<T, AccountsError>,
    ) -> Result<T, AccountsError> {
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

    /// Locks the success cache.
    pub(crate) fn cache(&self) -> MutexGuard<'_, SuccessCache> {
        // Every cache operation leaves the map consistent, so a poisoned lock is safe to reuse.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn open_error(path: &Path, source: rusqlite::Error) -> AccountsError {
    AccountsError::Open {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates the parent directory and an empty 0600 database file if they are missing. SQLite
/// would create the file itself, but with the umask's mode (usually world-readable), and it
/// gives its -wal and -shm files the mode of the database file.
fn create_file(path: &Path) -> Result<(), AccountsError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .create(dir)
            .map_err(|source| AccountsError::CreateDir {
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
        Err(source) => Err(AccountsError::CreateFile {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Opens and configures one connection.
fn connect(path: &Path, read_only: bool) -> Result<Connection, AccountsError> {
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
            return Err(AccountsError::NotWritable {
                path: path.to_path_buf(),
            });
        }
        persist_wal(&conn, path)?;
    }
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|source| open_error(path, source))?;
    // foreign_keys makes ON DELETE CASCADE remove a user's web sessions; synchronous=FULL
    // fsyncs the WAL at every commit, so a registration whose password was shown once is not
    // lost to a power cut.
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")
        .map_err(|source| open_error(path, source))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Tells SQLite to keep the -wal and -shm files when the last connection closes, because
/// read-only readers cannot create them.
fn persist_wal(conn: &Connection, path: &Path) -> Result<(), AccountsError> {
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
        return Err(AccountsError::PersistWal {
            path: path.to_path_buf(),
            code: rc,
        });
    }
    Ok(())
}

/// Fails unless `<db>-wal` and `<db>-shm` exist next to the database.
fn ensure_wal_files(path: &Path) -> Result<(), AccountsError> {
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = PathBuf::from(name);
        if !file.exists() {
            return Err(AccountsError::WalFileMissing { path: file });
        }
    }
    Ok(())
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
    fn open_creates_a_private_file_in_a_new_directory_with_wal_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts").join("accounts.db");
        let accounts = Accounts::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(accounts);
        // Still there after the last connection closed: read-only readers rely on them.
        assert!(dir.path().join("accounts/accounts.db-wal").exists());
        assert!(dir.path().join("accounts/accounts.db-shm").exists());
    }

    #[test]
    fn reopening_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.db");
        drop(Accounts::open(&path).unwrap());
        let accounts = Accounts::open(&path).unwrap();
        let version = accounts.with_conn(|c| Ok(migrate::version(c)?)).unwrap();
        assert_eq!(version, migrate::LATEST_VERSION);
    }

    #[test]
    fn database_from_newer_code_is_refused_by_both_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.db");
        drop(Accounts::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", migrate::LATEST_VERSION + 5)
            .unwrap();
        drop(conn);
        for result in [Accounts::open(&path), Accounts::open_read_only(&path)] {
            let err = result.unwrap_err();
            assert!(matches!(err, AccountsError::SchemaTooNew { .. }), "{err}");
        }
    }

    #[test]
    fn read_only_open_of_an_old_schema_asks_for_a_read_write_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x);")
            .unwrap();
        drop(conn);
        let err = Accounts::open_read_only(&path).unwrap_err();
        assert!(
            matches!(err, AccountsError::SchemaOutdated { found: 0, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("read-write"), "{err}");
        // And it really did not migrate.
        let conn = Connection::open(&path).unwrap();
        assert_eq!(migrate::version(&conn).unwrap(), 0);
    }

    #[test]
    fn read_only_open_of_a_missing_file_says_how_to_create_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.db");
        let err = Accounts::open_read_only(&path).unwrap_err();
        assert!(matches!(err, AccountsError::Missing { .. }));
        assert!(!path.exists());
    }

    #[test]
    fn accounts_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Accounts>();
    }
}
