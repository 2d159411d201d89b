//! The SMTP submission server (SPEC §6): students submit patch series with `git send-email`;
//! every message gets its id, is stored durably under `mail/`, and each session (one submission)
//! leaves one record under `logs/` for denis.
//!
//! smtp knows nothing of accounts or grading (SPEC §2): logins are checked by a
//! [`net::credentials::CredentialCheck`] and recipients by a [`Recipients`], both handed in by
//! the binary. Storage formats belong to the journal crate ([`journal::store`],
//! [`journal::session_log`]).
//!
//! # Layout
//! - [`server`]: prepares the data directories, starts the committer, binds the listeners.
//! - [`session`]: the RFC 5321 state machine of one connection (EHLO, STARTTLS, AUTH, MAIL...).
//! - [`command`]: parses a command line, with each error's reply code (pure).
//! - [`data`]: collects the DATA lines: end of data, size and line limits, header checks (pure).
//! - [`message`]: the stored form: server header fields on top, then the client's (pure).
//! - [`header`]: the client's header as stored: originals renamed, threads pointed at server
//!   ids (pure).
//! - [`threads`]: which server id a client Message-ID was stored under, across `mail/`.
//! - [`commit`]: the committer thread: durable group commit of messages and session records.
//! - [`reply`]: queues replies with enhanced status codes.
//! - [`recipients`]: the recipient directory the binary implements.
//!
//! # Durability
//! `250` after DATA means the message file is fsync'd and linked and its session record
//! durably lists it; [`commit`] explains the ordering that keeps this true through a crash.

#![warn(missing_docs)]

pub mod command;
pub mod commit;
pub mod data;
pub mod header;
pub mod message;
pub mod recipients;
pub mod reply;
pub mod server;
pub mod session;
pub mod threads;

pub use recipients::{RecipientCheck, Recipients};
pub use server::{SmtpContext, SmtpLimits, SmtpServer};
