//! The POP3 server over real TCP connections: the SPEC §7 behaviours, RFC 1939 details, and bad
//! input from clients. Real third-party clients (curl, poplib, fetchmail) are exercised by
//! `tests/e2e/pop3.sh`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use journal::store::MailStore;
use journal::writer::{JournalWriter, Restriction};
use journal::{IdGenerator, MessageId, Record, Username};
use net::credentials::{BoxFuture, CredentialCheck, Verdict};
use net::{CancellationToken, Limits, ListenerSpec, Security};
use pop::deletions::DeletionStore;
use pop::{PopContext, PopServer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Logins for tests: a fixed table, no throttling.
struct FixedLogins(HashMap<&'static str, &'static str>);

impl CredentialCheck for FixedLogins {
    fn check<'a>(&'a self, _: IpAddr, user: &'a str, pass: &'a str) -> BoxFuture<'a, Verdict> {
        let ok = self.0.get(user) == Some(&pass);
        Box::pin(async move {
            if ok {
                Verdict::Accepted(net::credentials::Identity {
                    username: journal::Username::parse(user).unwrap(),
                    full_name: format!("Full {user}"),
                })
            } else {
                Verdict::Rejected
            }
        })
    }
}

/// A data root with a journal, a running server and helpers to add mail.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    trusted: SocketAddr,
    untrusted: SocketAddr,
    tls: SocketAddr,
    ids: IdGenerator,
    shutdown: CancellationToken,
}

impl Fixture {
    async fn start() -> Self {
        Self::start_with(Duration::from_secs(600)).await
    }

    async fn start_with(idle_timeout: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let data = journal::DataRoot::new(&root);
        data.create().unwrap();
        JournalWriter::init(&data.journal_file()).unwrap();
        net::ensure_certificate(&data.tls_dir(), "localhost").unwrap();
        let acceptor = net::acceptor(net::server_config(&data.tls_dir()).unwrap());
        let logins = FixedLogins(HashMap::from([
            ("alice", "apw"),
            ("bob", "bpw"),
            ("carol", "cpw"),
        ]));
        let ctx = PopContext {
            hostname: "localhost".into(),
            journal: data.journal_file(),
            mail: MailStore::new(data.mail_dir()),
            deletions: DeletionStore::new(data.pop_dir()),
            credentials: Arc::new(logins),
            idle_timeout,
        };
        let any = "127.0.0.1:0".parse().unwrap();
        let specs = [
            ListenerSpec {
                addr: any,
                security: Security::Plain,
                trusted: true,
            },
            ListenerSpec {
                addr: any,
                security: Security::Plain,
                trusted: false,
            },
            ListenerSpec {
                addr: any,
                security: Security::ImplicitTls,
                trusted: false,
            },
        ];
        let server = PopServer::bind(&specs, Some(acceptor), Limits::default(), ctx).unwrap();
        let addrs = server.local_addrs();
        let shutdown = CancellationToken::new();
        tokio::spawn(server.run(shutdown.clone()));
        Fixture {
            _dir: dir,
            root,
            trusted: addrs[0].0,
            untrusted: addrs[1].0,
            tls: addrs[2].0,
            ids: IdGenerator::new(),
            shutdown,
        }
    }

    fn data(&self) -> journal::DataRoot {
        journal::DataRoot::new(&self.root)
    }

    /// Stores one message per body (wire form) in one session and releases them.
    fn release(&self, bodies: &[&str]) -> Vec<MessageId> {
        let data = self.data();
        let store = MailStore::new(data.mail_dir());
        let sub = self.ids.next_submission();
        let mut records = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            let id = sub.message(i as u16 + 1).unwrap();
            let header = format!("Subject: message {i}\r\nMessage-ID: <{id}@localhost>\r\n\r\n");
            let wire = format!("{header}{body}.\r\n");
            store
                .write(&id, wire.as_bytes(), header.len() as u64)
                .unwrap();
            records.push(Record::new(id, store.meta(&id).unwrap()));
        }
        JournalWriter::open(&data.journal_file())
            .unwrap()
            .append(&records)
            .unwrap();
        records.iter().map(|r| r.name).collect()
    }

    fn restrict(&self, user: &str, how: Restriction) {
        JournalWriter::open(&self.data().journal_file())
            .unwrap()
            .restrict(&Username::parse(user).unwrap(), how)
            .unwrap();
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A minimal line-level POP3 client.
struct Client<S> {
    io: BufReader<S>,
}

impl Client<TcpStream> {
    async fn connect(addr: SocketAddr) -> Self {
        let mut c = Client {
            io: BufReader::new(TcpStream::connect(addr).await.unwrap()),
        };
        let greeting = c.line().await;
        assert!(greeting.starts_with("+OK"), "{greeting}");
        c
    }

    async fn login(addr: SocketAddr, user: &str, pass: &str) -> Self {
        let mut c = Self::connect(addr).await;
        c.ok(&format!("USER {user}")).await;
        c.ok(&format!("PASS {pass}")).await;
        c
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    async fn send(&mut self, line: &str) {
        self.io
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
    }

    async fn line(&mut self) -> String {
        let mut buf = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(10), self.io.read_until(b'\n', &mut buf))
            .await
            .expect("server answered in time")
            .unwrap();
        assert!(n > 0, "connection closed");
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Sends a command and returns the status line.
    async fn cmd(&mut self, line: &str) -> String {
        self.send(line).await;
        self.line().await
    }

    async fn ok(&mut self, line: &str) -> String {
        let reply = self.cmd(line).await;
        assert!(reply.starts_with("+OK"), "{line} -> {reply}");
        reply
    }

    async fn err(&mut self, line: &str) -> String {
        let reply = self.cmd(line).await;
        assert!(reply.starts_with("-ERR"), "{line} -> {reply}");
        reply
    }

    /// Reads a multi-line body up to the terminating `.`, returning the lines without CRLF.
    async fn body(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            if line == "." {
                return lines;
            }
            lines.push(line);
        }
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

#[tokio::test]
async fn login_stat_list_uidl_retr_and_top() {
    let f = Fixture::start().await;
    let ids = f.release(&["hello\r\n", "..dot-stuffed\r\nsecond line\r\n"]);
    let mut c = Client::login(f.trusted, "alice", "apw").await;
    let stat = c.ok("STAT").await;
    let sizes: Vec<u64> = ids
        .iter()
        .map(|id| {
            std::fs::metadata(f.data().mail_dir().join(id.as_str()))
                .unwrap()
                .len()
                - 3
        })
        .collect();
    assert_eq!(stat.trim_end(), format!("+OK 2 {}", sizes[0] + sizes[1]));
    c.ok("LIST").await;
    assert_eq!(
        c.body().await,
        vec![format!("1 {}", sizes[0]), format!("2 {}", sizes[1])]
    );
    assert_eq!(
        c.ok("LIST 2").await.trim_end(),
        format!("+OK 2 {}", sizes[1])
    );
    c.ok("UIDL").await;
    assert_eq!(
        c.body().await,
        vec![format!("1 {}", ids[0]), format!("2 {}", ids[1])]
    );
    assert_eq!(c.ok("UIDL 1").await.trim_end(), format!("+OK 1 {}", ids[0]));
    c.ok("RETR 2").await;
    let message = c.body().await;
    assert_eq!(message.last().unwrap(), "second line");
    assert!(
        message.contains(&"..dot-stuffed".to_string()),
        "RETR sends the stored, stuffed form"
    );
    c.ok("TOP 2 0").await;
    let top0 = c.body().await;
    assert_eq!(
        top0.last().unwrap(),
        "",
        "TOP n 0 is the header and the blank line"
    );
    c.ok("TOP 2 1").await;
    assert_eq!(c.body().await.last().unwrap(), "..dot-stuffed");
    c.ok("TOP 2 1000").await;
    assert_eq!(c.body().await.last().unwrap(), "second line");
    c.ok("QUIT").await;
}

#[tokio::test]
async fn capabilities_follow_the_session_state() {
    let f = Fixture::start().await;
    let mut c = Client::connect(f.untrusted).await;
    c.ok("CAPA").await;
    let caps = c.body().await;
    assert!(caps.contains(&"STLS".to_string()));
    assert!(
        !caps.contains(&"USER".to_string()),
        "no plaintext login advertised before TLS"
    );
    for cap in [
        "TOP",
        "UIDL",
        "PIPELINING",
        "RESP-CODES",
        "EXPIRE NEVER",
        "IMPLEMENTATION coursemail",
    ] {
        assert!(
            caps.contains(&cap.to_string()),
            "{cap} missing from {caps:?}"
        );
    }
    let mut c = Client::connect(f.trusted).await;
    c.ok("CAPA").await;
    let caps = c.body().await;
    assert!(caps.contains(&"USER".to_string()) && caps.contains(&"SASL PLAIN".to_string()));
}

#[tokio::test]
async fn credentials_are_refused_before_tls_on_an_untrusted_listener() {
    let f = Fixture::start().await;
    let mut c = Client::connect(f.untrusted).await;
    let reply = c.err("USER alice").await;
    assert!(reply.contains("STLS"), "{reply}");
    c.err("AUTH PLAIN AGFsaWNlAGFwdw==").await;
    c.ok("STLS").await;
}

#[tokio::test]
async fn stls_then_login_over_tls() {
    let f = Fixture::start().await;
    let mut c = Client::connect(f.untrusted).await;
    c.ok("STLS").await;
    let tcp = c.io.into_inner();
    let tls = tls_client(&f, tcp).await;
    let mut c = Client {
        io: BufReader::new(tls),
    };
    c.ok("CAPA").await;
    let caps = c.body().await;
    assert!(
        !caps.contains(&"STLS".to_string()),
        "STLS not offered twice"
    );
    assert!(caps.contains(&"USER".to_string()));
    c.ok("USER alice").await;
    c.ok("PASS apw").await;
    c.ok("STAT").await;
    c.ok("QUIT").await;
}

#[tokio::test]
async fn implicit_tls_login_with_auth_plain() {
    let f = Fixture::start().await;
    f.release(&["x\r\n"]);
    let tls = tls_client(&f, TcpStream::connect(f.tls).await.unwrap()).await;
    let mut c = Client {
        io: BufReader::new(tls),
    };
    assert!(c.line().await.starts_with("+OK"));
    // RFC 5034: without an initial response the server sends an empty challenge.
    c.send("AUTH PLAIN").await;
    assert_eq!(c.line().await, "+ \r\n");
    c.ok("AGFsaWNlAGFwdw==").await; // \0alice\0apw
    assert!(c.ok("STAT").await.starts_with("+OK 1 "));
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_auth_answer() {
    let f = Fixture::start().await;
    let mut c = Client::connect(f.trusted).await;
    c.ok("USER alice").await;
    let wrong = c.err("PASS nope").await;
    c.ok("USER mallory").await;
    let unknown = c.err("PASS nope").await;
    assert_eq!(wrong, unknown);
    assert!(wrong.starts_with("-ERR [AUTH]"), "{wrong}");
    c.ok("USER alice").await;
    c.send("PASS still-wrong").await;
    assert!(c.line().await.starts_with("-ERR [AUTH]"));
    assert!(
        c.line().await.contains("too many"),
        "third failure closes the connection"
    );
    assert!(c.closed().await);
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let f = Fixture::start().await;
    f.release(&["a\r\n", "b\r\n"]);
    let mut c = Client::connect(f.trusted).await;
    c.io.get_mut()
        .write_all(
            b"USER alice\r\nPASS apw\r\nSTAT\r\nUIDL 2\r\nBOGUS\r\nLIST 1\r\nNOOP\r\nQUIT\r\n",
        )
        .await
        .unwrap();
    let replies: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..8 {
            v.push(c.line().await);
        }
        v
    };
    let status: Vec<&str> = replies.iter().map(|r| &r[..3]).collect();
    assert_eq!(
        status,
        ["+OK", "+OK", "+OK", "+OK", "-ER", "+OK", "+OK", "+OK"],
        "{replies:?}"
    );
    assert!(replies[2].starts_with("+OK 2 "));
    assert!(replies[3].starts_with("+OK 2 "));
}

#[tokio::test]
async fn deletions_are_per_user_and_committed_only_at_quit() {
    let f = Fixture::start().await;
    let ids = f.release(&["one\r\n", "two\r\n", "three\r\n"]);
    let mut a = Client::login(f.trusted, "alice", "apw").await;
    a.ok("DELE 2").await;
    a.err("RETR 2").await;
    a.err("DELE 2").await;
    assert!(
        a.ok("STAT").await.starts_with("+OK 2 "),
        "marked messages are not counted"
    );
    a.ok("RSET").await;
    assert!(a.ok("STAT").await.starts_with("+OK 3 "));
    a.ok("DELE 2").await;
    // Disconnecting without QUIT commits nothing (RFC 1939 §6).
    drop(a);
    let mut a = Client::login(f.trusted, "alice", "apw").await;
    assert!(a.ok("STAT").await.starts_with("+OK 3 "));
    a.ok("DELE 2").await;
    a.ok("QUIT").await;

    let mut a = Client::login(f.trusted, "alice", "apw").await;
    assert!(a.ok("STAT").await.starts_with("+OK 2 "));
    a.ok("UIDL").await;
    assert_eq!(
        a.body().await,
        vec![format!("1 {}", ids[0]), format!("2 {}", ids[2])]
    );
    a.ok("QUIT").await;

    let mut b = Client::login(f.trusted, "bob", "bpw").await;
    assert!(
        b.ok("STAT").await.starts_with("+OK 3 "),
        "bob still sees what alice deleted"
    );
    b.ok("QUIT").await;
}

#[tokio::test]
async fn later_deletions_keep_numbering_after_earlier_ones() {
    let f = Fixture::start().await;
    let ids = f.release(&["1\r\n", "2\r\n", "3\r\n", "4\r\n", "5\r\n"]);
    let mut a = Client::login(f.trusted, "alice", "apw").await;
    a.ok("DELE 1").await;
    a.ok("DELE 3").await;
    a.ok("QUIT").await;
    let mut a = Client::login(f.trusted, "alice", "apw").await;
    a.ok("DELE 2").await; // journal position 3 (message "4")
    a.ok("QUIT").await;
    let mut a = Client::login(f.trusted, "alice", "apw").await;
    a.ok("UIDL").await;
    assert_eq!(
        a.body().await,
        vec![format!("1 {}", ids[1]), format!("2 {}", ids[4])]
    );
    assert_eq!(a.ok("UIDL 2").await.trim_end(), format!("+OK 2 {}", ids[4]));
}

#[tokio::test]
async fn restricted_user_sees_only_the_prefix_until_allowed() {
    let f = Fixture::start().await;
    f.release(&["before\r\n"]);
    f.restrict("carol", Restriction::Deny);
    f.release(&["after 1\r\n", "after 2\r\n"]);
    let mut carol = Client::login(f.trusted, "carol", "cpw").await;
    assert!(carol.ok("STAT").await.starts_with("+OK 1 "));
    carol.err("RETR 2").await;
    carol.ok("QUIT").await;
    let mut alice = Client::login(f.trusted, "alice", "apw").await;
    assert!(alice.ok("STAT").await.starts_with("+OK 3 "));
    f.restrict("carol", Restriction::Allow);
    let mut carol = Client::login(f.trusted, "carol", "cpw").await;
    assert!(carol.ok("STAT").await.starts_with("+OK 3 "));
}

#[tokio::test]
async fn a_session_keeps_its_numbering_while_the_journal_grows() {
    let f = Fixture::start().await;
    let first = f.release(&["first\r\n"]);
    let mut c = Client::login(f.trusted, "alice", "apw").await;
    let before = c.ok("STAT").await;
    f.release(&["second\r\n", "third\r\n"]);
    assert_eq!(c.ok("STAT").await, before);
    c.err("RETR 2").await;
    c.ok("UIDL").await;
    assert_eq!(c.body().await, vec![format!("1 {}", first[0])]);
    c.ok("QUIT").await;
    let mut c = Client::login(f.trusted, "alice", "apw").await;
    assert!(c.ok("STAT").await.starts_with("+OK 3 "));
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_the_session_goes_on() {
    let f = Fixture::start().await;
    f.release(&["only\r\n"]);
    let mut c = Client::connect(f.trusted).await;
    assert!(c.err("RETR 1").await.contains("before login"));
    assert!(c.err("PASS x").await.contains("USER first"));
    assert!(c.err("FROB").await.contains("unknown command"));
    c.ok("USER alice").await;
    c.ok("PASS apw").await;
    assert!(c.err("USER bob").await.contains("after login"));
    assert!(c.err("STLS").await.contains("after login"));
    assert!(c.err("RETR 2").await.contains("no such message"));
    assert!(c.err("RETR 0").await.contains("not a message number"));
    assert!(c.err("RETR abc").await.contains("not a message number"));
    assert!(
        c.err("LIST 99999999999999999999")
            .await
            .contains("not a message number")
    );
    assert!(c.err("TOP 1").await.contains("missing"));
    assert!(c.err("TOP 1 x").await.contains("not a message number"));
    assert!(c.err("STAT extra").await.contains("too many arguments"));
    let long = "X".repeat(5000);
    assert!(c.err(&long).await.contains("too long"));
    c.io.get_mut()
        .write_all(b"\x00\xff\xfe garbage \x01\r\n")
        .await
        .unwrap();
    assert!(c.line().await.starts_with("-ERR"));
    assert!(
        c.ok("STAT").await.starts_with("+OK 1 "),
        "still in sync after garbage"
    );
    c.ok("QUIT").await;
}

#[tokio::test]
async fn auth_with_bad_base64_or_a_cancel_is_refused_cleanly() {
    let f = Fixture::start().await;
    let mut c = Client::connect(f.trusted).await;
    assert!(c.err("AUTH PLAIN !!!notbase64").await.contains("base64"));
    assert!(c.err("AUTH CRAM-MD5").await.contains("unsupported"));
    c.send("AUTH PLAIN").await;
    assert_eq!(c.line().await, "+ \r\n");
    assert!(c.err("*").await.contains("cancelled"));
    c.ok("AUTH").await;
    assert_eq!(c.body().await, vec!["PLAIN"]);
    c.ok("AUTH PLAIN AGFsaWNlAGFwdw==").await;
}

#[tokio::test]
async fn a_client_vanishing_mid_retr_does_not_disturb_others() {
    let f = Fixture::start().await;
    let big = "y".repeat(998) + "\r\n";
    f.release(&[&big.repeat(4000)]); // ~4 MB
    for _ in 0..3 {
        let mut c = Client::login(f.trusted, "alice", "apw").await;
        c.send("RETR 1").await;
        let _ = c.line().await;
        drop(c); // gone after the first bytes
    }
    let mut other = Client::login(f.trusted, "bob", "bpw").await;
    other.ok("RETR 1").await;
    assert_eq!(other.body().await.len(), 4000 + 3);
}

#[tokio::test]
async fn idle_sessions_are_closed_without_committing() {
    let f = Fixture::start_with(Duration::from_millis(300)).await;
    f.release(&["a\r\n"]);
    let mut c = Client::login(f.trusted, "alice", "apw").await;
    c.ok("DELE 1").await;
    let bye = c.line().await;
    assert!(bye.starts_with("-ERR") && bye.contains("idle"), "{bye}");
    assert!(c.closed().await);
    let mut c = Client::login(f.trusted, "alice", "apw").await;
    assert!(
        c.ok("STAT").await.starts_with("+OK 1 "),
        "autologout must not delete"
    );
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
            if write.write_all(b"OP\r\nCAPA\r\nNO").await.is_err() {
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
async fn a_large_message_over_tls_arrives_whole() {
    let f = Fixture::start().await;
    let line = "z".repeat(998) + "\r\n";
    f.release(&[&line.repeat(1000)]); // ~1 MB, written past the reply queue
    let tls = tls_client(&f, TcpStream::connect(f.tls).await.unwrap()).await;
    let mut c = Client {
        io: BufReader::new(tls),
    };
    assert!(c.line().await.starts_with("+OK"));
    c.ok("USER alice").await;
    c.ok("PASS apw").await;
    c.ok("RETR 1").await;
    assert_eq!(c.body().await.len(), 1000 + 3);
    c.ok("NOOP").await;
}

#[tokio::test]
async fn deletions_survive_a_journal_rebuild_that_reorders_messages() {
    let f = Fixture::start().await;
    let data = f.data();
    let store = MailStore::new(data.mail_dir());
    let (early, late) = (f.ids.next_submission(), f.ids.next_submission());
    let mut records = Vec::new();
    for sub in [late, early] {
        let id = sub.message(1).unwrap();
        let header = format!("Subject: {id}\r\n\r\n");
        store
            .write(
                &id,
                format!("{header}body\r\n.\r\n").as_bytes(),
                header.len() as u64,
            )
            .unwrap();
        records.push(Record::new(id, store.meta(&id).unwrap()));
    }
    // Released out of id order: the later session first.
    let writer = JournalWriter::open(&data.journal_file()).unwrap();
    writer.append(&records).unwrap();
    let mut a = Client::login(f.trusted, "alice", "apw").await;
    assert_eq!(
        a.ok("UIDL 1").await.trim_end(),
        format!("+OK 1 {}", late.message(1).unwrap())
    );
    a.ok("DELE 1").await;
    a.ok("QUIT").await;

    // Rebuilding sorts by id, so the deleted message moves from position 0 to 1.
    writer
        .rebuild(&store, journal::RebuildSelection::Journal, &|_, _| {})
        .unwrap();
    let mut a = Client::login(f.trusted, "alice", "apw").await;
    a.ok("UIDL").await;
    assert_eq!(
        a.body().await,
        vec![format!("1 {}", early.message(1).unwrap())]
    );
    a.ok("QUIT").await;
    let saved = DeletionStore::new(data.pop_dir())
        .load(&Username::parse("alice").unwrap())
        .unwrap();
    assert_eq!(saved.len(), 1);
    assert_eq!(
        saved[0].position, 1,
        "the stale position hint was corrected"
    );
}

/// A TLS client that trusts the fixture's self-signed certificate.
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
