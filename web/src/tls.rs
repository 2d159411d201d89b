//! HTTPS without a proxy (`[web] tls = true`): a [`Listener`] that accepts TCP connections and
//! hands axum only those whose TLS handshake finished, with net's certificate and acceptor.
//!
//! Handshakes run in their own tasks, bounded by [`HANDSHAKE_TIMEOUT`]: done inline in
//! `accept`, one client that opens a connection and stays silent would stall every other
//! visitor until it timed out.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::serve::Listener;
use net::TlsAcceptor;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

/// Longest a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes finished but not yet taken by the server; beyond this, handshake tasks wait.
const READY_QUEUE: usize = 64;

/// A TCP listener that yields TLS streams.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    ready_tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    ready_rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Serves TLS with `acceptor` on connections accepted by `tcp`.
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> TlsListener {
        let (ready_tx, ready_rx) = mpsc::channel(READY_QUEUE);
        TlsListener {
            tcp,
            acceptor,
            ready_tx,
            ready_rx,
        }
    }

    /// Starts the handshake of one accepted connection in its own task.
    fn handshake(&self, tcp: TcpStream, peer: SocketAddr) {
        let acceptor = self.acceptor.clone();
        let ready = self.ready_tx.clone();
        tokio::spawn(async move {
            match net::with_timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(tls) => {
                    // Fails only when the server has stopped: the connection is just dropped.
                    let _ = ready.send((tls, peer)).await;
                }
                Err(e) => tracing::debug!(%peer, error = %e, "web TLS handshake failed"),
            }
        });
    }
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The acceptor holds key material and has no Debug of its own.
        f.debug_struct("TlsListener")
            .field("tcp", &self.tcp)
            .finish_non_exhaustive()
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // Both branches are cancel-safe, so axum may drop this future at shutdown.
            tokio::select! {
                Some(ready) = self.ready_rx.recv() => return ready,
                accepted = self.tcp.accept() => match accepted {
                    Ok((tcp, peer)) => self.handshake(tcp, peer),
                    Err(e) => {
                        // Out of file descriptors and the like: retrying at once would spin.
                        tracing::warn!(error = %e, "web: accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
