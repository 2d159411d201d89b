//! The journal crate: coursemail's on-disk mail store, identifiers and maildrop index.
//!
//! It is the lowest layer: it depends on no other workspace crate. smtp stores messages through
//! [`MailStore`]; denis and the CLI release them with [`JournalWriter`]; pop reads a user's view
//! with [`Snapshot`]; the CLI checks everything with [`verify()`].
//!
//! # Layout
//! - [`ids`]: message ids, submission ids, usernames, and the id generator (SPEC §4).
//! - [`layout`]: the data root and every path under it (SPEC §3).
//! - [`durable`]: durable whole-file replacement, and the atomic swap rebuild uses.
//! - [`store`]: `mail/`, one durably written file per message, never overwritten (SPEC §4).
//! - [`session_log`]: `logs/`, one record per closed SMTP session: format, writing, reading (SPEC §6).
//! - [`record`]: the pure 48-byte journal record codec (SPEC §5).
//! - [`attrs`]: names and encoding of the journal's xattrs (`data_end`, the seed's caps).
//! - [`caps`]: every user's cap in one file beside the journal, at any class size.
//! - [`error`]: [`JournalError`], shared by writer, reader and verify.
//! - `file`: one open journal inode, read through a single descriptor (internal).
//! - [`writer`]: append, restrict and the other writer operations under the journal lock.
//! - [`rebuild`]: rewrite from `mail/` sorted by id, translating caps so nothing leaks.
//! - [`reader`]: a user's read-only, memory-mapped snapshot, fixed at login.
//! - [`mod@verify`]: internal and external consistency checks.
#![warn(missing_docs)]
pub mod attrs;
pub mod caps;
pub mod durable;
pub mod error;
mod file;
pub mod ids;
pub mod layout;
pub mod reader;
pub mod rebuild;
pub mod record;
pub mod session_log;
pub mod store;
pub mod verify;
pub mod writer;

pub use durable::write_file_atomic;
pub use error::JournalError;
pub use ids::{IdError, IdGenerator, MessageId, SubmissionId, Username, UsernameError};
pub use layout::{DataRoot, create_private_dir};
pub use reader::Snapshot;
pub use rebuild::{CapChange, RebuildReport, RebuildSelection};
pub use record::{RECORD_LEN, Record, RecordError};
pub use store::{MailStore, MessageMeta, StoreError, header_len};
pub use verify::{VerifyReport, verify};
pub use writer::{AppendOutcome, JournalWriter, Restriction, UnknownRestriction};
