//! One SMTP connection: the RFC 5321 state machine with STARTTLS (RFC 3207), AUTH (RFC 4954)
//! and PIPELINING (RFC 2920).
//!
//! A connection goes greeting → EHLO → (STARTTLS → EHLO) → AUTH → MAIL/RCPT/DATA, repeated.
//! The *session* in SPEC §6's sense (one submission, one record) begins at AUTH, or at the first
//! MAIL after the previous one closed, and closes at QUIT, RSET, a new EHLO/HELO or disconnect.
//!
//! Replies are queued and written when the client has nothing more pipelined, so a burst of
//! commands costs one write. Everything that goes wrong on this connection ends here: a
//! malformed command gets its error reply, an I/O error ends this connection only.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use journal::Username;
use net::credentials::{Identity, Verdict};
use net::{CancellationToken, Connection, Line, LineEnding, LineReader, MaybeTls, TlsAcceptor};
use tokio::io::AsyncWriteExt;

use crate::command::{self, Command, ReversePath};
use crate::commit::{Pending, SessionMeta};
use crate::data::{Collector, Content, Step};
use crate::message::{self, Envelope};
use crate::recipients::RecipientCheck;
use crate::reply::{Replies, Reply};
use crate::server::Shared;

/// Longest command line, CRLF included (RFC 5321 §4.5.3.1.4).
const MAX_COMMAND_LINE: usize = 512;
/// Longest AUTH command or SASL response line, CRLF included (RFC 4954 §4: 12,288 octets).
/// The reader admits this much; other commands are held to [`MAX_COMMAND_LINE`].
const MAX_AUTH_LINE: usize = 12_288;
/// Failed AUTH attempts on one connection before it is closed.
const MAX_AUTH_FAILURES: u32 = 3;

const OK: Reply = Reply::new(250, "2.0.0");
const BAD_SEQUENCE: Reply = Reply::new(503, "5.5.1");
const LINE_TOO_LONG: Reply = Reply::new(500, "5.5.2");
const SYNTAX: Reply = Reply::new(501, "5.5.2");
const IDLE: Reply = Reply::new(421, "4.4.2");
const SHUTTING_DOWN: Reply = Reply::new(421, "4.3.2");
const TEMPORARY: Reply = Reply::new(451, "4.3.0");
const AUTH_TEMPORARY: Reply = Reply::new(454, "4.7.0");

/// The connection: a line reader over the stream plus queued replies.
struct Io {
    reader: LineReader<MaybeTls>,
    replies: Replies,
    /// One DATA line at a time, reused.
    scratch: Vec<u8>,
}

/// What the client sent next.
enum Input {
    Line(Vec<u8>),
    TooLong,
    Eof,
    TimedOut,
    ShuttingDown,
}

/// How reading DATA ended.
enum DataEnd {
    Dot,
    Eof,
    TimedOut,
    ShuttingDown,
}

impl Io {
    fn new(stream: MaybeTls) -> Self {
        Self {
            reader: LineReader::new(stream, MAX_AUTH_LINE),
            replies: Replies::default(),
            scratch: Vec::new(),
        }
    }

    /// Writes queued replies.
    async fn flush(&mut self) -> io::Result<()> {
        if !self.replies.pending().is_empty() {
            let stream = self.reader.get_mut();
            stream.write_all(self.replies.pending()).await?;
            stream.flush().await?;
            self.replies.clear();
        }
        Ok(())
    }

    /// Flushes replies unless the client already pipelined more (RFC 2920 §3.2) and little is
    /// queued (see [`LineReader::should_flush`]).
    async fn flush_if_idle(&mut self) -> io::Result<()> {
        if self.reader.should_flush(self.replies.pending().len()) {
            self.flush().await?;
        }
        Ok(())
    }

    /// The next command or SASL line.
    async fn next(&mut self, idle: Duration, shutdown: &CancellationToken) -> io::Result<Input> {
        self.flush_if_idle().await?;
        let read = tokio::time::timeout(idle, self.reader.read_line());
        tokio::select! {
            _ = shutdown.cancelled() => Ok(Input::ShuttingDown),
            r = read => match r {
                Err(_) => Ok(Input::TimedOut),
                Ok(Ok(None)) => Ok(Input::Eof),
                Ok(Ok(Some(Line::TooLong))) => Ok(Input::TooLong),
                Ok(Ok(Some(Line::Complete(line)))) => Ok(Input::Line(line.to_vec())),
                Ok(Err(e)) => Err(e),
            },
        }
    }

    /// Feeds DATA lines to `collector` up to the terminating dot.
    async fn data(
        &mut self,
        collector: &mut Collector,
        idle: Duration,
        shutdown: &CancellationToken,
    ) -> io::Result<DataEnd> {
        loop {
            self.flush_if_idle().await?;
            let read = tokio::time::timeout(idle, self.reader.read_line());
            let line = tokio::select! {
                _ = shutdown.cancelled() => return Ok(DataEnd::ShuttingDown),
                r = read => match r {
                    Err(_) => return Ok(DataEnd::TimedOut),
                    Ok(Ok(None)) => return Ok(DataEnd::Eof),
                    Ok(Ok(Some(Line::TooLong))) => None,
                    Ok(Ok(Some(Line::Complete(line)))) => {
                        self.scratch.clear();
                        self.scratch.extend_from_slice(line);
                        Some(())
                    }
                    Ok(Err(e)) => return Err(e),
                },
            };
            let step = match line {
                None => {
                    collector.too_long();
                    Step::More
                }
                Some(()) => {
                    let ending = self.reader.last_ending().unwrap_or(LineEnding::CrLf);
                    collector.line(&self.scratch, ending)
                }
            };
            if step == Step::End {
                self.scratch = Vec::new();
                return Ok(DataEnd::Dot);
            }
        }
    }

    fn is_tls(&self) -> bool {
        self.reader.get_ref().is_tls()
    }
}

/// Serves one connection to the end. Errors are logged, never propagated.
pub(crate) async fn run(conn: Connection, shared: Arc<Shared>) {
    let peer = conn.peer;
    let mut session = Session {
        peer,
        trusted: conn.trusted,
        tls: conn.tls,
        handshake_timeout: conn.tls_handshake_timeout,
        shutdown: conn.shutdown,
        shared,
        greeting: None,
        user: None,
        submission: None,
        transaction: None,
        auth_failures: 0,
    };
    if let Err(e) = session.serve(conn.stream).await {
        tracing::debug!(%peer, error = %e, "SMTP session ended with an error");
    }
    // A client that vanished without QUIT closes its session too (SPEC §6).
    session.end_submission().await;
}

/// What the client said in EHLO or HELO.
struct Greeting {
    name: String,
    extended: bool,
}

/// The open submission: its record's identity and how many messages it numbered so far.
struct Submission {
    meta: Arc<SessionMeta>,
    /// Messages numbered (stored or failed: a failed commit may still have linked its file, so
    /// its number is never reused).
    numbered: u16,
    /// Bytes of the messages numbered so far, against [`SmtpLimits::max_submission_bytes`].
    bytes: usize,
    /// Client Message-IDs stored in this session: a series' patches thread under its cover
    /// letter through them.
    client_ids: std::collections::HashMap<String, journal::MessageId>,
}

/// The mail transaction between MAIL and the end of DATA.
struct Transaction {
    /// Local parts, lowercase, in RCPT order, without duplicates.
    recipients: Vec<String>,
}

/// One connection's settings and protocol state.
struct Session {
    peer: SocketAddr,
    trusted: bool,
    tls: Option<TlsAcceptor>,
    handshake_timeout: Duration,
    shutdown: CancellationToken,
    shared: Arc<Shared>,
    greeting: Option<Greeting>,
    /// Who logged in: the username the session sends as and the full name of its `From:`.
    user: Option<Identity>,
    submission: Option<Submission>,
    transaction: Option<Transaction>,
    auth_failures: u32,
}

/// What the command loop does after one command.
enum Next {
    Continue,
    Close,
    StartTls,
}

impl Session {
    fn hostname(&self) -> &str {
        &self.shared.ctx.hostname
    }

    fn idle(&self) -> Duration {
        self.shared.ctx.limits.idle_timeout
    }

    async fn serve(&mut self, stream: MaybeTls) -> io::Result<()> {
        let mut io = Io::new(stream);
        io.replies.bare(
            220,
            format_args!("{} ESMTP coursemail ready", self.hostname()),
        );
        loop {
            let line = match io.next(self.idle(), &self.shutdown).await? {
                Input::Line(line) => line,
                Input::ShuttingDown => {
                    io.replies
                        .reply(SHUTTING_DOWN, "server shutting down, try again shortly");
                    return io.flush().await;
                }
                Input::TooLong => {
                    io.replies.reply(LINE_TOO_LONG, "line too long");
                    continue;
                }
                Input::Eof => return Ok(()),
                Input::TimedOut => {
                    io.replies
                        .reply(IDLE, "idle for too long, closing connection");
                    return io.flush().await;
                }
            };
            if line.len() + 2 > MAX_COMMAND_LINE && !is_auth(&line) {
                io.replies.reply(
                    LINE_TOO_LONG,
                    format_args!("line too long (limit {MAX_COMMAND_LINE} octets)"),
                );
                continue;
            }
            let command = match command::parse(&line) {
                Ok(c) => c,
                Err(e) => {
                    io.replies.reply(e.reply(), &e);
                    continue;
                }
            };
            match self.dispatch(&mut io, command).await? {
                Next::Continue => {}
                Next::Close => return io.flush().await,
                Next::StartTls => {
                    io.flush().await?;
                    let Some(acceptor) = self.tls.clone() else {
                        return Ok(());
                    };
                    let stream = io
                        .reader
                        .start_tls(&acceptor, self.handshake_timeout)
                        .await?;
                    io = Io::new(stream);
                    // RFC 3207 §4.2: the client starts over with EHLO.
                    self.greeting = None;
                    self.transaction = None;
                }
            }
        }
    }

    async fn dispatch(&mut self, io: &mut Io, command: Command) -> io::Result<Next> {
        match command {
            Command::Ehlo(name) => {
                self.reset(true).await;
                self.ehlo(io, &name);
                self.greeting = Some(Greeting {
                    name,
                    extended: true,
                });
            }
            Command::Helo(name) => {
                self.reset(true).await;
                io.replies.bare(250, self.hostname());
                self.greeting = Some(Greeting {
                    name,
                    extended: false,
                });
            }
            Command::StartTls => {
                if io.is_tls() {
                    io.replies.reply(BAD_SEQUENCE, "already using TLS");
                } else if self.tls.is_none() {
                    io.replies.reply(
                        Reply::new(502, "5.5.1"),
                        "TLS is not available on this port",
                    );
                } else if self.user.is_some() || self.transaction.is_some() {
                    io.replies
                        .reply(BAD_SEQUENCE, "STARTTLS must come before AUTH and MAIL");
                } else {
                    io.replies
                        .reply(Reply::new(220, "2.0.0"), "ready to start TLS");
                    return Ok(Next::StartTls);
                }
            }
            Command::Auth { mechanism, initial } => {
                return self.auth(io, &mechanism, initial).await;
            }
            Command::Mail { from, params } => self.mail(io, &from, params.size),
            Command::Rcpt(to) => self.rcpt(io, &to).await,
            Command::Data => return self.data(io).await,
            Command::Rset => {
                self.reset(false).await;
                io.replies.reply(OK, "reset");
            }
            Command::Noop => io.replies.reply(OK, "OK"),
            Command::Quit => {
                self.end_submission().await;
                io.replies.reply(
                    Reply::new(221, "2.0.0"),
                    format_args!("{} closing connection", self.hostname()),
                );
                return Ok(Next::Close);
            }
            // RFC 5321 §3.5.3: 252 when the server will not verify; nothing is looked up.
            Command::Vrfy => io.replies.reply(
                Reply::new(252, "2.5.0"),
                "cannot VRFY; send the message and the recipient is checked at RCPT",
            ),
            Command::Help => io.replies.reply(
                Reply::new(214, "2.0.0"),
                "commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA RSET NOOP QUIT VRFY HELP",
            ),
        }
        Ok(Next::Continue)
    }

    fn login_allowed(&self, io: &Io) -> bool {
        self.trusted || io.is_tls()
    }

    fn ehlo(&self, io: &mut Io, client: &str) {
        let mut lines = vec![
            format!("{} greets {client}", self.hostname()),
            "PIPELINING".to_string(),
            format!("SIZE {}", self.shared.ctx.limits.max_message_bytes),
            "8BITMIME".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
        ];
        // RFC 4954 §4 and SPEC §6: AUTH is only offered where it would be accepted.
        if self.login_allowed(io) {
            lines.push("AUTH PLAIN LOGIN".to_string());
        }
        if !io.is_tls() && self.tls.is_some() {
            lines.push("STARTTLS".to_string());
        }
        lines.push("HELP".to_string());
        io.replies.multi(250, &lines);
    }

    /// RSET and a new EHLO/HELO: the transaction is dropped and the submission closed
    /// (SPEC §6); the login stays.
    async fn reset(&mut self, greeting: bool) {
        self.transaction = None;
        self.end_submission().await;
        if greeting {
            self.greeting = None;
        }
    }

    /// Closes the open submission, moving its record (if it stored anything) into `logs/`.
    async fn end_submission(&mut self) {
        let Some(submission) = self.submission.take() else {
            return;
        };
        if submission.numbered == 0 {
            return;
        }
        let id = submission.meta.submission;
        if let Err(e) = self.shared.committer.close(id).await {
            // The record stays in logs/.open; the next start of smtp finalises it.
            tracing::error!(submission = %id, error = %e, "cannot close a session record");
        }
    }

    /// Starts a submission if none is open: at the first MAIL after AUTH, RSET or a new EHLO.
    /// Its time is the one the grader compares with deadlines (SPEC §8 calls it the AUTH time);
    /// taking it at MAIL rather than at AUTH means a connection kept open across a deadline with
    /// NOOPs cannot date a late series before it. git send-email sends MAIL right after AUTH.
    fn begin_submission(&mut self) {
        let Some(user) = self.user.as_ref().map(|i| &i.username) else {
            return;
        };
        if self.submission.is_none() {
            let submission = self.shared.ctx.ids.next_submission();
            let auth_micros = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_micros() as u64)
                .unwrap_or(0);
            self.submission = Some(Submission {
                meta: Arc::new(SessionMeta {
                    submission,
                    auth_micros,
                    username: user.clone(),
                }),
                numbered: 0,
                bytes: 0,
                client_ids: std::collections::HashMap::new(),
            });
        }
    }

    async fn auth(
        &mut self,
        io: &mut Io,
        mechanism: &str,
        initial: Option<String>,
    ) -> io::Result<Next> {
        match &self.greeting {
            None => {
                io.replies.reply(BAD_SEQUENCE, "send EHLO first");
                return Ok(Next::Continue);
            }
            Some(g) if !g.extended => {
                io.replies
                    .reply(BAD_SEQUENCE, "AUTH needs EHLO; HELO has no extensions");
                return Ok(Next::Continue);
            }
            Some(_) => {}
        }
        if self.user.is_some() {
            io.replies.reply(BAD_SEQUENCE, "already authenticated");
            return Ok(Next::Continue);
        }
        if self.transaction.is_some() {
            io.replies.reply(
                BAD_SEQUENCE,
                "AUTH is not allowed during a mail transaction",
            );
            return Ok(Next::Continue);
        }
        if !self.login_allowed(io) {
            // RFC 4954 §4 / §6: 538 when the mechanism needs an encrypted connection.
            io.replies.reply(
                Reply::new(538, "5.7.11"),
                "encryption required for authentication: use STARTTLS first",
            );
            return Ok(Next::Continue);
        }
        let credentials = match mechanism {
            "PLAIN" => self.auth_plain(io, initial).await?,
            "LOGIN" => self.auth_login(io, initial).await?,
            _ => {
                io.replies.reply(
                    Reply::new(504, "5.5.4"),
                    "unrecognized authentication mechanism; use PLAIN or LOGIN",
                );
                return Ok(Next::Continue);
            }
        };
        match credentials {
            Sasl::Credentials(user, password) => self.login(io, &user, &password).await,
            Sasl::Replied => Ok(Next::Continue),
            Sasl::Close => Ok(Next::Close),
        }
    }

    async fn auth_plain(&mut self, io: &mut Io, initial: Option<String>) -> io::Result<Sasl> {
        let response = match initial {
            Some(r) => r,
            None => match self.sasl_line(io, "").await? {
                Ok(line) => line,
                Err(sasl) => return Ok(sasl),
            },
        };
        Ok(match net::sasl::decode_plain(&response) {
            Ok(c) => Sasl::Credentials(c.username, c.password),
            Err(e) => sasl_error(io, &e),
        })
    }

    async fn auth_login(&mut self, io: &mut Io, initial: Option<String>) -> io::Result<Sasl> {
        let username = match initial {
            Some(r) => r,
            None => match self.sasl_line(io, &net::sasl::encode(b"Username:")).await? {
                Ok(line) => line,
                Err(sasl) => return Ok(sasl),
            },
        };
        let username = match net::sasl::decode_login_line(&username) {
            Ok(u) => u,
            Err(e) => return Ok(sasl_error(io, &e)),
        };
        let password = match self.sasl_line(io, &net::sasl::encode(b"Password:")).await? {
            Ok(line) => line,
            Err(sasl) => return Ok(sasl),
        };
        Ok(match net::sasl::decode_login_line(&password) {
            Ok(p) => Sasl::Credentials(username, p),
            Err(e) => sasl_error(io, &e),
        })
    }

    /// Sends a `334` challenge and reads the client's response line.
    async fn sasl_line(
        &mut self,
        io: &mut Io,
        challenge: &str,
    ) -> io::Result<Result<String, Sasl>> {
        io.replies.bare(334, challenge);
        Ok(match io.next(self.idle(), &self.shutdown).await? {
            Input::Line(line) => Ok(String::from_utf8_lossy(&line).into_owned()),
            Input::TooLong => {
                io.replies.reply(SYNTAX, "authentication response too long");
                Err(Sasl::Replied)
            }
            Input::Eof => Err(Sasl::Close),
            Input::ShuttingDown => {
                io.replies
                    .reply(SHUTTING_DOWN, "server shutting down, try again shortly");
                Err(Sasl::Close)
            }
            Input::TimedOut => {
                io.replies
                    .reply(IDLE, "idle for too long, closing connection");
                Err(Sasl::Close)
            }
        })
    }

    /// Checks credentials; on success the connection acts as that user and a submission opens.
    async fn login(&mut self, io: &mut Io, name: &str, password: &str) -> io::Result<Next> {
        let verdict = self
            .shared
            .ctx
            .credentials
            .check(self.peer.ip(), name, password)
            .await;
        match verdict {
            Verdict::Accepted(identity) => {
                tracing::debug!(peer = %self.peer, user = %identity.username, "SMTP login");
                self.user = Some(identity);
                io.replies
                    .reply(Reply::new(235, "2.7.0"), "authentication successful");
            }
            Verdict::Rejected => {
                self.auth_failures += 1;
                // SPEC §6: the same answer whether or not the user exists.
                io.replies.reply(
                    Reply::new(535, "5.7.8"),
                    "authentication credentials invalid",
                );
                if self.auth_failures >= MAX_AUTH_FAILURES {
                    io.replies.reply(
                        Reply::new(421, "4.7.0"),
                        "too many failed authentication attempts, closing connection",
                    );
                    return Ok(Next::Close);
                }
            }
            Verdict::Throttled => {
                io.replies
                    .reply(AUTH_TEMPORARY, "too many failed logins, try again later");
                return Ok(Next::Close);
            }
            Verdict::Unavailable => {
                io.replies.reply(
                    AUTH_TEMPORARY,
                    "temporary authentication failure, try again later",
                );
            }
        }
        Ok(Next::Continue)
    }

    fn mail(&mut self, io: &mut Io, from: &ReversePath, size: Option<u64>) {
        let limits = self.shared.ctx.limits;
        if self.greeting.is_none() {
            return io.replies.reply(BAD_SEQUENCE, "send EHLO first");
        }
        let Some(user) = self.user.as_ref().map(|i| &i.username) else {
            return io.replies.reply(
                Reply::new(530, "5.7.0"),
                "authentication required: use AUTH first",
            );
        };
        if self.transaction.is_some() {
            return io
                .replies
                .reply(BAD_SEQUENCE, "nested MAIL: finish this message or RSET");
        }
        let own = match from {
            ReversePath::Address(a) => {
                a.in_domain(self.hostname()) && a.local.eq_ignore_ascii_case(user.as_str())
            }
            ReversePath::Null => false,
        };
        if !own {
            return io.replies.reply(
                Reply::new(553, "5.7.1"),
                format_args!("you may only send as <{user}@{}>", self.hostname()),
            );
        }
        if size.is_some_and(|s| s > limits.max_message_bytes as u64) {
            return io.replies.reply(
                Reply::new(552, "5.3.4"),
                format_args!(
                    "message exceeds the size limit of {} bytes",
                    limits.max_message_bytes
                ),
            );
        }
        let numbered = self
            .submission
            .as_ref()
            .map_or(0, |s| usize::from(s.numbered));
        if numbered >= limits.max_messages_per_session {
            return io.replies.reply(
                Reply::new(452, "4.5.3"),
                format_args!(
                    "too many messages in this session (limit {}); QUIT and send the rest in a \
                     new one",
                    limits.max_messages_per_session
                ),
            );
        }
        self.begin_submission();
        self.transaction = Some(Transaction {
            recipients: Vec::new(),
        });
        io.replies.reply(Reply::new(250, "2.1.0"), "sender OK");
    }

    async fn rcpt(&mut self, io: &mut Io, to: &command::Address) {
        let max = self.shared.ctx.limits.max_recipients;
        let hostname = self.shared.ctx.hostname.clone();
        let Some(transaction) = &mut self.transaction else {
            return io.replies.reply(BAD_SEQUENCE, "send MAIL first");
        };
        if transaction.recipients.len() >= max {
            return io.replies.reply(
                Reply::new(452, "4.5.3"),
                format_args!("too many recipients (limit {max})"),
            );
        }
        if !to.in_domain(&hostname) {
            // No relaying: this server only accepts mail for the course.
            return io.replies.reply(
                Reply::new(550, "5.7.1"),
                format_args!("only addresses @{hostname} are accepted here"),
            );
        }
        let local = to.local.to_ascii_lowercase();
        let check = if Username::parse(&local).is_err() {
            RecipientCheck::Unknown
        } else {
            let recipients = self.shared.ctx.recipients.clone();
            let name = local.clone();
            tokio::task::spawn_blocking(move || recipients.check(&name))
                .await
                .unwrap_or(RecipientCheck::Unavailable)
        };
        match check {
            RecipientCheck::Exists => {
                if !transaction.recipients.contains(&local) {
                    transaction.recipients.push(local);
                }
                io.replies.reply(Reply::new(250, "2.1.5"), "recipient OK");
            }
            RecipientCheck::Unknown => io.replies.reply(
                Reply::new(550, "5.1.1"),
                format_args!("no such recipient <{local}@{hostname}>"),
            ),
            RecipientCheck::Unavailable => io
                .replies
                .reply(TEMPORARY, "cannot check recipients now, try again later"),
        }
    }

    async fn data(&mut self, io: &mut Io) -> io::Result<Next> {
        match &self.transaction {
            None => {
                io.replies.reply(BAD_SEQUENCE, "send MAIL first");
                return Ok(Next::Continue);
            }
            Some(t) if t.recipients.is_empty() => {
                io.replies
                    .reply(Reply::new(554, "5.5.1"), "no valid recipients");
                return Ok(Next::Continue);
            }
            Some(_) => {}
        }
        let limits = self.shared.ctx.limits;
        io.replies.bare(354, "end data with <CR><LF>.<CR><LF>");
        let mut collector = Collector::new(limits.data());
        io.reader.set_max_line(limits.max_line_bytes);
        let end = io.data(&mut collector, self.idle(), &self.shutdown).await;
        io.reader.set_max_line(MAX_AUTH_LINE);
        // The transaction is over whatever happens next (RFC 5321 §4.1.1.4).
        let Some(transaction) = self.transaction.take() else {
            return Ok(Next::Continue);
        };
        match end? {
            DataEnd::Dot => {}
            // Nothing of an unfinished message is stored.
            DataEnd::Eof => return Ok(Next::Close),
            DataEnd::TimedOut => {
                io.replies
                    .reply(IDLE, "idle for too long, closing connection");
                return Ok(Next::Close);
            }
            DataEnd::ShuttingDown => {
                io.replies
                    .reply(SHUTTING_DOWN, "server shutting down, message not stored");
                return Ok(Next::Close);
            }
        }
        match collector.finish() {
            Ok(content) => self.store(io, &content, transaction).await,
            Err(e) => io.replies.reply(e.reply(), &e),
        }
        Ok(Next::Continue)
    }

    /// Builds the stored form, commits it and answers with its id.
    async fn store(&mut self, io: &mut Io, content: &Content, transaction: Transaction) {
        let tls = io.is_tls();
        let helo = self
            .greeting
            .as_ref()
            .map_or("unknown", |g| g.name.as_str());
        let (Some(user), Some(submission)) = (&self.user, &mut self.submission) else {
            return io.replies.reply(BAD_SEQUENCE, "send MAIL first");
        };
        let cap = self.shared.ctx.limits.max_submission_bytes;
        let bytes = submission.bytes.saturating_add(content.bytes.len());
        if bytes > cap {
            return io.replies.reply(
                Reply::new(552, "5.3.4"),
                format_args!("this submission would exceed {cap} bytes in all; message not stored"),
            );
        }
        let index = submission.numbered.saturating_add(1);
        let Ok(id) = submission.meta.submission.message(index) else {
            return io
                .replies
                .reply(TEMPORARY, "cannot number the message, try again");
        };
        submission.numbered = index;
        submission.bytes = bytes;
        let header = &content.bytes[..content.header_len];
        let resolved = resolve_thread_ids(
            header,
            &submission.client_ids,
            &self.shared.message_ids,
            &self.shared.ctx.hostname,
        )
        .await;
        let stored = message::build(
            &Envelope {
                hostname: &self.shared.ctx.hostname,
                helo,
                peer: self.peer.ip(),
                tls,
                submission: submission.meta.submission,
                message: id,
                user: &user.username,
                full_name: &user.full_name,
                resolve: &|client| resolved.get(client).copied(),
                recipients: &transaction.recipients,
                date: time::OffsetDateTime::now_utc(),
            },
            content,
        );
        let client_id = crate::header::client_message_id(header);
        let pending = Pending {
            session: submission.meta.clone(),
            id,
            stored,
            first_recipient: transaction.recipients[0].clone(),
        };
        match self.shared.committer.store(pending).await {
            Ok(()) => {
                if let Some(client) = client_id {
                    submission.client_ids.entry(client.clone()).or_insert(id);
                    self.shared.message_ids.insert(client, id);
                }
                io.replies.reply(
                    OK,
                    format_args!("<{id}@{}> stored", self.shared.ctx.hostname),
                )
            }
            Err(e) => {
                tracing::error!(message = %id, error = %e, "cannot store a message");
                io.replies
                    .reply(TEMPORARY, "message not stored, try again later");
            }
        }
    }
}

/// The server ids of the client ids a message's `In-Reply-To` and `References` name: this
/// session's own first, then every stored message (a blocking lookup, off the runtime). Ids
/// that already are this server's are left alone.
async fn resolve_thread_ids(
    header: &[u8],
    session: &std::collections::HashMap<String, journal::MessageId>,
    index: &crate::threads::MessageIdIndex,
    host: &str,
) -> std::collections::HashMap<String, journal::MessageId> {
    let mut resolved = std::collections::HashMap::new();
    let mut unknown = Vec::new();
    for id in crate::header::thread_ids(header) {
        if let Some(server) = session.get(&id) {
            resolved.insert(id, *server);
        } else if !is_server_id(&id, host) && !unknown.contains(&id) {
            unknown.push(id);
        }
    }
    if !unknown.is_empty() {
        let index = index.clone();
        let found = tokio::task::spawn_blocking(move || {
            unknown
                .into_iter()
                .filter_map(|id| index.lookup(&id).map(|server| (id, server)))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        resolved.extend(found);
    }
    resolved
}

/// Whether `id` is one this server wrote: `<message id>@host`.
fn is_server_id(id: &str, host: &str) -> bool {
    id.rsplit_once('@').is_some_and(|(local, domain)| {
        domain.eq_ignore_ascii_case(host) && local.parse::<journal::MessageId>().is_ok()
    })
}

/// Outcome of reading a SASL exchange.
enum Sasl {
    Credentials(String, String),
    /// An error reply has been queued; the connection goes on.
    Replied,
    /// The connection is to be closed.
    Close,
}

fn sasl_error(io: &mut Io, e: &net::sasl::SaslError) -> Sasl {
    let reply = match e {
        // RFC 4954 §4: a cancelled exchange is answered 501.
        net::sasl::SaslError::Cancelled => Reply::new(501, "5.0.0"),
        _ => SYNTAX,
    };
    io.replies.reply(reply, e);
    Sasl::Replied
}

/// AUTH lines may be longer than other commands (RFC 4954 §4).
fn is_auth(line: &[u8]) -> bool {
    line.get(..5)
        .is_some_and(|head| head.eq_ignore_ascii_case(b"AUTH "))
}
