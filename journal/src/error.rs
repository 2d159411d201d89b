//! [`JournalError`]: everything that can go wrong reading or writing the journal.
//!
//! Messages name the file and, where there is one, the command that fixes the problem, because
//! they end up verbatim in the CLI's output and in pop's and denis' logs.

use std::io;
use std::path::{Path, PathBuf};

use crate::record::RecordError;
use crate::store::StoreError;

/// What went wrong with the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A file system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// There is no journal at the path.
    #[error("journal {} does not exist; run `coursemail journal init`", path.display())]
    Missing {
        /// Where it was expected.
        path: PathBuf,
    },
    /// The file has no committed length.
    #[error(
        "{} has no {} attribute, so it is not a journal, or it was copied without its xattrs \
         (copy with `cp --preserve=xattr` or `tar --xattrs`); `coursemail journal verify` tells more",
        path.display(), crate::attrs::DATA_END_XATTR
    )]
    NoDataEnd {
        /// The file.
        path: PathBuf,
    },
    /// An offset xattr does not hold 8 bytes.
    #[error(
        "attribute {name} of {} is {len} bytes long, expected an 8-byte little-endian offset; \
         run `coursemail journal verify`",
        path.display()
    )]
    BadAttribute {
        /// The file.
        path: PathBuf,
        /// The xattr name.
        name: String,
        /// Its actual length.
        len: usize,
    },
    /// The caps file beside the journal is damaged.
    #[error(
        "caps file {}: {reason}; restore it from a backup, or remove it to lift every \
         restriction (then restrict again)",
        path.display()
    )]
    BadCaps {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The caps file belongs to another journal inode, for longer than a rebuild takes.
    #[error(
        "caps file {} belongs to another journal (an interrupted rebuild?); run `coursemail \
         journal rebuild` to write both anew",
        path.display()
    )]
    CapsOfAnotherJournal {
        /// The caps file.
        path: PathBuf,
    },
    /// An offset that must fall on a record boundary does not.
    #[error(
        "journal {}: {what} is {value}, not a multiple of the 48-byte record size; \
         run `coursemail journal verify`",
        path.display()
    )]
    Misaligned {
        /// The file.
        path: PathBuf,
        /// Which offset (`data_end`, a user's cap).
        what: String,
        /// Its value.
        value: u64,
    },
    /// An offset points past the end of the file.
    #[error(
        "journal {} is {file_len} bytes long but {what} is {value}: the file is truncated; \
         run `coursemail journal verify`, then `coursemail journal rebuild`",
        path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Which offset.
        what: String,
        /// Its value.
        value: u64,
        /// The file's actual length.
        file_len: u64,
    },
    /// A committed record does not decode.
    #[error(
        "journal {}, record {index} (offset {}): {source}; run `coursemail journal verify`",
        path.display(), index * crate::record::RECORD_LEN as u64
    )]
    Record {
        /// The file.
        path: PathBuf,
        /// The record's position, from 0.
        index: u64,
        /// Why it does not decode.
        source: RecordError,
    },
    /// A snapshot was asked for a record it does not have.
    #[error("record {index} is out of range: the snapshot has {len} records")]
    OutOfRange {
        /// The index asked for.
        index: usize,
        /// The snapshot's length.
        len: usize,
    },
    /// A caller tried to append a record that would not decode.
    #[error("refusing to append an invalid record: {0}")]
    InvalidRecord(RecordError),
    /// Reading `mail/` failed (rebuild).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl JournalError {
    /// A closure turning an I/O error into [`JournalError::Io`] for `path`.
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> JournalError {
        let path = path.to_path_buf();
        move |source| JournalError::Io {
            action,
            path,
            source,
        }
    }
}
