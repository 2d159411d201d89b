//! The SMTP server over real TCP connections: SPEC §6's behaviours, each rejection with its
//! reply code, the stored form and the session records. Real third-party clients (git
//! send-email, curl, smtplib, swaks) are exercised by `tests/e2e/smtp.sh`, crash safety by
//! `tests/e2e/smtp-crash.sh`.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use journal::session_log::SessionLog;
use journal::store::MailStore;
use journal::{DataRoot, IdGenerator, MessageId};
use net::credentials::{BoxFuture, CredentialCheck, Verdict};
use net::{CancellationToken, Limits, ListenerSpec, Security};
use smtp::{RecipientCheck, Recipients, SmtpContext, SmtpLimits, SmtpServer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Logins for tests: a fixed table; `slowpoke` is always throttled.
struct FixedLogins(HashMap<&'static str, &'static str>);

impl CredentialCheck for FixedLogins {
    fn check<'a>(&'a self, _: IpAddr, user: &'a str, pass: &'a str) -> BoxFuture<'a, Verdict> {
        let verdict = if user == "slowpoke" {
            Verdict::Throttled
        } else if self.0.get(user) == Some(&pass) {
            Verdict::Accepted(net::credentials::Identity {
                username: journal::Username::parse(user).unwrap(),
                full_name: format!("Full {user}"),
            })
        } else {
            Verdict::Rejected
        };
        Box::pin(async move { verdict })
    }
}

/// Recipients for tests: users, an assignment and a list; `flaky` cannot be checked.
struct FixedRecipients;

impl Recipients for FixedRecipients {
    fn check(&self, local_part: &str) -> RecipientCheck {
        match local_part {
            "alice" | "bob" | "hw1" | "list" => RecipientCheck::Exists,
            "flaky" => RecipientCheck::Unavailable,
            _ => RecipientCheck::Unknown,
        }
    }
}

const MAX_MESSAGE: usize = 20_000;
const MAX_LINE: usize = 1000;
const MAX_SUBMISSION: usize = 50_000;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    trusted: SocketAddr,
    untrusted: SocketAddr,
    tls: SocketAddr,
    shutdown: CancellationToken,
}

impl Fixture {
    async fn start() -> Self {
        Self::start_with(Duration::from_secs(300)).await
    }

    async fn start_with(idle_timeout: Duration) -> Self {
        // Under the target directory, where user xattrs are known to work.
        let dir = tempfile::Builder::new()
            .prefix("smtp-test-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let root = dir.path().to_path_buf();
        let data = DataRoot::new(&root);
        data.create().unwrap();
        net::ensure_certificate(&data.tls_dir(), "localhost").unwrap();
        let acceptor = net::acceptor(net::server_config(&data.tls_dir()).unwrap());
        let ctx = SmtpContext {
            hostname: "localhost".into(),
            mail: MailStore::new(data.mail_dir()),
            logs: SessionLog::new(data.logs_dir()),
            credentials: Arc::new(FixedLogins(HashMap::from([
                ("alice", "apw"),
                ("bob", "bpw"),
            ]))),
            recipients: Arc::new(FixedRecipients),
            ids: Arc::new(IdGenerator::new()),
            limits: SmtpLimits {
                max_message_bytes: MAX_MESSAGE,
                max_recipients: 3,
                max_messages_per_session: 1000,
                max_line_bytes: MAX_LINE,
                max_submission_bytes: MAX_SUBMISSION,
                idle_timeout,
            },
        };
        let any = "127.0.0.1:0".parse().unwrap();
        let spec = |security, trusted| ListenerSpec {
            addr: any,
            security,
            trusted,
        };
        let specs = [
            spec(Security::Plain, true),
            spec(Security::Plain, false),
            spec(Security::ImplicitTls, false),
        ];
        let server = SmtpServer::bind(&specs, Some(acceptor), Limits::default(), ctx).unwrap();
        let addrs = server.local_addrs();
        let shutdown = CancellationToken::new();
        tokio::spawn(server.run(shutdown.clone()));
        Fixture {
            _dir: dir,
            root,
            trusted: addrs[0].0,
            untrusted: addrs[1].0,
            tls: addrs[2].0,
            shutdown,
        }
    }

    fn data(&self) -> DataRoot {
        DataRoot::new(&self.root)
    }

    fn stored(&self) -> Vec<MessageId> {
        MailStore::new(self.data().mail_dir()).list().unwrap()
    }

    fn read(&self, id: &MessageId) -> Vec<u8> {
        std::fs::read(self.data().mail_dir().join(id.as_str())).unwrap()
    }

    fn logs(&self) -> SessionLog {
        SessionLog::new(self.data().logs_dir())
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A minimal line-level SMTP client.
struct Client<S> {
    io: BufReader<S>,
}

impl Client<TcpStream> {
    async fn connect(addr: SocketAddr) -> Self {
        let mut c = Client {
            io: BufReader::new(TcpStream::connect(addr).await.unwrap()),
        };
        let greeting = c.reply().await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        c
    }

    /// Connected to the trusted listener, EHLO'd and logged in as `user`.
    async fn login(addr: SocketAddr, user: &str, pass: &str) -> Self {
        let mut c = Self::connect(addr).await;
        c.expect("EHLO test", "250").await;
        c.expect(&format!("AUTH PLAIN {}", plain(user, pass)), "235 2.7.0")
            .await;
        c
    }
}

fn plain(user: &str, pass: &str) -> String {
    net::sasl::encode(format!("\0{user}\0{pass}").as_bytes())
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    async fn send_raw(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.unwrap();
    }

    async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    /// One whole reply (all lines of a multi-line one), lines joined with `\n`.
    async fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut buf = Vec::new();
            let n =
                tokio::time::timeout(Duration::from_secs(10), self.io.read_until(b'\n', &mut buf))
                    .await
                    .expect("server answered in time")
                    .unwrap();
            assert!(n > 0, "connection closed; got so far: {lines:?}");
            let line = String::from_utf8_lossy(&buf).trim_end().to_string();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    /// Sends a command and requires the reply to start with `prefix`.
    async fn expect(&mut self, line: &str, prefix: &str) -> String {
        self.send(line).await;
        let reply = self.reply().await;
        assert!(reply.starts_with(prefix), "{line} -> {reply}");
        reply
    }

    /// MAIL, RCPT and DATA with `message` (wire bytes up to, not including, the final dot).
    async fn transaction(&mut self, from: &str, rcpt: &str, message: &[u8]) -> String {
        self.expect(&format!("MAIL FROM:<{from}>"), "250 2.1.0")
            .await;
        self.expect(&format!("RCPT TO:<{rcpt}>"), "250 2.1.5").await;
        self.expect("DATA", "354").await;
        self.send_raw(message).await;
        self.send_raw(b".\r\n").await;
        self.reply().await
    }

    /// Sends a message and returns the id from the `250` reply.
    async fn submit(&mut self, from: &str, rcpt: &str, message: &[u8]) -> MessageId {
        let reply = self.transaction(from, rcpt, message).await;
        assert!(reply.starts_with("250 2.0.0 <"), "{reply}");
        stored_id(&reply)
    }

    /// Reads until the server closes the connection.
    async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), self.io.read_to_end(&mut rest))
            .await
            .map(|r| r.is_ok())
            .unwrap_or(false)
    }
}

fn stored_id(reply: &str) -> MessageId {
    let start = reply.find('<').unwrap() + 1;
    MessageId::parse(&reply[start..start + 30]).unwrap()
}

const SIMPLE: &[u8] = b"Subject: hello\r\n\r\nbody\r\n";

async fn tls_client(f: &Fixture, tcp: TcpStream) -> tokio_rustls::client::TlsStream<TcpStream> {
    use rustls_pki_types::pem::PemObject;
    let cert_path = f.data().tls_dir().join("cert.pem");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(&cert_path).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

#[tokio::test]
async fn ehlo_advertises_the_extensions_of_spec_section_6() {
    let f = Fixture::start().await;
    let mut c = Client::connect(f.trusted).await;
    let ehlo = c.expect("EHLO client.example", "250-localhost").await;
    for ext in [
        "PIPELINING",
        &format!("SIZE {MAX_MESSAGE}"),
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
        "AUTH PLAIN LOGIN",
        "STARTTLS",
    ] {
        assert!(
            ehlo.lines().any(|l| &l[4..] == ext),
            "{ext} missing in {ehlo}"
        );
    }
}

#[tokio::test]
async fn wrong_password_is_535_and_the_third_failure_closes() {
    let f = Fixture::start().await;
    let mut c = Client::connect(f.trusted).await;
    c.expect("EHLO test", "250").await;
    c.expect(
        &format!("AUTH PLAIN {}", plain("alice", "wrong")),
        "535 5.7.8",
    )
    .await;
    // An unknown user gets the very same answer.
    let unknown = c
        .expect(
            &format!("AUTH PLAIN {}", plain("mallory", "x")),
            "535 5.7.8",
        )
        .await;
    assert_eq!(unknown, "535 5.7.8 authentication credentials invalid");
    c.expect(
        &format!("AUTH PLAIN {}", plain("alice", "nope")),
        "535 5.7.8",
    )
    .await;
    assert!(c.reply().await.starts_with("421 4.7.0"));
    assert!(c.closed().await);
}

#[tokio::test]
async fn throttled_login_is_454_and_closes() {
    let f = Fixture::start().await;
    let mut c = Client::connect(f.trusted).await;
    c.expect("EHLO test", "250").await;
    c.expect(
        &format!("AUTH PLAIN {}", plain("slowpoke", "x")),
        "454 4.7.0",
    )
    .await;
    assert!(c.closed().await);
}

#[tokio::test]
async fn auth_before_tls_on_an_untrusted_listener_is_538_and_not_offered() {
    let f = Fixture::start().await;
    let mut c = Client::connect(f.untrusted).await;
    let ehlo = c.expect("EHLO test", "250").await;
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    assert!(ehlo.contains("STARTTLS"), "{ehlo}");
    c.expect(
        &format!("AUTH PLAIN {}", plain("alice", "apw")),
        "538 5.7.11",
    )
    .await;
    c.expect("MAIL FROM:<alice@localhost>", "530 5.7.0").await;
}

#[tokio::test]
async fn starttls_discards_pipelined_commands_then_auth_and_send_work() {
    let f = Fixture::start().await;
    let mut c = Client::connect(f.untrusted).await;
    c.expect("EHLO test", "250").await;
    // RFC 3207 §4.2: a command injected after STARTTLS in the same packet must be ignored.
    c.send_raw(b"STARTTLS\r\nNOOP\r\n").await;
    assert!(c.reply().await.starts_with("220 2.0.0"));
    let tcp = c.io.into_inner();
    let mut c = Client {
        io: BufReader::new(tls_client(&f, tcp).await),
    };
    // The first thing we read over TLS answers our EHLO, not the injected NOOP.
    let ehlo = c.expect("EHLO test", "250-localhost").await;
    assert!(
        ehlo.contains("AUTH PLAIN LOGIN") && !ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
    c.expect("STARTTLS", "503 5.5.1").await;
    c.expect(&format!("AUTH PLAIN {}", plain("alice", "apw")), "235")
        .await;
    let id = c.submit("alice@localhost", "hw1@localhost", SIMPLE).await;
    let stored = String::from_utf8(f.read(&id)).unwrap();
    assert!(stored.contains("with ESMTPSA id"), "{stored}");
}

#[tokio::test]
async fn implicit_tls_with_auth_login() {
    let f = Fixture::start().await;
    let tls = tls_client(&f, TcpStream::connect(f.tls).await.unwrap()).await;
    let mut c = Client {
        io: BufReader::new(tls),
    };
    assert!(c.reply().await.starts_with("220"));
    c.expect("EHLO test", "250").await;
    c.expect("AUTH LOGIN", "334 VXNlcm5hbWU6").await;
    c.expect(&net::sasl::encode(b"bob"), "334 UGFzc3dvcmQ6")
        .await;
    c.expect(&net::sasl::encode(b"bpw"), "235 2.7.0").await;
    c.submit("bob@localhost", "list@localhost", SIMPLE).await;
}

#[tokio::test]
async fn auth_plain_without_initial_response_and_cancellation() {
    let f = Fixture::start().await;
    let mut c = Client::connect(f.trusted).await;
    c.expect("EHLO test", "250").await;
    c.expect("AUTH PLAIN", "334").await;
    c.expect("*", "501 5.0.0").await;
    c.expect("AUTH CRAM-MD5", "504 5.5.4").await;
    c.expect("AUTH PLAIN", "334").await;
    c.expect(&plain("alice", "apw"), "235 2.7.0").await;
    c.expect("AUTH PLAIN", "503 5.5.1").await;
}

#[tokio::test]
async fn helo_works_but_allows_no_auth() {
    let f = Fixture::start().await;
    let mut c = Client::connect(f.trusted).await;
    let helo = c.expect("HELO test", "250").await;
    assert_eq!(helo, "250 localhost");
    c.expect(
        &format!("AUTH PLAIN {}", plain("alice", "apw")),
        "503 5.5.1",
    )
    .await;
}

#[tokio::test]
async fn sending_as_someone_else_is_553_and_mail_before_auth_is_530() {
    let f = Fixture::start().await;
    let mut c = Client::connect(f.trusted).await;
    c.expect("EHLO test", "250").await;
    c.expect("MAIL FROM:<alice@localhost>", "530 5.7.0").await;
    c.expect(&format!("AUTH PLAIN {}", plain("alice", "apw")), "235")
        .await;
    c.expect("MAIL FROM:<bob@localhost>", "553 5.7.1").await;
    c.expect("MAIL FROM:<alice@elsewhere.example>", "553 5.7.1")
        .await;
    c.expect("MAIL FROM:<>", "553 5.7.1").await;
    // Domains and the local part compare case-insensitively.
    c.expect(
        "MAIL FROM:<Alice@LOCALHOST> SIZE=100 BODY=8BITMIME",
        "250 2.1.0",
    )
    .await;
}

#[tokio::test]
async fn unknown_foreign_and_uncheckable_recipients_fail_at_rcpt() {
    let f = Fixture::start().await;
    let mut c = Client::login(f.trusted, "alice", "apw").await;
    c.expect("MAIL FROM:<alice@localhost>", "250").await;
    c.expect("RCPT TO:<nobody@localhost>", "550 5.1.1").await;
    c.expect("RCPT TO:<\"odd name\"@localhost>", "550 5.1.1")
        .await;
    c.expect("RCPT TO:<hw1@example.org>", "550 5.7.1").await;
    c.expect("RCPT TO:<flaky@localhost>", "451 4.3.0").await;
    c.expect("DATA", "554 5.5.1").await;
    c.expect("RCPT TO:<HW1@LocalHost>", "250 2.1.5").await;
}

#[tokio::test]
async fn recipients_per_message_are_limited() {
    let f = Fixture::start().await;
    let mut c = Client::login(f.trusted, "alice", "apw").await;
    c.expect("MAIL FROM:<alice@localhost>", "250").await;
    for rcpt in ["hw1", "list", "bob"] {
        c.expect(&format!("RCPT TO:<{rcpt}@localhost>"), "250")
            .await;
    }
    c.expect("RCPT TO:<alice@localhost>", "452 4.5.3").await;
}

#[tokio::test]
async fn message_over_the_size_limit_is_552_and_the_session_stays_in_sync() {
    let f = Fixture::start().await;
    let mut c = Client::login(f.trusted, "alice", "apw").await;
    c.expect(
        &format!("MAIL FROM:<alice@localhost> SIZE={}", MAX_MESSAGE + 1),
        "552 5.3.4",
    )
    .await;
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    while big.len() <= MAX_MESSAGE {
        big.extend_from_slice(&[b'x'; 98]);
        big.extend_from_slice(b"\r\n");
    }
    let reply = c
        .transaction("alice@localhost", "hw1@localhost", &big)
        .await;
    assert!(reply.starts_with("552 5.3.4"), "{reply}");
    c.expect("NOOP", "250 2.0.0").await;
    c.submit("alice@localhost", "hw1@localhost", SIMPLE).await;
    assert_eq!(f.stored().len(), 1);
}

#[tokio::test]
async fn a_client_that_never_reads_cannot_make_the_server_queue_without_bound() {
    let f = Fixture::start().await;
    let c = Client::connect(f.trusted).await;
    // Every write ends in the middle of a command, so the server always has pipelined input
    // pending; it must still start answering once enough is queued.
    let (mut read, mut write) = tokio::io::split(c.io.into_inner());
    let writer = tokio::spawn(async move {
        for _ in 0..20_000 {
            if write.write_all(b"OOP\r\nNOOP\r\nN").await.is_err() {
                break;
            }
        }
    });
    let mut first = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), read.read(&mut first))
        .await
        .expect("replies arrive while the client is still sending")
        .unwrap();
    assert!(n > 0);
    writer.abort();
}

#[tokio::test]
async fn a_submission_cannot_grow_past_its_byte_limit() {
    let f = Fixture::start().await;
    let mut c = Client::login(f.trusted, "alice", "apw").await;
    let mut part = b"Subject: part\r\n\r\n".to_vec();
    while part.len() < MAX_MESSAGE - 200 {
        part.extend_from_slice(&[b'z'; 98]);
        part.extend_from_slice(b"\r\n");
    }
    // Two fit under the submission limit, the third would not.
    c.submit("alice@localhost", "hw1@localhost", &part).await;
    c.submit("alice@localhost", "hw1@localhost", &part).await;
    let reply = c
        .transaction("alice@localhost", "hw1@localhost", &part)
        .await;
    assert!(reply.starts_with("552 5.3.4"), "{reply}");
    assert!(reply.contains("submission"), "{reply}");
    c.expect("NOOP", "250 2.0.0").await;
    assert_eq!(f.stored().len(), 2);
}

#[tokio::test]
async fn malformed_messages_are_refused_after_the_dot() {
    let f = Fixture::start().await;
    let mut c = Client::login(f.trusted, "alice", "apw").await;
    let mut long_line = b"Subject: long\r\n\r\n".to_vec();
    long_line.extend(vec![b'y'; MAX_LINE + 10]);
    long_line.extend_from_slice(b"\r\n");
    for (message, expected) in [
        (
            &b"Subject: x\r\nno colon\r\n\r\nbody\r\n"[..],
            "header line 2 has no colon",
        ),
        (b"Subject: x\r\nFrom: y\r\n", "blank line must separate"),
        (&long_line, "longer than the limit"),
        (b"Bad Name: x\r\n\r\n", "invalid field name"),
    ] {
        let reply = c
            .transaction("alice@localhost", "hw1@localhost", message)
            .await;
        assert!(reply.starts_with("550 5.6.0"), "{reply}");
        assert!(reply.contains(expected), "{reply}");
    }
    c.expect("NOOP", "250").await;
    assert!(f.stored().is_empty());
}

#[tokio::test]
async fn garbage_and_over_long_command_lines_are_500() {
    let f = Fixture::start().await;
    let mut c = Client::connect(f.trusted).await;
    c.send_raw(b"\x00\xff\xfe garbage\r\n").await;
    assert!(c.reply().await.starts_with("500 5.5.2"));
    c.expect("FROBNICATE", "500 5.5.1").await;
    c.expect(
        &format!("NOOP {}", "x".repeat(600)),
        "500 5.5.2 line too long",
    )
    .await;
    c.send_raw(&[b'z'; 20_000]).await;
    c.send_raw(b"\r\n").await;
    assert!(c.reply().await.starts_with("500 5.5.2"));
    c.expect("EXPN list", "502 5.5.1").await;
    c.expect("VRFY alice", "252 2.5.0").await;
    c.expect("HELP", "214 2.0.0").await;
    c.expect("EHLO test", "250").await;
}

#[tokio::test]
async fn commands_out_of_order_are_503() {
    let f = Fixture::start().await;
    let mut c = Client::connect(f.trusted).await;
    c.expect("AUTH PLAIN", "503 5.5.1").await;
    c.expect("MAIL FROM:<alice@localhost>", "503 5.5.1").await;
    c.expect("EHLO test", "250").await;
    c.expect(&format!("AUTH PLAIN {}", plain("alice", "apw")), "235")
        .await;
    c.expect("RCPT TO:<hw1@localhost>", "503 5.5.1").await;
    c.expect("DATA", "503 5.5.1").await;
    c.expect("MAIL FROM:<alice@localhost>", "250").await;
    c.expect("MAIL FROM:<alice@localhost>", "503 5.5.1").await;
    c.expect("AUTH PLAIN", "503 5.5.1").await;
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let f = Fixture::start().await;
    let mut c = Client::connect(f.trusted).await;
    let burst = format!(
        "EHLO test\r\nAUTH PLAIN {}\r\nMAIL FROM:<alice@localhost>\r\nRCPT TO:<hw1@localhost>\r\n\
         RCPT TO:<nobody@localhost>\r\nRCPT TO:<list@localhost>\r\nDATA\r\n",
        plain("alice", "apw")
    );
    c.send_raw(burst.as_bytes()).await;
    let mut replies = Vec::new();
    for _ in 0..7 {
        replies.push(c.reply().await[..3].to_string());
    }
    assert_eq!(replies, ["250", "235", "250", "250", "550", "250", "354"]);
    c.send_raw(b"Subject: p\r\n\r\nx\r\n.\r\nQUIT\r\n").await;
    let stored = c.reply().await;
    assert!(stored.starts_with("250 2.0.0"), "{stored}");
    assert!(c.reply().await.starts_with("221 2.0.0"));
    let text = String::from_utf8(f.read(&stored_id(&stored))).unwrap();
    assert!(
        text.contains("To: <hw1@localhost>,\r\n <list@localhost>\r\n"),
        "{text}"
    );
}

#[tokio::test]
async fn a_series_shares_its_submission_and_leaves_one_record_in_order() {
    let f = Fixture::start().await;
    let mut c = Client::login(f.trusted, "alice", "apw").await;
    let mut ids = Vec::new();
    for (i, rcpt) in ["hw1", "hw1", "list", "hw1"].iter().enumerate() {
        let message = format!("Subject: [PATCH {i}/3]\r\n\r\npatch {i}\r\n");
        ids.push(
            c.submit(
                "alice@localhost",
                &format!("{rcpt}@localhost"),
                message.as_bytes(),
            )
            .await,
        );
    }
    let submission = ids[0].submission();
    assert!(ids.iter().all(|id| id.submission() == submission));
    assert_eq!(
        ids.iter().map(|id| id.index()).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    // Open sessions are invisible to readers of logs/.
    assert!(f.logs().list_closed().unwrap().is_empty());
    c.expect("QUIT", "221 2.0.0").await;
    assert_eq!(f.logs().list_closed().unwrap(), vec![submission]);
    let record = f.logs().read(&submission).unwrap();
    assert_eq!(record.username.as_str(), "alice");
    let listed: Vec<_> = record.messages.iter().map(|m| m.id).collect();
    assert_eq!(listed, ids);
    let firsts: Vec<_> = record
        .messages
        .iter()
        .map(|m| m.first_recipient.as_str())
        .collect();
    assert_eq!(firsts, ["hw1", "hw1", "list", "hw1"]);
    let stored = String::from_utf8(f.read(&ids[2])).unwrap();
    assert!(stored.contains(&format!("X-Coursemail-Submission: {submission}\r\n")));
}

#[tokio::test]
async fn a_submission_is_dated_at_its_first_mail_not_at_auth() {
    let f = Fixture::start().await;
    let mut c = Client::login(f.trusted, "alice", "apw").await;
    // A connection held open after AUTH (NOOPs across a deadline) must not date the series
    // from before the wait.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c.expect("NOOP", "250").await;
    let before_mail = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let id = c.submit("alice@localhost", "hw1@localhost", SIMPLE).await;
    c.expect("QUIT", "221").await;
    let record = f.logs().read(&id.submission()).unwrap();
    assert!(
        record.auth_micros >= before_mail,
        "dated {} but MAIL came at {before_mail}",
        record.auth_micros
    );
}

#[tokio::test]
async fn rset_and_a_new_ehlo_close_the_session() {
    let f = Fixture::start().await;
    let mut c = Client::login(f.trusted, "alice", "apw").await;
    let first = c.submit("alice@localhost", "hw1@localhost", SIMPLE).await;
    c.expect("RSET", "250 2.0.0").await;
    let second = c.submit("alice@localhost", "hw1@localhost", SIMPLE).await;
    c.expect("EHLO again", "250").await;
    // An empty session (RSET right away) leaves no record.
    c.expect("RSET", "250").await;
    let third = c.submit("alice@localhost", "list@localhost", SIMPLE).await;
    c.expect("QUIT", "221").await;
    let subs: HashSet<_> = [first, second, third]
        .iter()
        .map(|m| m.submission())
        .collect();
    assert_eq!(subs.len(), 3, "each session has its own submission id");
    let mut closed = f.logs().list_closed().unwrap();
    closed.sort();
    let mut expected: Vec<_> = subs.into_iter().collect();
    expected.sort();
    assert_eq!(closed, expected);
    for sub in closed {
        assert_eq!(f.logs().read(&sub).unwrap().messages.len(), 1);
    }
}

#[tokio::test]
async fn a_client_vanishing_mid_data_stores_nothing_of_that_message() {
    let f = Fixture::start().await;
    let mut c = Client::login(f.trusted, "alice", "apw").await;
    let kept = c.submit("alice@localhost", "hw1@localhost", SIMPLE).await;
    c.expect("MAIL FROM:<alice@localhost>", "250").await;
    c.expect("RCPT TO:<hw1@localhost>", "250").await;
    c.expect("DATA", "354").await;
    c.send_raw(b"Subject: half\r\n\r\nthe first half, then nothing")
        .await;
    drop(c);
    // The disconnect closes the session; its record appears once the server has handled it.
    let logs = f.logs();
    let mut closed = Vec::new();
    for _ in 0..200 {
        closed = logs.list_closed().unwrap();
        if !closed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(closed, vec![kept.submission()]);
    let record = logs.read(&kept.submission()).unwrap();
    assert_eq!(record.messages.len(), 1);
    assert_eq!(f.stored(), vec![kept]);
}

/// SPEC §4: a series threads under its cover letter, and a later reply to a client id threads
/// under the stored message, although the server rewrote every Message-ID.
#[tokio::test]
async fn threads_survive_the_rewrite_of_message_ids() {
    let f = Fixture::start().await;
    let mut c = Client::login(f.trusted, "alice", "apw").await;
    let cover = c
        .submit(
            "alice@localhost",
            "hw1@localhost",
            b"Message-ID: <cover@laptop>\r\nSubject: [PATCH 0/1] x\r\n\r\ncover\r\n",
        )
        .await;
    let patch = c
        .submit(
            "alice@localhost",
            "hw1@localhost",
            b"Message-ID: <p1@laptop>\r\nIn-Reply-To: <cover@laptop>\r\nReferences: <cover@laptop>\r\n\
              Subject: [PATCH 1/1] y\r\n\r\npatch\r\n",
        )
        .await;
    let text = String::from_utf8(f.read(&patch)).unwrap();
    assert!(
        text.contains(&format!("\r\nIn-Reply-To: <{cover}@localhost>\r\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("\r\nReferences: <{cover}@localhost>\r\n")),
        "{text}"
    );
    assert!(
        text.contains("\r\nX-Original-In-Reply-To: <cover@laptop>\r\n"),
        "{text}"
    );
    drop(c);
    // A reply in another session, by another student, to the client's id of the cover letter.
    let mut b = Client::login(f.trusted, "bob", "bpw").await;
    let reply = b
        .submit(
            "bob@localhost",
            "list@localhost",
            b"In-Reply-To: <cover@laptop>\r\nReferences: <elsewhere@x> <cover@laptop>\r\n\
              Sender: alice@localhost\r\nReturn-Path: <alice@localhost>\r\nSubject: Re: x\r\n\r\nok\r\n",
        )
        .await;
    let text = String::from_utf8(f.read(&reply)).unwrap();
    assert!(
        text.contains(&format!("\r\nIn-Reply-To: <{cover}@localhost>\r\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "References: <elsewhere@x>\r\n <{cover}@localhost>\r\n"
        )),
        "unknown ids stay as sent: {text}"
    );
    assert!(
        text.contains("\r\nX-Original-Sender: alice@localhost\r\n"),
        "{text}"
    );
    assert!(!text.contains("Return-Path"), "{text}");
    assert!(
        text.contains("\r\nFrom: Full bob <bob@localhost>\r\n"),
        "{text}"
    );
}

#[tokio::test]
async fn stored_file_is_server_header_then_the_exact_original_bytes() {
    let f = Fixture::start().await;
    let mut c = Client::login(f.trusted, "alice", "apw").await;
    let header = b"Message-ID: <client@laptop>\r\nfrom: Alice <alice@localhost>\r\nTo: hw1@localhost,\r\n  list@localhost\r\nSubject: caf\xc3\xa9\r\n\r\n";
    let body = b"..a dot-stuffed line\r\n8-bit: \xff\xfe\x80\r\n\ta tab\r\n".to_vec();
    let mut message = header.to_vec();
    message.extend_from_slice(&body);
    let id = c.submit("alice@localhost", "hw1@localhost", &message).await;
    let stored = f.read(&id);
    let text = String::from_utf8_lossy(&stored);
    let sub = id.submission();
    let top = format!(
        "Received: from test (127.0.0.1)\r\n\tby localhost (coursemail) with ESMTPA id {sub};\r\n\t"
    );
    assert!(text.starts_with(&top), "{text}");
    let after_date = text.find("\r\nMessage-ID:").unwrap() + 2;
    let expected_rest = format!(
        "Message-ID: <{id}@localhost>\r\nFrom: Full alice <alice@localhost>\r\nTo: <hw1@localhost>\r\n\
         X-Coursemail-Submission: {sub}\r\n"
    );
    assert_eq!(
        &stored[after_date..after_date + expected_rest.len()],
        expected_rest.as_bytes()
    );
    let client_part = &stored[after_date + expected_rest.len()..];
    let mut expected = b"X-Original-Message-ID: <client@laptop>\r\nX-Original-from: Alice <alice@localhost>\r\nX-Original-To: hw1@localhost,\r\n  list@localhost\r\nSubject: caf\xc3\xa9\r\n\r\n".to_vec();
    let header_len = stored.len() - client_part.len() + expected.len();
    expected.extend_from_slice(&body);
    expected.extend_from_slice(b".\r\n");
    assert_eq!(client_part, &expected[..]);
    let meta = MailStore::new(f.data().mail_dir()).meta(&id).unwrap();
    assert_eq!(meta.header_len, header_len as u64);
}

#[tokio::test]
async fn smuggled_end_of_data_stays_inside_the_message() {
    let f = Fixture::start().await;
    let mut c = Client::login(f.trusted, "alice", "apw").await;
    let message = b"Subject: s\r\n\r\nbefore\n.\nMAIL FROM:<alice@localhost>\r\nRCPT TO:<list@localhost>\r\nDATA\r\nSubject: forged\r\n\r\nforged\r\n";
    let reply = c
        .transaction("alice@localhost", "hw1@localhost", message)
        .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    c.expect("QUIT", "221").await;
    let stored = f.stored();
    assert_eq!(stored.len(), 1, "one message, no forged second one");
    let text = String::from_utf8(f.read(&stored[0])).unwrap();
    assert!(text.ends_with("before\r\n..\r\nMAIL FROM:<alice@localhost>\r\nRCPT TO:<list@localhost>\r\nDATA\r\nSubject: forged\r\n\r\nforged\r\n.\r\n"), "{text}");
}

#[tokio::test]
async fn idle_session_is_closed_with_421() {
    let f = Fixture::start_with(Duration::from_millis(200)).await;
    let mut c = Client::connect(f.trusted).await;
    assert!(c.reply().await.starts_with("421 4.4.2"));
    assert!(c.closed().await);
}
