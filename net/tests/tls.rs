//! TLS end to end over loopback: implicit TLS through `serve()`, a STARTTLS-style upgrade in the
//! middle of a plain session, and the handshake limits.

mod common;

use std::time::Duration;

use common::{connector, localhost, read_reply, start, tls_setup, within};
use net::{Limits, Line, LineReader, MaybeTls, Security};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Echoes one line back, prefixed with whether the connection is TLS.
async fn echo_one_line(conn: net::Connection) {
    let tls = conn.stream.is_tls();
    let mut reader = LineReader::new(conn.stream, 512);
    let Ok(Some(Line::Complete(line))) = reader.read_line().await else {
        return;
    };
    let reply = format!("tls={tls} {}\r\n", String::from_utf8_lossy(line));
    let _ = reader.get_mut().write_all(reply.as_bytes()).await;
}

#[tokio::test]
async fn implicit_tls_round_trip_echoes_a_line() {
    let (dir, acceptor) = tls_setup();
    let server = start(
        Security::ImplicitTls,
        Some(acceptor),
        Limits::default(),
        echo_one_line,
    )
    .await;

    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let mut tls = within(connector(dir.path()).connect(localhost(), tcp))
        .await
        .unwrap();
    tls.write_all(b"hello over tls\r\n").await.unwrap();
    let mut reader = BufReader::new(tls);
    assert_eq!(read_reply(&mut reader).await, "tls=true hello over tls\r\n");
}

#[tokio::test]
async fn plain_session_upgrades_in_place_after_starttls() {
    let (dir, acceptor) = tls_setup();
    let server = start(
        Security::Plain,
        Some(acceptor),
        Limits::default(),
        |conn: net::Connection| async move {
            let Some(acceptor) = conn.tls.clone() else {
                return;
            };
            let mut reader = LineReader::new(conn.stream, 512);
            let _ = reader.get_mut().write_all(b"220 ready\r\n").await;
            let Ok(Some(Line::Complete(b"STARTTLS"))) = reader.read_line().await else {
                return;
            };
            let _ = reader.get_mut().write_all(b"220 2.0.0 go ahead\r\n").await;
            // RFC 3207 §4.2: nothing read before the handshake may survive it.
            let (stream, _discarded) = reader.into_inner();
            let upgrade = stream.upgrade(&acceptor);
            let Ok(stream) = net::with_timeout(conn.tls_handshake_timeout, upgrade).await else {
                return;
            };
            echo_one_line(net::Connection { stream, ..conn }).await;
        },
    )
    .await;

    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let mut plain = BufReader::new(tcp);
    assert_eq!(read_reply(&mut plain).await, "220 ready\r\n");
    plain.get_mut().write_all(b"STARTTLS\r\n").await.unwrap();
    assert_eq!(read_reply(&mut plain).await, "220 2.0.0 go ahead\r\n");
    assert!(plain.buffer().is_empty());

    let tcp = plain.into_inner();
    let mut tls = within(connector(dir.path()).connect(localhost(), tcp))
        .await
        .unwrap();
    tls.write_all(b"secret\r\n").await.unwrap();
    let mut reader = BufReader::new(tls);
    assert_eq!(read_reply(&mut reader).await, "tls=true secret\r\n");
}

#[tokio::test]
async fn silent_client_does_not_hold_up_other_tls_handshakes() {
    let (dir, acceptor) = tls_setup();
    let limits = Limits {
        max_connections: 10,
        tls_handshake_timeout: Duration::from_secs(600),
        ..Limits::default()
    };
    let server = start(Security::ImplicitTls, Some(acceptor), limits, echo_one_line).await;

    // Connected, but never says a word: its handshake waits in its own task.
    let _silent = TcpStream::connect(server.addr).await.unwrap();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let mut tls = within(connector(dir.path()).connect(localhost(), tcp))
        .await
        .unwrap();
    tls.write_all(b"next\r\n").await.unwrap();
    let mut reader = BufReader::new(tls);
    assert_eq!(read_reply(&mut reader).await, "tls=true next\r\n");
}

#[tokio::test]
async fn handshake_timeout_closes_a_silent_client() {
    let (_dir, acceptor) = tls_setup();
    let limits = Limits {
        max_connections: 10,
        tls_handshake_timeout: Duration::from_millis(50),
        ..Limits::default()
    };
    let server = start(Security::ImplicitTls, Some(acceptor), limits, echo_one_line).await;

    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut byte = [0u8; 1];
    let read = within(silent.read(&mut byte)).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test]
async fn second_upgrade_of_a_tls_connection_is_refused() {
    let (dir, acceptor) = tls_setup();
    let (report, mut reports) = mpsc::unbounded_channel();
    let again = acceptor.clone();
    let server = start(
        Security::ImplicitTls,
        Some(acceptor),
        Limits::default(),
        move |conn: net::Connection| {
            let report = report.clone();
            let again = again.clone();
            async move {
                let result = conn.stream.upgrade(&again).await;
                let _ = report.send(result.err().map(|err| err.kind()));
            }
        },
    )
    .await;

    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let _tls = within(connector(dir.path()).connect(localhost(), tcp))
        .await
        .unwrap();
    let kind = within(reports.recv()).await.unwrap();
    assert_eq!(kind, Some(std::io::ErrorKind::InvalidInput));
}

#[tokio::test]
async fn implicit_tls_listener_without_acceptor_is_refused() {
    let server = start(
        Security::ImplicitTls,
        None,
        Limits::default(),
        |_conn: net::Connection| async {},
    )
    .await;
    let err = within(server.task).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains(&server.addr.to_string()), "{err}");
}

#[tokio::test]
async fn tls_stream_reports_negotiated_session() {
    let (dir, acceptor) = tls_setup();
    let (report, mut reports) = mpsc::unbounded_channel();
    let server = start(
        Security::ImplicitTls,
        Some(acceptor),
        Limits::default(),
        move |conn: net::Connection| {
            let report = report.clone();
            async move {
                let version = match &conn.stream {
                    MaybeTls::Tls(_) => conn
                        .stream
                        .tls_connection()
                        .and_then(|c| c.protocol_version()),
                    MaybeTls::Plain(_) => None,
                };
                let _ = report.send(version);
            }
        },
    )
    .await;

    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let _tls = within(connector(dir.path()).connect(localhost(), tcp))
        .await
        .unwrap();
    let version = within(reports.recv()).await.unwrap();
    assert_eq!(version, Some(rustls::ProtocolVersion::TLSv1_3));
}
