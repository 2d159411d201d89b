//! The accounts database handle: `accounts/accounts.db` opened through the shared
//! [`database`] crate (WAL that read-only mounts can read, a connection pool, migrations), plus
//! what password checking keeps per process (the success cache, the argon2 gate).
//!
//! Several processes use it at once: web writes; smtp and pop only read, from a read-only mount.

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard, PoisonError};

use database::Database;
use rusqlite::Connection;

use crate::cache::{self, SuccessCache};
use crate::error::AccountsError;
use crate::migrate::SCHEMA;

/// Users, roles, passwords and web sessions in `accounts/accounts.db`.
///
/// `Send + Sync`: share one per process in an `Arc`. Methods are blocking (SQLite, and argon2 in
/// [`Accounts::verify_password`]); async callers use `spawn_blocking` or the
/// [`Authenticator`](crate::Authenticator).
pub struct Accounts {
    db: Database,
    pub(crate) cache: Mutex<SuccessCache>,
    pub(crate) argon2_checks: AtomicU64,
    /// Bounds how many argon2 checks run at once (see [`crate::gate`]).
    pub(crate) argon2_gate: crate::gate::Gate,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl Accounts {
    /// Opens the database read-write, creating the parent directory and the file (mode 0600:
    /// it holds password hashes) if missing, and migrating it to the latest schema.
    pub fn open(path: &Path) -> Result<Accounts, AccountsError> {
        Ok(Self::with_database(Database::open(path, &SCHEMA)?))
    }

    /// Opens the database read-only (`SQLITE_OPEN_READ_ONLY`), as smtp and pop do on a
    /// read-only mount. Never migrates: a database older than this code is an error that tells
    /// the operator to run a read-write command once.
    pub fn open_read_only(path: &Path) -> Result<Accounts, AccountsError> {
        Ok(Self::with_database(Database::open_read_only(
            path, &SCHEMA,
        )?))
    }

    fn with_database(db: Database) -> Self {
        Self {
            db,
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
        self.db.path()
    }

    /// Whether this handle was opened with [`Accounts::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.db.is_read_only()
    }

    /// Runs `f` on a pooled connection.
    pub(crate) fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, AccountsError>,
    ) -> Result<T, AccountsError> {
        self.db.with_conn(f)
    }

    /// Locks the success cache.
    pub(crate) fn cache(&self) -> MutexGuard<'_, SuccessCache> {
        // Every cache operation leaves the map consistent, so a poisoned lock is safe to reuse.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use database::DbError;
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
        let version = accounts
            .with_conn(|c| Ok(database::migrate::version(c)?))
            .unwrap();
        assert_eq!(version, crate::LATEST_VERSION);
    }

    #[test]
    fn database_from_newer_code_is_refused_by_both_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.db");
        drop(Accounts::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", crate::LATEST_VERSION + 5)
            .unwrap();
        drop(conn);
        for result in [Accounts::open(&path), Accounts::open_read_only(&path)] {
            let err = result.unwrap_err();
            assert!(
                matches!(err, AccountsError::Database(DbError::SchemaTooNew { .. })),
                "{err}"
            );
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
            matches!(
                err,
                AccountsError::Database(DbError::SchemaOutdated { found: 0, .. })
            ),
            "{err}"
        );
        assert!(err.to_string().contains("read-write"), "{err}");
        // And it really did not migrate.
        let conn = Connection::open(&path).unwrap();
        assert_eq!(database::migrate::version(&conn).unwrap(), 0);
    }

    #[test]
    fn read_only_open_of_a_missing_file_says_how_to_create_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.db");
        let err = Accounts::open_read_only(&path).unwrap_err();
        assert!(matches!(
            err,
            AccountsError::Database(DbError::Missing { .. })
        ));
        assert!(!path.exists());
    }

    #[test]
    fn accounts_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Accounts>();
    }
}
