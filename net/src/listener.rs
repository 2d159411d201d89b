//! What a listener is (address, plain or implicit TLS, trusted or not) and how its socket is
//! bound. The binary reads the configuration; this module only turns it into a listening socket.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

/// Pending connections the kernel may queue before we accept them. Bursts of 1,000+
/// submissions per second would overflow the usual default of 128 and look like refusals.
const BACKLOG: i32 = 1024;

/// How a listener secures its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain text first; STARTTLS (SMTP, RFC 3207) or STLS (POP3, RFC 2595) is offered when a
    /// TLS acceptor is available. 587-style and 110-style ports.
    Plain,
    /// TLS from the first byte (RFC 8314). 465-style and 995-style ports.
    ImplicitTls,
}

/// One listening address of a service, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerSpec {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Plain (with upgrade) or implicit TLS.
    pub security: Security,
    /// Credentials are accepted without TLS on this listener. Only for loopback tests: anywhere
    /// else it sends passwords in clear text (SPEC §6, §7).
    pub trusted: bool,
}

/// Binds a listening TCP socket on `addr` with `SO_REUSEADDR` (so a restarted service does not
/// wait for old connections in TIME_WAIT) and a backlog of 1024.
///
/// Must be called inside a tokio runtime; the error says so instead of panicking. Every error
/// names the address and, where the cause is common, what to do about it.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(io::Error::other(format!(
            "cannot listen on {addr}: bind() was called outside a tokio runtime; call it from async code"
        )));
    }
    let listener = open_socket(addr).map_err(|err| bind_error(addr, err))?;
    TcpListener::from_std(listener).map_err(|err| bind_error(addr, err))
}

fn open_socket(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Wraps a socket error so the message names the address and suggests a fix.
fn bind_error(addr: SocketAddr, err: io::Error) -> io::Error {
    let hint = match err.kind() {
        io::ErrorKind::AddrInUse => {
            "; another process already listens there: stop it or choose another port"
        }
        io::ErrorKind::PermissionDenied => {
            "; ports below 1024 need root or CAP_NET_BIND_SERVICE: use a higher port or grant it"
        }
        io::ErrorKind::AddrNotAvailable => {
            "; this machine has no such address: check the configured listen address"
        }
        _ => "",
    };
    io::Error::new(err.kind(), format!("cannot listen on {addr}: {err}{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bound_listener_accepts_connections() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let (_server_side, peer) = accepted.unwrap();
        assert_eq!(peer, client.unwrap().local_addr().unwrap());
    }

    #[tokio::test]
    async fn address_in_use_error_names_the_address_and_what_to_do() {
        let first = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = first.local_addr().unwrap();
        let err = bind(addr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        let message = err.to_string();
        assert!(message.contains(&addr.to_string()), "{message}");
        assert!(message.contains("choose another port"), "{message}");
    }

    #[test]
    fn bind_outside_runtime_is_an_error_not_a_panic() {
        let err = bind("127.0.0.1:0".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("outside a tokio runtime"), "{err}");
    }

    #[test]
    fn permission_error_suggests_a_higher_port() {
        let addr: SocketAddr = "0.0.0.0:465".parse().unwrap();
        let err = bind_error(addr, io::Error::from(io::ErrorKind::PermissionDenied));
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("0.0.0.0:465"));
        assert!(err.to_string().contains("CAP_NET_BIND_SERVICE"));
    }
}
