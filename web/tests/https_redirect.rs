//! The redirect to HTTPS (`[web] redirect_listen`) and HSTS on the HTTPS dashboard, through a
//! real `WebServer` on 127.0.0.1: raw HTTP/1.1 on the redirect listener, a TLS client that
//! trusts only the generated certificate on the dashboard.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use accounts::{Accounts, Authenticator, Throttle, ThrottleConfig};
use denis::CourseDb;
use journal::DataRoot;
use net::CancellationToken;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use web::{AppState, HttpsOrigin, Site, WebServer};

/// A web server on 127.0.0.1 with TLS on the dashboard and a plain redirect listener sending
/// browsers to `origin`, running until `shutdown` is cancelled.
struct Running {
    dir: tempfile::TempDir,
    pages: SocketAddr,
    redirect: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

async fn start(origin: HttpsOrigin) -> Running {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let root = DataRoot::new(dir.path().to_path_buf());
    let accounts = Accounts::open(&root.accounts_db()).unwrap();
    let course = CourseDb::open(&root.course_db()).unwrap();
    let throttle = Throttle::new(ThrottleConfig::default());
    let auth = Authenticator::new(Arc::new(accounts), Arc::new(throttle));
    let state = AppState::new(auth, course, &root, Site::local("mail.example"));
    net::ensure_certificate(&root.tls_dir(), "mail.example").unwrap();
    let acceptor = net::acceptor(net::server_config(&root.tls_dir()).unwrap());
    let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let server = WebServer::bind(any_port, state)
        .await
        .unwrap()
        .with_redirect_listener(any_port, origin)
        .await
        .unwrap()
        .with_tls(acceptor);
    let pages = server.local_addr().unwrap();
    let (redirect, _) = server.redirect().unwrap().expect("a redirect listener");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.run(shutdown.clone()));
    Running {
        dir,
        pages,
        redirect,
        shutdown,
        task,
    }
}

/// A parsed reply: status, lowercase header names with their values, body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Writes `request` (which should say `Connection: close`) and reads the reply to its end.
async fn exchange(mut stream: impl AsyncRead + AsyncWrite + Unpin, request: &str) -> Reply {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    // A TLS peer may close without close_notify; what arrived before is the whole reply.
    let _ = stream.read_to_end(&mut raw).await;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP reply: {raw:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {raw:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

async fn plain(addr: SocketAddr, request: &str) -> Reply {
    exchange(TcpStream::connect(addr).await.unwrap(), request).await
}

async fn https(running: &Running, request: &str) -> Reply {
    let cert = CertificateDer::from_pem_file(running.dir.path().join("tls/cert.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(running.pages).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    exchange(connector.connect(name, tcp).await.unwrap(), request).await
}

fn get(target: &str, host: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

#[tokio::test]
async fn plain_http_is_sent_to_the_same_path_on_the_configured_https_host() {
    let running = start(HttpsOrigin::new("mail.example", 8443).unwrap()).await;
    // The Host header names another site: the redirect ignores it.
    let reply = plain(
        running.redirect,
        &get("/login?next=%2Fdashboard", "evil.example"),
    )
    .await;
    assert_eq!(reply.status, 308);
    assert_eq!(
        reply.header("location"),
        Some("https://mail.example:8443/login?next=%2Fdashboard")
    );
    assert!(reply.body.contains("https://mail.example:8443/login"));
    assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(
        reply.header("strict-transport-security"),
        None,
        "HSTS means nothing over plain HTTP"
    );
    running.stop().await;
}

#[tokio::test]
async fn every_method_is_redirected_and_keeps_its_target() {
    let running = start(HttpsOrigin::new("mail.example", 443).unwrap()).await;
    let post = "POST /register HTTP/1.1\r\nHost: mail.example\r\nContent-Type: \
                application/x-www-form-urlencoded\r\nContent-Length: 12\r\nConnection: \
                close\r\n\r\nstudent_id=1";
    let head = "HEAD /dashboard HTTP/1.1\r\nHost: mail.example\r\nConnection: close\r\n\r\n";
    for (request, location) in [
        (post, "https://mail.example/register"),
        (head, "https://mail.example/dashboard"),
        (&get("/", "mail.example"), "https://mail.example/"),
    ] {
        let reply = plain(running.redirect, request).await;
        assert_eq!(reply.status, 308, "{request:?}");
        assert_eq!(reply.header("location"), Some(location), "{request:?}");
    }
    running.stop().await;
}

#[tokio::test]
async fn targets_that_are_not_a_local_path_never_leave_the_site() {
    let running = start(HttpsOrigin::new("mail.example", 443).unwrap()).await;
    // Absolute form: the authority is ignored like the Host header, the path kept.
    let reply = plain(
        running.redirect,
        &get("http://evil.example/steal?x=1", "evil.example"),
    )
    .await;
    assert_eq!(reply.status, 308);
    assert_eq!(
        reply.header("location"),
        Some("https://mail.example/steal?x=1")
    );
    // Asterisk form has no path: the root.
    let options = "OPTIONS * HTTP/1.1\r\nHost: mail.example\r\nConnection: close\r\n\r\n";
    let reply = plain(running.redirect, options).await;
    assert_eq!(reply.status, 308);
    assert_eq!(reply.header("location"), Some("https://mail.example/"));
    // A protocol-relative-looking path stays a path on the site.
    let reply = plain(running.redirect, &get("//evil.example/x", "mail.example")).await;
    assert_eq!(
        reply.header("location"),
        Some("https://mail.example//evil.example/x")
    );
    running.stop().await;
}

#[tokio::test]
async fn the_https_dashboard_sends_hsts_and_the_redirect_listener_serves_no_page() {
    let running = start(HttpsOrigin::new("mail.example", 443).unwrap()).await;
    let page = https(&running, &get("/login", "localhost")).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    assert!(page.body.contains("name=\"csrf\""), "the login form");
    let redirect = plain(running.redirect, &get("/login", "localhost")).await;
    assert_eq!(redirect.status, 308);
    assert!(!redirect.body.contains("csrf"), "no page over plain HTTP");
    running.stop().await;
}
