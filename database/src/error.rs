//! What can go wrong opening or migrating a database, and what to do about it.

use std::path::PathBuf;

/// Errors of [`crate::Database`] and [`crate::migrate`]. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The directory that should hold the database could not be created.
    #[error("cannot create the directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The database file could not be created.
    #[error("cannot create the database {path}: {source}")]
    CreateFile {
        /// The database file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A read-only open found no database file.
    #[error(
        "database {path} does not exist; create it by running a read-write coursemail command \
         once (e.g. `coursemail up`, or `coursemail user list` with the volume writable)"
    )]
    Missing {
        /// The database file.
        path: PathBuf,
    },
    /// Opening or preparing the database failed.
    #[error("cannot open the database {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The underlying SQLite error.
        source: rusqlite::Error,
    },
    /// A read-write open could only get read access to the file.
    #[error(
        "database {path} is not writable (read-only mount or file permissions); give this \
         service write access, or open it read-only if it only reads"
    )]
    NotWritable {
        /// The database file.
        path: PathBuf,
    },
    /// The database could not be switched to write-ahead logging.
    #[error(
        "database {path} is in journal mode {mode:?} instead of WAL; check that the directory \
         is writable and on a local file system"
    )]
    NotWal {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// SQLite refused to keep its `-wal`/`-shm` files, which read-only readers depend on.
    #[error(
        "cannot make SQLite keep the WAL files of {path} (sqlite error code {code}); read-only \
         readers (smtp, pop) would fail"
    )]
    PersistWal {
        /// The database file.
        path: PathBuf,
        /// The SQLite result code.
        code: i32,
    },
    /// After a read-write open, the `-wal` or `-shm` file that read-only readers need is missing.
    #[error(
        "{path} is missing after opening its database read-write; read-only readers (smtp, pop) \
         need it: check the directory's permissions and free space"
    )]
    WalFileMissing {
        /// The missing file.
        path: PathBuf,
    },
    /// The database was written by a newer coursemail.
    #[error(
        "database {path} has schema version {found}, but this coursemail only knows versions up \
         to {supported}; upgrade coursemail (never run an older one on a newer database)"
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: i64,
        /// The newest version this code knows.
        supported: i64,
    },
    /// A read-only open found a database that still needs migrating.
    #[error(
        "database {path} has schema version {found}, older than this coursemail's {expected}, \
         and this service opens it read-only; run a read-write coursemail command once (e.g. \
         `coursemail up`, or `coursemail user list` with the volume writable) to migrate it"
    )]
    SchemaOutdated {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: i64,
        /// The version this code needs.
        expected: i64,
    },
    /// A statement failed.
    #[error("database query failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
}
