//! Shared networking for coursemail's smtp, pop and web services (SPEC §2): listeners, TLS with
//! the STARTTLS/STLS upgrade, protocol line reading and timeouts. It knows nothing about mail
//! protocols; the services build their sessions on top of it.
//!
//! # Layout
//! - [`tls`]: the one owner of TLS setup: self-signed pair on first start, server config, acceptor.
//! - [`listener`]: what a listener is (address, plain or implicit TLS, trusted) and binding it.
//! - [`stream`]: [`MaybeTls`], a connection that is plain or TLS, and its in-place upgrade.
//! - [`line`](mod@line): [`LineReader`], CRLF/LF line reading with a hard limit and a buffer that shrinks back.
//! - [`server`]: the accept loop: connection limit, one task per connection, implicit TLS, shutdown.
//! - [`timeout`]: [`with_timeout`], which turns a stalled I/O future into `ErrorKind::TimedOut`.
//! - [`limits`]: lifting the descriptor limit for servers holding many connections.
//! - [`sasl`]: decoding SASL PLAIN and LOGIN responses (SMTP and POP3 AUTH).
//! - [`credentials`]: the login check protocol servers are handed ([`credentials::CredentialCheck`]).
//!
//! # Memory per connection
//! One process must hold tens of thousands of idle connections (SPEC §7), so nothing here keeps
//! a large fixed buffer per connection: a [`LineReader`] starts at 512 bytes, grows only while a
//! long line is being read and shrinks back before it waits again; TLS state is boxed so a plain
//! [`MaybeTls`] stays small. `benches/idle_connections.rs` measures the figures.
//!
//! # Shutdown
//! Services share one [`CancellationToken`] (re-exported here so every crate names the same
//! type): [`serve`] stops accepting when it is cancelled, and each [`Connection`] carries a clone
//! so its session can say goodbye in its own protocol.

#![warn(missing_docs)]

pub mod credentials;
pub mod limits;
pub mod line;
pub mod listener;
pub mod sasl;
pub mod server;
pub mod stream;
pub mod timeout;
pub mod tls;

pub use limits::{raise_fd_limit, release_large_allocations};
pub use line::{Line, LineEnding, LineReader, MAX_QUEUED_REPLIES};
pub use listener::{ListenerSpec, Security, bind};
pub use server::{Connection, Limits, Listeners, serve, serve_with_busy_reply};
pub use stream::MaybeTls;
pub use timeout::with_timeout;
pub use tls::{
    CertStatus, TlsAcceptor, TlsError, acceptor, certificate_fingerprint,
    certificate_is_self_signed, certificate_names, ensure_certificate, ensure_certificate_for,
    fingerprint_of, server_config,
};
pub use tokio_util::sync::CancellationToken;
