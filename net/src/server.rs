//! The accept loop every service runs: connection limit, one task per connection, implicit TLS
//! handshakes off the loop, and shutdown. Sessions only ever see a finished [`Connection`].

use std::any::Any;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::listener::{ListenerSpec, Security};
use crate::stream::MaybeTls;
use crate::timeout::with_timeout;
use crate::tls::TlsAcceptor;

/// Pause after an accept error that means we are out of resources (EMFILE, ENFILE, ENOMEM):
/// retrying at once would spin on the same error at 100 % CPU.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; further ones are accepted and closed straight away.
    pub max_connections: usize,
    /// Longest a TLS handshake may take (implicit TLS here, STARTTLS/STLS in the session via
    /// [`Connection::tls_handshake_timeout`]) before the connection is dropped.
    pub tls_handshake_timeout: Duration,
    /// Connections one client address (an IPv6 /64) may hold at once, so that one host cannot
    /// take every slot; 0 for no limit. Loopback clients are exempt (local tools, a proxy on the
    /// same machine).
    pub max_per_address: usize,
}

impl Default for Limits {
    /// 10,000 connections, 256 per client address, and a 30-second handshake.
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            tls_handshake_timeout: Duration::from_secs(30),
            max_per_address: 256,
        }
    }
}

/// An accepted connection, handed to the service's handler in its own task.
pub struct Connection {
    /// The stream: already TLS on an implicit-TLS listener, plain otherwise.
    pub stream: MaybeTls,
    /// The client's address.
    pub peer: SocketAddr,
    /// The local address the client connected to.
    pub local: SocketAddr,
    /// Credentials may be accepted without TLS ([`ListenerSpec::trusted`]).
    pub trusted: bool,
    /// The acceptor for STARTTLS/STLS: `Some` only on a plain listener that has TLS, so
    /// "offer STARTTLS" is `tls.is_some() && !stream.is_tls()`.
    pub tls: Option<TlsAcceptor>,
    /// Limit for the STARTTLS/STLS handshake, from [`Limits::tls_handshake_timeout`].
    pub tls_handshake_timeout: Duration,
    /// Cancelled when the service shuts down; the session should say goodbye and close.
    pub shutdown: CancellationToken,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // By hand: TlsAcceptor has no Debug; whether STARTTLS is available is what matters.
        f.debug_struct("Connection")
            .field("stream", &self.stream)
            .field("peer", &self.peer)
            .field("local", &self.local)
            .field("trusted", &self.trusted)
            .field("starttls_available", &self.tls.is_some())
            .field("tls_handshake_timeout", &self.tls_handshake_timeout)
            .field("shutdown", &self.shutdown)
            .finish()
    }
}

/// Accepts connections on `listener` until `shutdown` is cancelled, running `handler` for each
/// in its own task. A connection over [`Limits::max_connections`] is accepted and closed at
/// once without a word; see [`serve_with_busy_reply`] to send one.
///
/// For [`Security::ImplicitTls`] the handshake runs inside the connection's task, bounded by
/// [`Limits::tls_handshake_timeout`], so a slow client never holds up the accept loop; `tls`
/// must then be `Some`. On a [`Security::Plain`] listener `tls` is passed on for STARTTLS/STLS.
///
/// A handler that fails or panics ends only its own connection (the panic is logged). Returns
/// `Ok(())` when `shutdown` is cancelled, closing the listening socket; connections already
/// running are not waited for: they observe [`Connection::shutdown`] themselves.
pub async fn serve<H, F>(
    listener: TcpListener,
    spec: ListenerSpec,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    shutdown: CancellationToken,
    handler: H,
) -> io::Result<()>
where
    H: Fn(Connection) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    accept_loop(listener, spec, tls, limits, None, shutdown, handler).await
}

/// Like [`serve`], but a connection over the limit first gets `busy_reply` (e.g. SMTP's
/// `421 4.3.2 HOST too busy, try again later\r\n`, POP3's `-ERR [SYS/TEMP] too busy\r\n`).
///
/// The reply is written once, without waiting, and only on plain listeners: on an
/// implicit-TLS listener it would cost a full handshake per refused client, exactly when the
/// server is overloaded, so those connections are just closed.
pub async fn serve_with_busy_reply<H, F>(
    listener: TcpListener,
    spec: ListenerSpec,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    busy_reply: Vec<u8>,
    shutdown: CancellationToken,
    handler: H,
) -> io::Result<()>
where
    H: Fn(Connection) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let busy_reply = (spec.security == Security::Plain).then_some(busy_reply);
    accept_loop(listener, spec, tls, limits, busy_reply, shutdown, handler).await
}

/// The listeners of one service, bound and ready to serve: `coursemail up` binds every service
/// first (so a port in use fails before anything starts, and port 0 is resolved for printing),
/// then runs them all.
pub struct Listeners {
    bound: Vec<(ListenerSpec, TcpListener)>,
    tls: Option<TlsAcceptor>,
    limits: Limits,
}

impl Listeners {
    /// Binds every listener of `specs`. Implicit-TLS listeners need `tls`; plain ones offer
    /// STARTTLS/STLS when it is given. `service` names the service in errors.
    pub fn bind(
        service: &str,
        specs: &[ListenerSpec],
        tls: Option<TlsAcceptor>,
        limits: Limits,
    ) -> io::Result<Self> {
        let mut bound = Vec::with_capacity(specs.len());
        for spec in specs {
            if spec.security == Security::ImplicitTls && tls.is_none() {
                return Err(io::Error::other(format!(
                    "{service} listener {} wants TLS but no certificate is loaded",
                    spec.addr
                )));
            }
            let listener = crate::listener::bind(spec.addr)?;
            let mut actual = *spec;
            actual.addr = listener.local_addr()?;
            bound.push((actual, listener));
        }
        Ok(Self { bound, tls, limits })
    }

    /// The listeners as bound (with the real port where 0 was asked for).
    pub fn local_addrs(&self) -> Vec<(SocketAddr, Security)> {
        self.bound
            .iter()
            .map(|(s, _)| (s.addr, s.security))
            .collect()
    }

    /// Serves every listener with `handler` until `shutdown` is cancelled; a client over the
    /// connection limit gets `busy_reply` (see [`serve_with_busy_reply`]).
    pub async fn run<H, F>(
        self,
        busy_reply: &[u8],
        shutdown: CancellationToken,
        handler: H,
    ) -> io::Result<()>
    where
        H: Fn(Connection) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let mut tasks = tokio::task::JoinSet::new();
        for (spec, listener) in self.bound {
            tasks.spawn(serve_with_busy_reply(
                listener,
                spec,
                self.tls.clone(),
                self.limits,
                busy_reply.to_vec(),
                shutdown.clone(),
                handler.clone(),
            ));
        }
        while let Some(result) = tasks.join_next().await {
            result.map_err(io::Error::other)??;
        }
        Ok(())
    }
}

/// What every connection task of one listener shares.
struct Shared<H> {
    handler: H,
    /// Acceptor for the handshake at connect time (implicit TLS only).
    implicit_tls: Option<TlsAcceptor>,
    /// Acceptor handed to sessions for STARTTLS/STLS (plain listeners only).
    starttls: Option<TlsAcceptor>,
    trusted: bool,
    tls_handshake_timeout: Duration,
    shutdown: CancellationToken,
}

async fn accept_loop<H, F>(
    listener: TcpListener,
    spec: ListenerSpec,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    busy_reply: Option<Vec<u8>>,
    shutdown: CancellationToken,
    handler: H,
) -> io::Result<()>
where
    H: Fn(Connection) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let (implicit_tls, starttls) = match spec.security {
        Security::ImplicitTls if tls.is_none() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "listener {} is configured for implicit TLS but has no certificate; \
                     load one with net::server_config or make the listener plain",
                    spec.addr
                ),
            ));
        }
        Security::ImplicitTls => (tls, None),
        Security::Plain => (None, tls),
    };
    let shared = Arc::new(Shared {
        handler,
        implicit_tls,
        starttls,
        trusted: spec.trusted,
        tls_handshake_timeout: limits.tls_handshake_timeout,
        shutdown: shutdown.clone(),
    });
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.min(Semaphore::MAX_PERMITS),
    ));
    let per_address = PerAddress::new(limits.max_per_address);
    let mut at_limit = false;
    info!(addr = %spec.addr, security = ?spec.security, trusted = spec.trusted, "listening");
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                let Some(pause) = accept_backoff(&err) else {
                    debug!(addr = %spec.addr, "a client left before it was accepted: {err}");
                    continue;
                };
                warn!(addr = %spec.addr, "cannot accept connections: {err}; retrying in {pause:?}");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(pause) => continue,
                }
            }
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            if !at_limit {
                warn!(
                    addr = %spec.addr, max = limits.max_connections,
                    "connection limit reached; refusing new connections until some close"
                );
                at_limit = true;
            }
            refuse(tcp, peer, busy_reply.as_deref());
            continue;
        };
        at_limit = false;
        let Some(seat) = per_address.enter(peer.ip()) else {
            debug!(%peer, max = limits.max_per_address, "too many connections from this address");
            refuse(tcp, peer, busy_reply.as_deref());
            continue;
        };
        tokio::spawn(run_connection(
            tcp,
            peer,
            Arc::clone(&shared),
            (permit, seat),
        ));
    }
    info!(addr = %spec.addr, "shutting down: no longer accepting connections");
    Ok(())
}

/// `None` for errors about one client that gave up (accept again at once), otherwise how long
/// to pause because the process or system is out of resources.
fn accept_backoff(err: &io::Error) -> Option<Duration> {
    match err.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionRefused
        | io::ErrorKind::Interrupted
        | io::ErrorKind::WouldBlock => None,
        _ => Some(ACCEPT_BACKOFF),
    }
}

/// Closes a connection over the limit, after a best-effort reply that never blocks the loop.
fn refuse(tcp: TcpStream, peer: SocketAddr, busy_reply: Option<&[u8]>) {
    debug!(%peer, "connection refused: too many connections");
    let Some(reply) = busy_reply else {
        return;
    };
    // A direct non-blocking write: tokio's try_write would refuse until the reactor has seen
    // the new socket become writable, which it has not yet at this point.
    let written = tcp
        .into_std()
        .and_then(|mut std_tcp| io::Write::write(&mut std_tcp, reply));
    if let Err(err) = written {
        debug!(%peer, "could not send the busy reply: {err}");
    }
}

/// Counts open connections per client address, for [`Limits::max_per_address`].
#[derive(Clone)]
struct PerAddress {
    max: usize,
    open: Arc<std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>>,
}

/// One connection's place in [`PerAddress`], given back when dropped.
struct Seat {
    table: Option<(PerAddress, IpAddr)>,
}

impl PerAddress {
    fn new(max: usize) -> Self {
        Self {
            max,
            open: Arc::default(),
        }
    }

    /// A seat for a connection from `ip`, or `None` if that address already holds `max`.
    fn enter(&self, ip: IpAddr) -> Option<Seat> {
        let ip = ip.to_canonical();
        if self.max == 0 || ip.is_loopback() {
            return Some(Seat { table: None });
        }
        let key = match ip {
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
            v4 => v4,
        };
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Seat {
            table: Some((self.clone(), key)),
        })
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        if let Some((table, key)) = self.table.take() {
            let mut open = table.open.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(count) = open.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&key);
                }
            }
        }
    }
}

/// One connection's task: the implicit TLS handshake if any, then the handler. Holds its
/// connection slot and its per-address seat (`_held`) until it ends, however it ends.
async fn run_connection<H, F>(
    tcp: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared<H>>,
    _held: (OwnedSemaphorePermit, Seat),
) where
    H: Fn(Connection) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let local = match tcp.local_addr() {
        Ok(local) => local,
        Err(err) => {
            debug!(%peer, "connection dropped before it could be served: {err}");
            return;
        }
    };
    // Replies are small and sessions pipeline; Nagle's algorithm would hold a reply back until
    // the client's delayed ACK (up to 40 ms) and cap a session at a few dozen commands a second.
    if let Err(err) = tcp.set_nodelay(true) {
        debug!(%peer, "cannot set TCP_NODELAY: {err}");
    }
    let stream = match &shared.implicit_tls {
        None => MaybeTls::Plain(tcp),
        Some(acceptor) => {
            // Boxed: the handshake state is over a kilobyte, and inline it would stay in every
            // connection's task for its whole life (a future is as large as its largest state).
            let handshake =
                with_timeout(shared.tls_handshake_timeout, Box::pin(acceptor.accept(tcp)));
            let result = tokio::select! {
                () = shared.shutdown.cancelled() => return,
                result = handshake => result,
            };
            match result {
                Ok(tls) => MaybeTls::Tls(Box::new(tls)),
                Err(err) => {
                    debug!(%peer, "TLS handshake failed: {err}");
                    return;
                }
            }
        }
    };
    let connection = Connection {
        stream,
        peer,
        local,
        trusted: shared.trusted,
        tls: shared.starttls.clone(),
        tls_handshake_timeout: shared.tls_handshake_timeout,
        shutdown: shared.shutdown.clone(),
    };
    if let Err(panic) = catch_unwind((shared.handler)(connection)).await {
        error!(%peer, "connection handler panicked: {}", panic_message(panic.as_ref()));
    }
}

/// Runs `fut`, turning a panic inside it into `Err` so it can be logged with the peer's
/// address. tokio would contain the panic anyway, but silently from the service's view.
async fn catch_unwind<F: Future<Output = ()>>(fut: F) -> Result<(), Box<dyn Any + Send>> {
    let mut fut = pin!(fut);
    std::future::poll_fn(|cx| {
        // AssertUnwindSafe: after a panic the future is dropped without being polled again,
        // so no broken state it holds is ever observed.
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    })
    .await
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(message) = panic.downcast_ref::<&str>() {
        message
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message
    } else {
        "(no message)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_cannot_hold_more_than_its_share() {
        let table = PerAddress::new(2);
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        let first = table.enter(a).unwrap();
        let _second = table.enter(a).unwrap();
        assert!(
            table.enter(a).is_none(),
            "third connection from one address refused"
        );
        assert!(
            table.enter("192.0.2.8".parse().unwrap()).is_some(),
            "others unaffected"
        );
        drop(first);
        assert!(
            table.enter(a).is_some(),
            "a closed connection gives its seat back"
        );
    }

    #[test]
    fn ipv6_addresses_share_a_slash_64_and_loopback_is_exempt() {
        let table = PerAddress::new(1);
        let _one = table.enter("2001:db8::1".parse().unwrap()).unwrap();
        assert!(table.enter("2001:db8::2".parse().unwrap()).is_none());
        assert!(table.enter("2001:db8:0:1::1".parse().unwrap()).is_some());
        let _l1 = table.enter("127.0.0.1".parse().unwrap()).unwrap();
        assert!(table.enter("127.0.0.1".parse().unwrap()).is_some());
        assert!(
            PerAddress::new(0)
                .enter("192.0.2.1".parse().unwrap())
                .is_some()
        );
    }

    #[test]
    fn client_that_gave_up_is_skipped_without_pause() {
        for kind in [
            io::ErrorKind::ConnectionAborted,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::Interrupted,
        ] {
            assert_eq!(accept_backoff(&io::Error::from(kind)), None, "{kind:?}");
        }
    }

    #[test]
    fn running_out_of_file_descriptors_pauses_the_loop() {
        const EMFILE: i32 = 24;
        const ENFILE: i32 = 23;
        for errno in [EMFILE, ENFILE] {
            let err = io::Error::from_raw_os_error(errno);
            assert_eq!(accept_backoff(&err), Some(ACCEPT_BACKOFF), "{err}");
        }
    }

    #[tokio::test]
    async fn panic_is_caught_with_its_message() {
        let panic = catch_unwind(async { panic!("boom {}", 42) })
            .await
            .unwrap_err();
        assert_eq!(panic_message(panic.as_ref()), "boom 42");
        let literal = catch_unwind(async { panic!("plain") }).await.unwrap_err();
        assert_eq!(panic_message(literal.as_ref()), "plain");
    }

    #[tokio::test]
    async fn finished_future_is_ok() {
        assert!(catch_unwind(async {}).await.is_ok());
    }
}
