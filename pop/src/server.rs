//! The POP3 service: binds its listeners (implicit TLS and plain with STLS), and runs every
//! connection as a [`session`](crate::session) in its own task.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use journal::store::MailStore;
use net::credentials::CredentialCheck;
use net::{CancellationToken, Limits, ListenerSpec, Listeners, TlsAcceptor};

use crate::deletions::DeletionStore;

/// What every session of one server shares; read-only after start.
pub struct PopContext {
    /// Name in the greeting.
    pub hostname: String,
    /// The journal file (read only).
    pub journal: PathBuf,
    /// The mail store (read only).
    pub mail: MailStore,
    /// Per-user deletions under `pop/` (the only thing pop writes).
    pub deletions: DeletionStore,
    /// Checks logins.
    pub credentials: Arc<dyn CredentialCheck>,
    /// Idle time after which a session is closed (RFC 1939: at least 10 minutes).
    pub idle_timeout: Duration,
}

/// Reply to a client over the connection limit (plain listeners only).
const BUSY: &[u8] = b"-ERR [SYS/TEMP] too many connections, try again later\r\n";

/// A POP3 server whose listeners are bound but not yet accepting.
pub struct PopServer {
    listeners: Listeners,
    ctx: Arc<PopContext>,
}

impl PopServer {
    /// Binds every listener. Implicit-TLS listeners need `tls`; plain ones offer STLS when it is
    /// given. Errors name the address that could not be bound.
    pub fn bind(
        specs: &[ListenerSpec],
        tls: Option<TlsAcceptor>,
        limits: Limits,
        ctx: PopContext,
    ) -> io::Result<Self> {
        Ok(Self {
            listeners: Listeners::bind("POP3", specs, tls, limits)?,
            ctx: Arc::new(ctx),
        })
    }

    /// The listeners as bound (with the real port where 0 was asked for).
    pub fn local_addrs(&self) -> Vec<(SocketAddr, net::Security)> {
        self.listeners.local_addrs()
    }

    /// Serves until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> io::Result<()> {
        let ctx = self.ctx;
        let handler = move |conn| crate::session::run(conn, ctx.clone());
        self.listeners.run(BUSY, shutdown, handler).await
    }
}
