//! The accept loop: connection limit, isolation of a panicking handler, shutdown.

mod common;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use common::{read_reply, start, within};
use net::{CancellationToken, Connection, Limits, Line, LineReader, ListenerSpec, Security};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

fn limit(max_connections: usize) -> Limits {
    Limits {
        max_connections,
        tls_handshake_timeout: Duration::from_secs(10),
        ..Limits::default()
    }
}

/// Greets, then echoes lines until EOF or shutdown; panics on the line "panic".
async fn greet_and_echo(conn: Connection) {
    let shutdown = conn.shutdown.clone();
    let mut reader = LineReader::new(conn.stream, 512);
    if reader.get_mut().write_all(b"+OK hello\r\n").await.is_err() {
        return;
    }
    loop {
        let line = tokio::select! {
            () = shutdown.cancelled() => {
                let _ = reader.get_mut().write_all(b"-ERR shutting down\r\n").await;
                return;
            }
            line = reader.read_line() => line,
        };
        let reply = match line {
            Ok(Some(Line::Complete(b"panic"))) => panic!("handler asked to panic"),
            Ok(Some(Line::Complete(line))) => [line, b"\r\n"].concat(),
            Ok(Some(Line::TooLong)) => b"-ERR too long\r\n".to_vec(),
            Ok(None) | Err(_) => return,
        };
        if reader.get_mut().write_all(&reply).await.is_err() {
            return;
        }
    }
}

/// Connects and returns the greeting line ("" if the server closed at once).
async fn connect(addr: SocketAddr) -> (BufReader<TcpStream>, String) {
    let mut client = BufReader::new(TcpStream::connect(addr).await.unwrap());
    let greeting = read_reply(&mut client).await;
    (client, greeting)
}

/// Connects until a connection is greeted: a freed slot is released just after its handler
/// returns, so the first attempts may still be refused. Bounded, and fails if never greeted.
async fn connect_when_slot_frees(addr: SocketAddr) -> BufReader<TcpStream> {
    for _ in 0..500 {
        let (client, greeting) = connect(addr).await;
        if greeting == "+OK hello\r\n" {
            return client;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no connection slot was freed");
}

#[tokio::test]
async fn connection_over_the_limit_is_closed_at_once() {
    let server = start(Security::Plain, None, limit(2), greet_and_echo).await;
    let (first, greeting) = connect(server.addr).await;
    assert_eq!(greeting, "+OK hello\r\n");
    let (_second, greeting) = connect(server.addr).await;
    assert_eq!(greeting, "+OK hello\r\n");

    let (mut third, greeting) = connect(server.addr).await;
    assert_eq!(greeting, "", "third connection was served");
    let mut rest = Vec::new();
    let closed = within(third.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");

    drop(first);
    let mut fourth = connect_when_slot_frees(server.addr).await;
    fourth
        .get_mut()
        .write_all(b"still serving\r\n")
        .await
        .unwrap();
    assert_eq!(read_reply(&mut fourth).await, "still serving\r\n");
}

#[tokio::test]
async fn connection_over_the_limit_gets_the_busy_reply() {
    let listener = net::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let spec = ListenerSpec {
        addr,
        security: Security::Plain,
        trusted: false,
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(net::serve_with_busy_reply(
        listener,
        spec,
        None,
        limit(1),
        b"-ERR [SYS/TEMP] too busy\r\n".to_vec(),
        shutdown.clone(),
        greet_and_echo,
    ));
    let (_first, greeting) = connect(addr).await;
    assert_eq!(greeting, "+OK hello\r\n");
    let (_second, greeting) = connect(addr).await;
    assert_eq!(greeting, "-ERR [SYS/TEMP] too busy\r\n");
    shutdown.cancel();
}

#[tokio::test]
async fn panicking_handler_does_not_stop_other_connections() {
    // One slot only: the panicking connection must also give its slot back.
    let server = start(Security::Plain, None, limit(1), greet_and_echo).await;
    let (mut doomed, greeting) = connect(server.addr).await;
    assert_eq!(greeting, "+OK hello\r\n");
    doomed.get_mut().write_all(b"panic\r\n").await.unwrap();
    assert_eq!(
        read_reply(&mut doomed).await,
        "",
        "panicked connection not closed"
    );

    let mut next = connect_when_slot_frees(server.addr).await;
    next.get_mut().write_all(b"alive\r\n").await.unwrap();
    assert_eq!(read_reply(&mut next).await, "alive\r\n");
    assert!(!server.task.is_finished());
}

#[tokio::test]
async fn shutdown_stops_accepting_and_open_sessions_see_it() {
    let server = start(Security::Plain, None, limit(10), greet_and_echo).await;
    let (mut open, greeting) = connect(server.addr).await;
    assert_eq!(greeting, "+OK hello\r\n");

    server.shutdown.cancel();
    within(server.task).await.unwrap().unwrap();

    let refused = TcpStream::connect(server.addr).await;
    assert_eq!(
        refused.map(|_| ()).unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
    assert_eq!(read_reply(&mut open).await, "-ERR shutting down\r\n");
}

#[tokio::test]
async fn connection_carries_addresses_and_listener_settings() {
    let listener = net::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let spec = ListenerSpec {
        addr,
        security: Security::Plain,
        trusted: true,
    };
    let (report, mut reports) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    tokio::spawn(net::serve(
        listener,
        spec,
        None,
        limit(10),
        shutdown.clone(),
        move |conn: Connection| {
            let report = report.clone();
            async move {
                let _ = report.send((conn.peer, conn.local, conn.trusted, conn.tls.is_some()));
            }
        },
    ));
    let client = TcpStream::connect(addr).await.unwrap();
    let (peer, local, trusted, starttls) = within(reports.recv()).await.unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    assert_eq!(local, addr);
    assert!(trusted);
    assert!(!starttls, "STARTTLS offered without a certificate");
    shutdown.cancel();
}
