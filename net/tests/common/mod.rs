//! Helpers shared by the integration tests: a TLS client that trusts the generated certificate,
//! a server started on 127.0.0.1:0, and a guard that turns a hang into a failure.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use net::{CancellationToken, Connection, Limits, ListenerSpec, Security, TlsAcceptor};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

/// Fails the test instead of hanging it when a step never completes. Not a timing assertion:
/// every step finishes in milliseconds; the limit only bounds a broken build.
pub async fn within<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .expect("test step hung for 30 s")
}

/// A fresh TLS directory with a generated pair, and the acceptor built from it.
pub fn tls_setup() -> (tempfile::TempDir, TlsAcceptor) {
    let dir = tempfile::tempdir().unwrap();
    let tls_dir = dir.path().join("tls");
    net::ensure_certificate(&tls_dir, "mail.example.org").unwrap();
    let acceptor = net::acceptor(net::server_config(&tls_dir).unwrap());
    (dir, acceptor)
}

/// A client connector whose only trust anchor is the certificate in `data_dir/tls/cert.pem`.
pub fn connector(data_dir: &Path) -> TlsConnector {
    let cert = CertificateDer::from_pem_file(data_dir.join("tls/cert.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// The name clients verify the certificate against.
pub fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}

/// A running `serve()` on 127.0.0.1 with its address, shutdown token and task.
pub struct Running {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Starts `serve()` on an ephemeral loopback port.
pub async fn start<H, F>(
    security: Security,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    handler: H,
) -> Running
where
    H: Fn(Connection) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let listener = net::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let spec = ListenerSpec {
        addr,
        security,
        trusted: false,
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(net::serve(
        listener,
        spec,
        tls,
        limits,
        shutdown.clone(),
        handler,
    ));
    Running {
        addr,
        shutdown,
        task,
    }
}

/// Reads one line (with its terminator) from a buffered client stream; empty at EOF.
pub async fn read_reply<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> String {
    let mut line = String::new();
    within(reader.read_line(&mut line)).await.unwrap();
    line
}
