//! The POP3 server (SPEC §7): every student reads the shared, journal-defined maildrop.
//!
//! pop never writes the mail store or the journal; the only state it keeps is which messages each
//! user deleted, under `pop/`. It knows nothing of accounts or grading: logins are checked by a
//! [`net::credentials::CredentialCheck`] the binary hands in.
//!
//! # Layout
//! - [`server`]: binds the listeners and runs a session per connection.
//! - [`session`]: the RFC 1939 state machine for one connection.
//! - [`command`]: parses a command line (pure).
//! - [`reply`]: queues `+OK`/`-ERR` lines and multi-line responses.
//! - [`maildrop`]: one user's numbered view for one session.
//! - [`deletions`]: per-user deletions, committed at QUIT.

pub mod command;
pub mod deletions;
pub mod maildrop;
pub mod reply;
pub mod server;
pub mod session;

pub use server::{PopContext, PopServer};
