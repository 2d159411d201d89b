//! [`MaybeTls`]: one connection, plain or TLS, behind a single `AsyncRead + AsyncWrite` type so
//! sessions are written once and work on both kinds of listener and across STARTTLS/STLS.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A server-side connection that is either plain TCP or TLS over TCP.
///
/// The TLS variant is boxed: its state is several kilobytes, and tens of thousands of idle plain
/// connections should not pay for it.
#[derive(Debug)]
pub enum MaybeTls {
    /// Plain TCP, before STARTTLS/STLS or on a listener without TLS.
    Plain(TcpStream),
    /// TLS, from the first byte (implicit TLS) or after an upgrade.
    Tls(Box<TlsStream<TcpStream>>),
}

impl MaybeTls {
    /// Whether the connection is encrypted: decides whether credentials may be sent
    /// (SPEC §6, §7) and whether STARTTLS/STLS is still offered.
    pub fn is_tls(&self) -> bool {
        matches!(self, MaybeTls::Tls(_))
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }

    /// The local address the peer connected to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().local_addr()
    }

    /// The underlying TCP socket, for socket options.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTls::Plain(tcp) => tcp,
            MaybeTls::Tls(tls) => tls.get_ref().0,
        }
    }

    /// The TLS session (protocol version, cipher suite, SNI) when the connection is encrypted,
    /// e.g. for a `Received:` header.
    pub fn tls_connection(&self) -> Option<&rustls::ServerConnection> {
        match self {
            MaybeTls::Plain(_) => None,
            MaybeTls::Tls(tls) => Some(tls.get_ref().1),
        }
    }

    /// Performs the server side of the TLS handshake on this connection in place: the body of
    /// STARTTLS (RFC 3207) and STLS (RFC 2595) once the "go ahead" reply has been sent.
    ///
    /// Before calling it, the session must throw away any bytes it read after the command
    /// ([`crate::LineReader::into_inner`]): anything sent before the handshake is unauthenticated
    /// plain text and must not be executed (RFC 3207 §4.2, the command-injection attack). Wrap
    /// the call in [`crate::with_timeout`].
    ///
    /// Fails with [`io::ErrorKind::InvalidInput`] if the connection already uses TLS (RFC 3207
    /// §4.2 forbids a second handshake); sessions should check [`MaybeTls::is_tls`] and refuse
    /// the command instead, since the connection is consumed either way.
    pub async fn upgrade(self, acceptor: &TlsAcceptor) -> io::Result<MaybeTls> {
        match self {
            MaybeTls::Plain(tcp) => Ok(MaybeTls::Tls(Box::new(acceptor.accept(tcp).await?))),
            MaybeTls::Tls(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the connection already uses TLS; refuse STARTTLS/STLS instead of upgrading again",
            )),
        }
    }
}

impl From<TcpStream> for MaybeTls {
    fn from(tcp: TcpStream) -> Self {
        MaybeTls::Plain(tcp)
    }
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            MaybeTls::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            MaybeTls::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            MaybeTls::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTls::Plain(tcp) => tcp.is_write_vectored(),
            MaybeTls::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            MaybeTls::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            MaybeTls::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

impl crate::line::LineReader<MaybeTls> {
    /// STARTTLS (SMTP) and STLS (POP3), after the server said yes: throws away whatever the
    /// client pipelined behind the command, which was sent in clear text before the handshake and
    /// may have been injected (RFC 3207 §4.2, RFC 2595 §4), then handshakes within `timeout`.
    /// Callers write their "go ahead" reply first.
    pub async fn start_tls(
        self,
        acceptor: &TlsAcceptor,
        timeout: std::time::Duration,
    ) -> io::Result<MaybeTls> {
        let (stream, _discarded) = self.into_inner();
        crate::timeout::with_timeout(timeout, stream.upgrade(acceptor)).await
    }
}
