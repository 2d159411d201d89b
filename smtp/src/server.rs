//! The SMTP service: prepares `mail/` and `logs/` (finishing what a crashed process left), starts
//! the committer, binds the listeners (implicit TLS and plain with STARTTLS), and runs every
//! connection as a [`session`](crate::session) in its own task.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use journal::IdGenerator;
use journal::session_log::SessionLog;
use journal::store::MailStore;
use net::credentials::CredentialCheck;
use net::{CancellationToken, Limits, ListenerSpec, Listeners, TlsAcceptor};

use crate::commit::Committer;
use crate::data::DataLimits;
use crate::recipients::Recipients;

/// Limits of the SMTP protocol (SPEC §6); the connection limit is in [`net::Limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmtpLimits {
    /// Largest message accepted (`SIZE` in EHLO).
    pub max_message_bytes: usize,
    /// Recipients per message.
    pub max_recipients: usize,
    /// Messages per session (submission); at most 65,535, the id's 4 hex digits.
    pub max_messages_per_session: usize,
    /// Longest line inside a message, CRLF included.
    pub max_line_bytes: usize,
    /// Bytes all messages of one submission may add up to: the grader reads a whole
    /// submission at once, so one session must not be able to fill memory or the disk.
    pub max_submission_bytes: usize,
    /// Sessions silent this long are closed with `421 4.4.2`.
    pub idle_timeout: Duration,
}

impl Default for SmtpLimits {
    /// 10 MiB messages, 64 MiB per submission, 100 recipients, 1,000 messages per session,
    /// 64 KiB lines, 300 s idle (RFC 5321 §4.5.3.2.7 asks for at least five minutes).
    fn default() -> Self {
        Self {
            max_message_bytes: 10 * 1024 * 1024,
            max_recipients: 100,
            max_messages_per_session: 1000,
            max_line_bytes: 64 * 1024,
            max_submission_bytes: 64 * 1024 * 1024,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

impl SmtpLimits {
    pub(crate) fn data(&self) -> DataLimits {
        DataLimits {
            max_message_bytes: self.max_message_bytes,
            max_line_bytes: self.max_line_bytes,
        }
    }
}

/// What every session of one server shares; read-only after start.
pub struct SmtpContext {
    /// The course's mail domain and the server's name: addresses are `user@hostname`.
    pub hostname: String,
    /// Where messages are stored.
    pub mail: MailStore,
    /// Where session records go.
    pub logs: SessionLog,
    /// Checks logins.
    pub credentials: Arc<dyn CredentialCheck>,
    /// Says which recipients exist.
    pub recipients: Arc<dyn Recipients>,
    /// The process's one id generator (ids must be unique across processes and restarts).
    pub ids: Arc<IdGenerator>,
    /// Protocol limits.
    pub limits: SmtpLimits,
}

/// The context plus the committer: what a session task holds.
pub(crate) struct Shared {
    pub(crate) ctx: SmtpContext,
    pub(crate) committer: Committer,
    /// Client Message-IDs of stored mail, for threads (SPEC §4).
    pub(crate) message_ids: crate::threads::MessageIdIndex,
}

/// Reply to a client over the connection limit (plain listeners only).
const BUSY: &[u8] = b"421 4.3.2 too many connections, try again later\r\n";

/// An SMTP server whose listeners are bound but not yet accepting.
pub struct SmtpServer {
    listeners: Listeners,
    shared: Arc<Shared>,
}

impl SmtpServer {
    /// Finishes what a stopped process left behind (stale temporaries in `mail/`, open session
    /// records nobody holds), starts the committer and binds every listener. Implicit-TLS
    /// listeners need `tls`; plain ones offer STARTTLS when it is given. Errors say what failed.
    pub fn bind(
        specs: &[ListenerSpec],
        tls: Option<TlsAcceptor>,
        limits: Limits,
        ctx: SmtpContext,
    ) -> io::Result<Self> {
        if ctx.limits.max_messages_per_session > usize::from(u16::MAX) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "max_messages_per_session is {} but message ids number at most {} messages \
                     per session; lower it",
                    ctx.limits.max_messages_per_session,
                    u16::MAX
                ),
            ));
        }
        ctx.logs.create_dirs().map_err(io::Error::other)?;
        ctx.mail
            .remove_stale_temporaries()
            .map_err(io::Error::other)?;
        ctx.logs
            .finalise_stale(&ctx.mail)
            .map_err(io::Error::other)?;
        let listeners = Listeners::bind("SMTP", specs, tls, limits)?;
        let committer = Committer::start(ctx.mail.clone(), ctx.logs.clone())?;
        let message_ids = crate::threads::MessageIdIndex::new(ctx.mail.clone());
        message_ids.fill_in_background();
        Ok(Self {
            listeners,
            shared: Arc::new(Shared {
                ctx,
                committer,
                message_ids,
            }),
        })
    }

    /// The listeners as bound (with the real port where 0 was asked for).
    pub fn local_addrs(&self) -> Vec<(SocketAddr, net::Security)> {
        self.listeners.local_addrs()
    }

    /// Serves until `shutdown` is cancelled. Sessions still open then answer `421` and close
    /// their submissions on their own.
    pub async fn run(self, shutdown: CancellationToken) -> io::Result<()> {
        let shared = self.shared;
        let handler = move |conn| crate::session::run(conn, shared.clone());
        self.listeners.run(BUSY, shutdown, handler).await
    }
}
