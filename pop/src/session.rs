//! One POP3 connection: the RFC 1939 state machine, AUTHORIZATION → TRANSACTION → UPDATE.
//!
//! Replies are queued and written when the client has nothing more pipelined (RFC 2449
//! PIPELINING), so a burst of commands costs one write. Everything that goes wrong on this
//! connection ends here: a malformed command gets `-ERR`, an I/O error ends this session only.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use journal::Username;
use journal::reader::Snapshot;
use net::credentials::Verdict;
use net::{CancellationToken, Connection, Line, LineReader, MaybeTls, TlsAcceptor};
use tokio::io::AsyncWriteExt;

use crate::command::{self, Command};
use crate::maildrop::{Entry, Lookup, Maildrop};
use crate::reply::{Code, Replies};
use crate::server::PopContext;

/// Longest command line accepted. RFC 2449 limits commands to 255 octets; AUTH initial responses
/// and generous clients get some room beyond that.
const MAX_LINE: usize = 1024;
/// Failed logins allowed on one connection before it is closed.
const MAX_FAILURES: u32 = 3;
/// Messages up to this size are copied into the reply buffer; larger ones are written directly.
const INLINE_MESSAGE: usize = 256 * 1024;

/// Where the session is in RFC 1939's terms.
enum State {
    /// Before login; `user` is the name given by USER, waiting for PASS.
    Authorization { user: Option<String> },
    /// Logged in.
    Transaction {
        user: Username,
        maildrop: Box<Maildrop>,
    },
}

/// The connection: a line reader over the stream plus queued replies.
struct Io {
    reader: LineReader<MaybeTls>,
    replies: Replies,
}

/// What the client sent next.
enum Input {
    Line(Vec<u8>),
    TooLong,
    Eof,
    TimedOut,
    ShuttingDown,
}

impl Io {
    fn new(stream: MaybeTls) -> Self {
        Self {
            reader: LineReader::new(stream, MAX_LINE),
            replies: Replies::default(),
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

    /// Sends already-framed bytes: queued when small, otherwise written straight after what is
    /// queued. The explicit flush matters for TLS, whose writer may hold the last records back.
    async fn send_bulk(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.len() <= INLINE_MESSAGE {
            self.replies.raw(bytes);
            return Ok(());
        }
        self.flush().await?;
        let stream = self.reader.get_mut();
        stream.write_all(bytes).await?;
        stream.flush().await
    }

    /// The next line, flushing replies first unless more commands are already pipelined (and
    /// not too much is queued).
    async fn next(&mut self, ctx: &PopContext, shutdown: &CancellationToken) -> io::Result<Input> {
        if self.reader.should_flush(self.replies.pending().len()) {
            self.flush().await?;
        }
        let read = tokio::time::timeout(ctx.idle_timeout, self.reader.read_line());
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

    fn is_tls(&self) -> bool {
        self.reader.get_ref().is_tls()
    }
}

/// Serves one connection to the end. Errors are logged, never propagated.
pub async fn run(conn: Connection, ctx: Arc<PopContext>) {
    let peer = conn.peer;
    let mut session = Session {
        peer,
        trusted: conn.trusted,
        tls: conn.tls,
        handshake_timeout: conn.tls_handshake_timeout,
        shutdown: conn.shutdown,
        ctx,
        failures: 0,
    };
    if let Err(e) = session.serve(conn.stream).await {
        tracing::debug!(%peer, error = %e, "POP3 session ended with an error");
    }
}

/// One connection's settings and counters; the protocol state lives in [`State`].
struct Session {
    peer: SocketAddr,
    trusted: bool,
    tls: Option<TlsAcceptor>,
    handshake_timeout: std::time::Duration,
    shutdown: CancellationToken,
    ctx: Arc<PopContext>,
    failures: u32,
}

/// What the command loop does after one command.
enum Next {
    Continue,
    Close,
    StartTls,
}

impl Session {
    async fn serve(&mut self, stream: MaybeTls) -> io::Result<()> {
        let mut io = Io::new(stream);
        let mut state = State::Authorization { user: None };
        io.replies.ok(format_args!(
            "coursemail POP3 server ready on {}",
            self.ctx.hostname
        ));
        loop {
            let line = match io.next(&self.ctx, &self.shutdown).await? {
                Input::Line(line) => line,
                Input::ShuttingDown => {
                    io.replies.err(
                        Some(Code::SysTemp),
                        "server shutting down, try again shortly",
                    );
                    return io.flush().await;
                }
                Input::TooLong => {
                    io.replies.err(
                        None,
                        format_args!("line too long (limit {MAX_LINE} octets)"),
                    );
                    continue;
                }
                // RFC 1939 §3: an autologout or a vanished client never enters UPDATE, so
                // nothing marked in this session is deleted.
                Input::Eof => return Ok(()),
                Input::TimedOut => {
                    io.replies
                        .err(None, "idle for too long, closing connection");
                    return io.flush().await;
                }
            };
            let command = match command::parse(&line) {
                Ok(c) => c,
                Err(e) => {
                    io.replies.err(None, e);
                    continue;
                }
            };
            match self.dispatch(&mut io, &mut state, command).await? {
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
                    state = State::Authorization { user: None };
                }
            }
        }
    }

    fn login_allowed(&self, io: &Io) -> bool {
        self.trusted || io.is_tls()
    }

    async fn dispatch(
        &mut self,
        io: &mut Io,
        state: &mut State,
        command: Command,
    ) -> io::Result<Next> {
        match (command, &mut *state) {
            (Command::Capa, state) => self.capa(io, state),
            (Command::Noop, _) => io.replies.ok(""),
            (Command::Quit, State::Authorization { .. }) => {
                io.replies.ok("coursemail POP3 server signing off");
                return Ok(Next::Close);
            }
            (Command::Quit, State::Transaction { user, maildrop }) => {
                self.update(io, user, maildrop).await;
                return Ok(Next::Close);
            }
            (Command::Stls, State::Authorization { .. }) => {
                if io.is_tls() {
                    io.replies.err(None, "already using TLS");
                } else if self.tls.is_none() {
                    io.replies.err(None, "TLS is not available on this port");
                } else {
                    io.replies.ok("begin TLS negotiation");
                    return Ok(Next::StartTls);
                }
            }
            (Command::User(name), State::Authorization { user }) => {
                if !self.login_allowed(io) {
                    io.replies.err(
                        None,
                        "credentials are only accepted over TLS: use STLS first",
                    );
                } else {
                    *user = Some(name);
                    io.replies.ok("send PASS");
                }
            }
            (Command::Pass(password), State::Authorization { user }) => match user.take() {
                None => io.replies.err(None, "send USER first"),
                Some(name) => return self.login(io, state, &name, &password).await,
            },
            (
                Command::Auth {
                    mechanism: None, ..
                },
                State::Authorization { .. },
            ) => {
                io.replies.ok("supported mechanisms follow");
                if self.login_allowed(io) {
                    io.replies.item("PLAIN");
                }
                io.replies.end();
            }
            (
                Command::Auth {
                    mechanism: Some(m),
                    initial,
                },
                State::Authorization { .. },
            ) => {
                if !self.login_allowed(io) {
                    io.replies.err(
                        None,
                        "credentials are only accepted over TLS: use STLS first",
                    );
                } else if m != "PLAIN" {
                    io.replies
                        .err(None, format_args!("unsupported mechanism {m}; use PLAIN"));
                } else {
                    return self.auth_plain(io, state, initial).await;
                }
            }
            (Command::Stat, State::Transaction { maildrop, .. }) => {
                let (count, octets) = maildrop.stat();
                io.replies.ok(format_args!("{count} {octets}"));
            }
            (Command::List(n), State::Transaction { maildrop, .. }) => {
                list(io, maildrop, n, |e| format!("{} {}", e.number, e.octets()))
            }
            (Command::Uidl(n), State::Transaction { maildrop, .. }) => {
                list(io, maildrop, n, |e| format!("{} {}", e.number, e.uid()))
            }
            (Command::Retr(n), State::Transaction { maildrop, .. }) => {
                if let Some(entry) = found(io, maildrop, n) {
                    self.retr(io, &entry).await?;
                }
            }
            (Command::Top(n, lines), State::Transaction { maildrop, .. }) => {
                if let Some(entry) = found(io, maildrop, n) {
                    self.top(io, &entry, lines).await?;
                }
            }
            (Command::Dele(n), State::Transaction { maildrop, .. }) => match maildrop.mark(n) {
                Ok(Ok(())) => io.replies.ok(format_args!("message {n} deleted")),
                Ok(Err(lookup)) => no_message(io, n, lookup),
                Err(e) => journal_error(io, &e),
            },
            (Command::Rset, State::Transaction { maildrop, .. }) => {
                maildrop.unmark_all();
                let (count, octets) = maildrop.stat();
                io.replies.ok(format_args!(
                    "maildrop has {count} messages ({octets} octets)"
                ));
            }
            (Command::Rset, State::Authorization { .. }) => io.replies.ok(""),
            (command, State::Authorization { .. }) => io.replies.err(
                None,
                format_args!("{} is not allowed before login", name(&command)),
            ),
            (command, State::Transaction { .. }) => io.replies.err(
                None,
                format_args!("{} is not allowed after login", name(&command)),
            ),
        }
        Ok(Next::Continue)
    }

    fn capa(&self, io: &mut Io, state: &State) {
        let before_login = matches!(state, State::Authorization { .. });
        io.replies.ok("capability list follows");
        // RFC 2595 §4: do not advertise plaintext logins where they would be refused.
        if before_login && self.login_allowed(io) {
            io.replies.item("USER");
            io.replies.item("SASL PLAIN");
        }
        if before_login && !io.is_tls() && self.tls.is_some() {
            io.replies.item("STLS");
        }
        for cap in [
            "TOP",
            "UIDL",
            "PIPELINING",
            "RESP-CODES",
            "AUTH-RESP-CODE",
            "EXPIRE NEVER",
        ] {
            io.replies.item(cap);
        }
        io.replies.item("IMPLEMENTATION coursemail");
        io.replies.end();
    }

    async fn auth_plain(
        &mut self,
        io: &mut Io,
        state: &mut State,
        initial: Option<String>,
    ) -> io::Result<Next> {
        let response = match initial {
            Some(r) => r,
            None => {
                io.replies.challenge("");
                match io.next(&self.ctx, &self.shutdown).await? {
                    Input::Line(line) => String::from_utf8_lossy(&line).into_owned(),
                    Input::TooLong => {
                        io.replies.err(None, "authentication response too long");
                        return Ok(Next::Continue);
                    }
                    Input::Eof | Input::ShuttingDown => return Ok(Next::Close),
                    Input::TimedOut => {
                        io.replies
                            .err(None, "idle for too long, closing connection");
                        return Ok(Next::Close);
                    }
                }
            }
        };
        match net::sasl::decode_plain(&response) {
            Ok(c) => self.login(io, state, &c.username, &c.password).await,
            Err(e) => {
                io.replies.err(None, e);
                Ok(Next::Continue)
            }
        }
    }

    /// Checks credentials and, on success, opens the maildrop and enters TRANSACTION.
    async fn login(
        &mut self,
        io: &mut Io,
        state: &mut State,
        name: &str,
        password: &str,
    ) -> io::Result<Next> {
        match self
            .ctx
            .credentials
            .check(self.peer.ip(), name, password)
            .await
        {
            Verdict::Accepted(identity) => match self.open_maildrop(identity.username).await {
                Ok((user, maildrop)) => {
                    let (count, octets) = maildrop.stat();
                    io.replies.ok(format_args!(
                        "{user}'s maildrop has {count} messages ({octets} octets)"
                    ));
                    *state = State::Transaction {
                        user,
                        maildrop: Box::new(maildrop),
                    };
                }
                Err(e) => {
                    tracing::error!(user = name, error = %e, "cannot open maildrop");
                    io.replies.err(
                        Some(Code::SysTemp),
                        "maildrop temporarily unavailable, try again later",
                    );
                }
            },
            Verdict::Rejected => {
                self.failures += 1;
                io.replies
                    .err(Some(Code::Auth), "invalid username or password");
                if self.failures >= MAX_FAILURES {
                    io.replies.err(
                        Some(Code::Auth),
                        "too many failed logins, closing connection",
                    );
                    return Ok(Next::Close);
                }
            }
            Verdict::Throttled => {
                io.replies
                    .err(Some(Code::Auth), "too many failed logins, try again later");
                return Ok(Next::Close);
            }
            Verdict::Unavailable => {
                io.replies.err(
                    Some(Code::SysTemp),
                    "cannot check credentials now, try again later",
                );
            }
        }
        Ok(Next::Continue)
    }

    /// Opens the user's maildrop on the blocking pool: usually a few system calls, but after a
    /// journal rebuild locating earlier deletions means one scan of the user's prefix.
    async fn open_maildrop(&self, user: Username) -> Result<(Username, Maildrop), String> {
        let ctx = self.ctx.clone();
        let who = user.clone();
        let maildrop = tokio::task::spawn_blocking(move || {
            let snapshot = Snapshot::open(&ctx.journal, &who).map_err(|e| e.to_string())?;
            let deleted = ctx.deletions.load(&who).map_err(|e| e.to_string())?;
            Maildrop::new(snapshot, &deleted).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())??;
        Ok((user, maildrop))
    }

    async fn retr(&self, io: &mut Io, entry: &Entry) -> io::Result<()> {
        let Some(wire) = self.read_message(io, entry).await else {
            return Ok(());
        };
        io.replies.ok(format_args!("{} octets", entry.octets()));
        io.send_bulk(&wire).await
    }

    async fn top(&self, io: &mut Io, entry: &Entry, lines: u64) -> io::Result<()> {
        let Some(wire) = self.read_message(io, entry).await else {
            return Ok(());
        };
        io.replies.ok("top of message follows");
        let header_len = entry.record.header_len.max(0) as usize;
        io.send_bulk(top_of(&wire, header_len, lines)).await?;
        io.replies.end();
        Ok(())
    }

    /// The stored file, already in wire form (dot-stuffed, ending in `.\r\n`).
    async fn read_message(&self, io: &mut Io, entry: &Entry) -> Option<Vec<u8>> {
        let path = self.ctx.mail.path(&entry.record.name);
        match tokio::fs::read(&path).await {
            Ok(wire) if wire.ends_with(b".\r\n") => Some(wire),
            Ok(_) => {
                tracing::error!(path = %path.display(), "stored message does not end in .CRLF");
                io.replies
                    .err(Some(Code::SysPerm), "message is damaged on the server");
                None
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot read stored message");
                io.replies
                    .err(Some(Code::SysTemp), "message temporarily unavailable");
                None
            }
        }
    }

    /// UPDATE state: commits this session's deletions for this user only.
    async fn update(&self, io: &mut Io, user: &Username, maildrop: &Maildrop) {
        let count = maildrop.marked().len();
        // Corrected position hints ride along, so a rebuilt journal is rescanned only once.
        let mut marked = maildrop.relocated();
        marked.extend(maildrop.marked());
        let store = self.ctx.deletions.clone();
        let who = user.clone();
        let committed = tokio::task::spawn_blocking(move || store.commit(&who, &marked)).await;
        match committed {
            Ok(Ok(())) => io.replies.ok(format_args!(
                "coursemail POP3 server signing off ({count} messages deleted)"
            )),
            Ok(Err(e)) => {
                tracing::error!(%user, error = %e, "cannot record POP3 deletions");
                io.replies
                    .err(Some(Code::SysTemp), "some deleted messages not removed");
            }
            Err(e) => {
                tracing::error!(%user, error = %e, "deletion task failed");
                io.replies
                    .err(Some(Code::SysTemp), "some deleted messages not removed");
            }
        }
    }
}

/// The header and the first `lines` body lines of a stored message, without its terminator.
/// Body lines are already dot-stuffed, so they go out as they are.
pub fn top_of(wire: &[u8], header_len: usize, lines: u64) -> &[u8] {
    let content = &wire[..wire.len().saturating_sub(3)];
    let header_end = header_len.min(content.len());
    let mut end = header_end;
    let mut remaining = lines;
    while remaining > 0 && end < content.len() {
        end = match content[end..].iter().position(|&b| b == b'\n') {
            Some(i) => end + i + 1,
            None => content.len(),
        };
        remaining -= 1;
    }
    &content[..end]
}

/// Answers LIST/UIDL with or without a message number.
fn list(io: &mut Io, maildrop: &Maildrop, n: Option<u32>, line: impl Fn(&Entry) -> String) {
    match n {
        Some(n) => {
            if let Some(entry) = found(io, maildrop, n) {
                io.replies.ok(line(&entry));
            }
        }
        None => {
            // Collect first so a journal error mid-way gives one -ERR, not half a listing.
            match maildrop.entries().collect::<Result<Vec<_>, _>>() {
                Ok(entries) => {
                    io.replies.ok(format_args!("{} messages", entries.len()));
                    for entry in &entries {
                        io.replies.item(line(entry));
                    }
                    io.replies.end();
                }
                Err(e) => journal_error(io, &e),
            }
        }
    }
}

/// The entry numbered `n`, or an `-ERR` saying why not.
fn found(io: &mut Io, maildrop: &Maildrop, n: u32) -> Option<Entry> {
    match maildrop.get(n) {
        Ok(Ok(entry)) => Some(entry),
        Ok(Err(lookup)) => {
            no_message(io, n, lookup);
            None
        }
        Err(e) => {
            journal_error(io, &e);
            None
        }
    }
}

fn no_message(io: &mut Io, n: u32, lookup: Lookup) {
    match lookup {
        Lookup::NoSuchMessage => io.replies.err(None, format_args!("no such message {n}")),
        Lookup::Deleted => io.replies.err(None, format_args!("message {n} is deleted")),
    }
}

fn journal_error(io: &mut Io, e: &journal::JournalError) {
    tracing::error!(error = %e, "journal read failed during a POP3 session");
    io.replies
        .err(Some(Code::SysTemp), "maildrop temporarily unreadable");
}

fn name(command: &Command) -> &'static str {
    match command {
        Command::Capa => "CAPA",
        Command::User(_) => "USER",
        Command::Pass(_) => "PASS",
        Command::Auth { .. } => "AUTH",
        Command::Stls => "STLS",
        Command::Stat => "STAT",
        Command::List(_) => "LIST",
        Command::Uidl(_) => "UIDL",
        Command::Retr(_) => "RETR",
        Command::Top(..) => "TOP",
        Command::Dele(_) => "DELE",
        Command::Rset => "RSET",
        Command::Noop => "NOOP",
        Command::Quit => "QUIT",
    }
}

#[cfg(test)]
mod tests {
    use super::top_of;

    const WIRE: &[u8] = b"Subject: x\r\n\r\nline 1\r\n..dotted\r\nline 3\r\n.\r\n";

    #[test]
    fn top_zero_lines_is_the_header() {
        assert_eq!(top_of(WIRE, 14, 0), b"Subject: x\r\n\r\n");
    }

    #[test]
    fn top_keeps_dot_stuffing_and_stops_at_the_body_end() {
        assert_eq!(
            top_of(WIRE, 14, 2),
            b"Subject: x\r\n\r\nline 1\r\n..dotted\r\n"
        );
        assert_eq!(
            top_of(WIRE, 14, 99),
            b"Subject: x\r\n\r\nline 1\r\n..dotted\r\nline 3\r\n"
        );
    }

    #[test]
    fn top_survives_a_header_length_beyond_the_file() {
        assert_eq!(top_of(WIRE, 9999, 3), &WIRE[..WIRE.len() - 3]);
    }
}
