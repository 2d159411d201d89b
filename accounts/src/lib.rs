//! coursemail accounts: users, roles, password hashing, web sessions and login throttling
//! (SPEC §2, §3, §6, §7, §11). smtp, pop, web and the CLI all use it.
//!
//! The data lives in `accounts/accounts.db` (SQLite, WAL mode), written by web and the CLI and
//! read, possibly from a read-only mount, by smtp and pop. Services check logins through one
//! [`Authenticator`] per process, which throttles, caches recent successes and keeps argon2 off
//! the async runtime.
//!
//! # Layout
//! - [`db`]: the [`Accounts`] handle: read-write and read-only opening, WAL setup, connection pool.
//! - [`migrate`]: numbered schema migrations (`migrations/*.sql`) tracked in `user_version`.
//! - [`user`]: the [`User`] record, [`Role`], [`NewUser`] and pure validation of their fields.
//! - [`users`]: roster operations: add, get, find by student id, list, remove, set/clear password.
//! - [`password`]: argon2id hashing, password rules, one-time password generation.
//! - [`verify`]: `Accounts::verify_password`: stored hash, success cache, equal-cost rejections.
//! - [`cache`]: the bounded success cache (keyed digests, never plaintext).
//! - `gate`: at most one argon2 check per core at a time (internal).
//! - [`sessions`]: web sessions: hashed tokens, CSRF secrets, expiry.
//! - [`settings`]: settings of the data root itself, such as the recorded mail domain.
//! - [`throttle`]: per-address and per-username failure delays with queued reservations.
//! - [`auth`]: the [`Authenticator`] every service calls.
//! - [`error`]: the crate's error type, [`AccountsError`].

#![warn(missing_docs)]

pub mod auth;
pub mod cache;
pub mod db;
pub mod error;
mod gate;
pub mod migrate;
pub mod password;
pub mod sessions;
pub mod settings;
pub mod throttle;
pub mod user;
pub mod users;
pub mod verify;

pub use auth::{AuthOutcome, Authenticator};
pub use db::Accounts;
pub use error::AccountsError;
pub use journal::Username;
pub use migrate::LATEST_VERSION;
pub use password::{generate_password, hash_password};
pub use sessions::{SessionInfo, SessionToken, WebSession};
pub use settings::{InvalidMailDomain, MailDomain};
pub use throttle::{Admission, Throttle, ThrottleConfig};
pub use user::{InvalidRole, NewUser, Role, User};
