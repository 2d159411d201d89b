//! Session records under `logs/` (SPEC §3, §6): one file per closed SMTP session, saying who
//! submitted, when, and which messages. smtp writes them; denis reads them.
//!
//! # Format
//! A small line format, one fact per line, every line ending in `\n`:
//!
//! ```text
//! coursemail-session 1
//! auth 1732377000123456 alice
//! message 0193a5c3f1e2a7b4c5d6e7f800010001 hw1
//! message 0193a5c3f1e2a7b4c5d6e7f800010002 hw1
//! end 2
//! ```
//!
//! `auth` holds the time the session (submission) began in microseconds since the Unix epoch
//! and the authenticated username; each `message` line a stored message's id and the local part
//! of its first recipient (lowercase; the domain is always the course's); `end` the number of
//! messages, so a reader can tell a complete record from a truncated one.
//!
//! # Life of a record
//! While its session is open a record lives in `logs/.open/<submission-id>`, locked with `flock`
//! by the process that owns the session; lines are appended as messages are stored. At close it
//! gets its `end` line, is fsync'd and renamed to `logs/<submission-id>` in one step, so a reader
//! listing `logs/` never sees an open session and sees every closed one exactly once. A session
//! that stored nothing never creates a file. After a crash, [`SessionLog::finalise_stale`]
//! completes the open records nobody holds a lock on.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::durable::{sync_dir, write_file_atomic};
use crate::ids::{MessageId, SubmissionId, Username};
use crate::layout::create_private_dir;
use crate::store::MailStore;

/// First line of every record: the format and its version.
pub const MAGIC: &str = "coursemail-session 1";
/// Directory under `logs/` holding the records of sessions still open.
pub const OPEN_DIR: &str = ".open";
/// Mode of record files: like mail, readable by the service group only.
const RECORD_MODE: u32 = 0o640;

/// Why a record's text is not a valid record. Pure, so the parser is unit-tested without files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct FormatError {
    /// Line number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// What went wrong with the session records.
#[derive(Debug, thiserror::Error)]
pub enum SessionLogError {
    /// A file system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A record file does not hold a valid record.
    #[error(
        "session record {} is damaged ({source}); inspect it by hand, the messages it names \
         are in mail/",
        path.display()
    )]
    Malformed {
        /// The record file.
        path: PathBuf,
        /// Where and why parsing failed.
        source: FormatError,
    },
    /// A first recipient that cannot be written into a record.
    #[error(
        "recipient {0:?} cannot be recorded: it must be a valid local part (a lowercase letter, \
         then lowercase letters, digits, '.', '_' or '-')"
    )]
    InvalidRecipient(String),
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SessionLogError {
    let path = path.to_path_buf();
    move |source| SessionLogError::Io {
        action,
        path,
        source,
    }
}

/// One stored message as its session record lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedMessage {
    /// The message's id (its file under `mail/`).
    pub id: MessageId,
    /// Local part of the message's first recipient, lowercase.
    pub first_recipient: String,
}

/// The content of one session record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session's submission id (also the record's file name).
    pub submission: SubmissionId,
    /// When the session began (AUTH, or the first MAIL after a reset), microseconds since the
    /// Unix epoch.
    pub auth_micros: u64,
    /// The authenticated user.
    pub username: Username,
    /// The stored messages, in the order they were stored.
    pub messages: Vec<RecordedMessage>,
}

impl SessionRecord {
    /// The first two lines, written when the record is created.
    fn header(auth_micros: u64, username: &Username) -> String {
        format!("{MAGIC}\nauth {auth_micros} {username}\n")
    }

    fn message_line(id: &MessageId, first_recipient: &str) -> String {
        format!("message {id} {first_recipient}\n")
    }

    /// The complete record as it is stored under `logs/`.
    pub fn encode(&self) -> String {
        let mut text = Self::header(self.auth_micros, &self.username);
        for m in &self.messages {
            text.push_str(&Self::message_line(&m.id, &m.first_recipient));
        }
        text.push_str(&format!("end {}\n", self.messages.len()));
        text
    }

    /// Parses a closed record: every line well-formed, ending in an `end` line whose count
    /// matches, and every message belonging to `submission` in increasing order.
    pub fn parse(submission: SubmissionId, text: &str) -> Result<Self, FormatError> {
        let (record, ended) = Self::parse_lines(submission, text)?;
        if !ended {
            return Err(FormatError {
                line: text.lines().count() + 1,
                reason: "missing `end` line: the record is incomplete".into(),
            });
        }
        Ok(record)
    }

    /// Parses a record that was still open when its process died: a last line without its
    /// `\n` (an append cut short) is ignored, and no `end` line is required. Such a tail was
    /// never acknowledged to a client, since acknowledgement waits for the record's fsync.
    pub fn parse_open(submission: SubmissionId, text: &str) -> Result<Self, FormatError> {
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        Self::parse_lines(submission, complete).map(|(record, _)| record)
    }

    fn parse_lines(submission: SubmissionId, text: &str) -> Result<(Self, bool), FormatError> {
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        let bad = |line: usize, reason: String| FormatError { line, reason };
        match lines.next() {
            Some((_, MAGIC)) => {}
            Some((n, other)) => return Err(bad(n, format!("expected {MAGIC:?}, found {other:?}"))),
            None => return Err(bad(1, "empty record".into())),
        }
        let (n, auth) = lines
            .next()
            .ok_or_else(|| bad(2, "missing `auth` line".into()))?;
        let (auth_micros, username) = match auth.split(' ').collect::<Vec<_>>()[..] {
            ["auth", micros, user] => (
                micros
                    .parse::<u64>()
                    .map_err(|_| bad(n, format!("auth time {micros:?} is not a number")))?,
                Username::parse(user).map_err(|e| bad(n, e.to_string()))?,
            ),
            _ => {
                return Err(bad(
                    n,
                    format!("expected `auth MICROS USER`, found {auth:?}"),
                ));
            }
        };
        let mut record = SessionRecord {
            submission,
            auth_micros,
            username,
            messages: Vec::new(),
        };
        let mut ended = false;
        for (n, line) in lines {
            if ended {
                return Err(bad(n, format!("text after the `end` line: {line:?}")));
            }
            match line.split(' ').collect::<Vec<_>>()[..] {
                ["message", id, rcpt] => {
                    let id = MessageId::parse(id).map_err(|e| bad(n, e.to_string()))?;
                    if id.submission() != submission {
                        return Err(bad(
                            n,
                            format!("message {id} is not of session {submission}"),
                        ));
                    }
                    if record.messages.last().is_some_and(|m| m.id >= id) {
                        return Err(bad(n, format!("message {id} is out of order")));
                    }
                    check_recipient(rcpt).map_err(|e| bad(n, e.to_string()))?;
                    record.messages.push(RecordedMessage {
                        id,
                        first_recipient: rcpt.to_string(),
                    });
                }
                ["end", count] => {
                    if count.parse::<usize>().ok() != Some(record.messages.len()) {
                        return Err(bad(
                            n,
                            format!(
                                "`end {count}` but the record lists {} messages",
                                record.messages.len()
                            ),
                        ));
                    }
                    ended = true;
                }
                _ => return Err(bad(n, format!("unexpected line {line:?}"))),
            }
        }
        Ok((record, ended))
    }
}

/// A first recipient must be safe in a line of this format and usable as a local part:
/// the username rule, which assignment and list names follow too.
fn check_recipient(rcpt: &str) -> Result<(), SessionLogError> {
    Username::parse(rcpt)
        .map(drop)
        .map_err(|_| SessionLogError::InvalidRecipient(rcpt.escape_debug().to_string()))
}

/// What [`SessionLog::finalise_stale`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FinaliseReport {
    /// Open records of dead sessions that were completed and moved into `logs/`.
    pub closed: usize,
    /// Open records that named no stored message and were removed.
    pub discarded: usize,
    /// Open records still locked by a live process, left alone.
    pub in_use: usize,
}

/// The `logs/` directory.
#[derive(Debug, Clone)]
pub struct SessionLog {
    dir: PathBuf,
}

impl SessionLog {
    /// The records in `dir` (usually [`crate::DataRoot::logs_dir`]).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory of closed records.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of open records (`logs/.open`).
    pub fn open_dir(&self) -> PathBuf {
        self.dir.join(OPEN_DIR)
    }

    fn closed_path(&self, submission: &SubmissionId) -> PathBuf {
        self.dir.join(submission.as_str())
    }

    /// Creates `logs/` and `logs/.open` (mode 0700) if missing.
    pub fn create_dirs(&self) -> Result<(), SessionLogError> {
        let open = self.open_dir();
        create_private_dir(&open).map_err(io_error("create", &open))
    }

    /// Every closed session, sorted by submission id (the order sessions began). Open records,
    /// temporaries and stray files are not listed.
    pub fn list_closed(&self) -> Result<Vec<SubmissionId>, SessionLogError> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_error("list", &self.dir))? {
            let entry = entry.map_err(io_error("list", &self.dir))?;
            if let Some(id) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// Reads and checks the closed record of `submission`.
    pub fn read(&self, submission: &SubmissionId) -> Result<SessionRecord, SessionLogError> {
        let path = self.closed_path(submission);
        let text = fs::read_to_string(&path).map_err(io_error("read", &path))?;
        SessionRecord::parse(*submission, &text)
            .map_err(|source| SessionLogError::Malformed { path, source })
    }

    /// Creates the open record of a session that is about to store its first message, locked
    /// by this process, with its header written but not yet synced (the first
    /// [`OpenRecord::sync`] makes both durable, together with [`SessionLog::sync_open_dir`]).
    pub fn create(
        &self,
        submission: SubmissionId,
        auth_micros: u64,
        username: &Username,
    ) -> Result<OpenRecord, SessionLogError> {
        let path = self.open_dir().join(submission.as_str());
        let file = loop {
            let file = OpenOptions::new()
                .append(true)
                .create_new(true)
                .mode(RECORD_MODE)
                .open(&path)
                .map_err(io_error("create", &path))?;
            file.lock().map_err(io_error("lock", &path))?;
            // A finaliser in another process may have taken the lock first, seen an empty
            // record and removed it; then ours is unlinked and we start again.
            if same_file(&file, &path) {
                break file;
            }
        };
        let mut record = OpenRecord {
            submission,
            path,
            file,
            messages: 0,
            len: 0,
        };
        record.write(&SessionRecord::header(auth_micros, username))?;
        Ok(record)
    }

    /// Makes new names in `logs/.open` durable (after creating records).
    pub fn sync_open_dir(&self) -> Result<(), SessionLogError> {
        let open = self.open_dir();
        sync_dir(&open).map_err(io_error("fsync", &open))
    }

    /// Makes records moved into `logs/` durable (after [`OpenRecord::finish`]).
    pub fn sync(&self) -> Result<(), SessionLogError> {
        sync_dir(&self.dir).map_err(io_error("fsync", &self.dir))
    }

    /// Completes the open records of sessions whose process died (their lock is free): keeps
    /// the messages that are in `mail`, moves the record into `logs/`, and removes records that
    /// name no stored message. Records locked by a live process are left alone.
    pub fn finalise_stale(&self, mail: &MailStore) -> Result<FinaliseReport, SessionLogError> {
        let open_dir = self.open_dir();
        let mut report = FinaliseReport::default();
        let entries = match fs::read_dir(&open_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(report),
            Err(e) => return Err(io_error("list", &open_dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_error("list", &open_dir))?;
            let Some(submission) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<SubmissionId>().ok())
            else {
                continue;
            };
            match self.finalise_one(mail, submission, &entry.path())? {
                Finalised::Closed => report.closed += 1,
                Finalised::Discarded => report.discarded += 1,
                Finalised::InUse => report.in_use += 1,
            }
        }
        if report.closed + report.discarded > 0 {
            self.sync()?;
            self.sync_open_dir()?;
            tracing::info!(
                closed = report.closed,
                discarded = report.discarded,
                "finalised session records left open by a stopped smtp process"
            );
        }
        Ok(report)
    }

    fn finalise_one(
        &self,
        mail: &MailStore,
        submission: SubmissionId,
        path: &Path,
    ) -> Result<Finalised, SessionLogError> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Finalised::InUse),
            Err(e) => return Err(io_error("open", path)(e)),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(Finalised::InUse),
            Err(fs::TryLockError::Error(e)) => return Err(io_error("lock", path)(e)),
        }
        // Another finaliser may have moved this record between our open and our lock.
        if !same_file(&file, path) {
            return Ok(Finalised::InUse);
        }
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(io_error("read", path))?;
        let closed = self.closed_path(&submission);
        // A message line is written only once its file is durable, and acknowledged only once
        // the line is: without one complete message line (a record cut short in its header, or
        // never written), nothing was stored.
        let record = if !text.contains("\nmessage ") {
            None
        } else {
            let mut record = match SessionRecord::parse_open(submission, &text) {
                Ok(record) => record,
                Err(source) => {
                    // Leave it for an operator rather than refuse to start smtp over it.
                    tracing::error!(path = %path.display(), error = %source,
                        "cannot read a session record left open; leaving it in logs/.open");
                    return Ok(Finalised::InUse);
                }
            };
            // Messages are durable under mail/ before their line is appended, so a line whose
            // file is missing cannot exist; checking anyway keeps the invariant "a record never
            // names a missing message" independent of that ordering.
            record.messages.retain(|m| mail.path(&m.id).exists());
            Some(record).filter(|r| !r.messages.is_empty())
        };
        let outcome = match record {
            Some(record) if !closed.exists() => {
                write_file_atomic(&closed, record.encode().as_bytes(), RECORD_MODE)
                    .map_err(io_error("write", &closed))?;
                Finalised::Closed
            }
            // Already moved by an earlier finaliser that died before removing the open copy.
            Some(_) => Finalised::Closed,
            None => Finalised::Discarded,
        };
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io_error("remove", path)(e));
            }
            _ => {}
        }
        Ok(outcome)
    }
}

enum Finalised {
    Closed,
    Discarded,
    InUse,
}

/// The open record of one session, owned (and `flock`ed) by this process.
#[derive(Debug)]
pub struct OpenRecord {
    submission: SubmissionId,
    path: PathBuf,
    file: File,
    messages: usize,
    /// Bytes of complete lines written so far.
    len: u64,
}

impl OpenRecord {
    /// The session this record belongs to.
    pub fn submission(&self) -> SubmissionId {
        self.submission
    }

    /// How many messages the record lists.
    pub fn messages(&self) -> usize {
        self.messages
    }

    fn write(&mut self, text: &str) -> Result<(), SessionLogError> {
        match self.file.write_all(text.as_bytes()) {
            Ok(()) => {
                self.len += text.len() as u64;
                Ok(())
            }
            Err(e) => {
                // A full disk can leave half a line behind; cut it off so that the lines that
                // follow, and the record as a whole, stay readable.
                let _ = self.file.set_len(self.len);
                Err(io_error("append to", &self.path)(e))
            }
        }
    }

    /// Appends a stored message (not yet durable: see [`OpenRecord::sync`]). The message must
    /// already be durable under `mail/`, so the record never names a missing file.
    pub fn append(&mut self, id: &MessageId, first_recipient: &str) -> Result<(), SessionLogError> {
        check_recipient(first_recipient)?;
        self.write(&SessionRecord::message_line(id, first_recipient))?;
        self.messages += 1;
        Ok(())
    }

    /// Makes everything appended so far durable.
    pub fn sync(&self) -> Result<(), SessionLogError> {
        self.file.sync_data().map_err(io_error("fsync", &self.path))
    }

    /// Closes the session: writes the `end` line, syncs, and renames the record into `logs/`.
    /// The rename is durable once the caller runs [`SessionLog::sync`] (once for many records).
    pub fn finish(mut self, log: &SessionLog) -> Result<(), SessionLogError> {
        self.write(&format!("end {}\n", self.messages))?;
        self.sync()?;
        let closed = log.closed_path(&self.submission);
        fs::rename(&self.path, &closed).map_err(io_error("rename into place", &closed))
        // Dropping the file releases the lock, after the rename: a finaliser never sees it.
    }
}

fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IdGenerator;

    fn sample() -> SessionRecord {
        let sub = IdGenerator::new().next_submission();
        SessionRecord {
            submission: sub,
            auth_micros: 1_732_377_000_123_456,
            username: Username::parse("alice").unwrap(),
            messages: (1..=3)
                .map(|i| RecordedMessage {
                    id: sub.message(i).unwrap(),
                    first_recipient: "hw1".into(),
                })
                .collect(),
        }
    }

    fn log_in_tempdir() -> (tempfile::TempDir, SessionLog, MailStore) {
        let dir = tempfile::tempdir().unwrap();
        let log = SessionLog::new(dir.path().join("logs"));
        log.create_dirs().unwrap();
        let mail = MailStore::new(dir.path().join("mail"));
        fs::create_dir(mail.dir()).unwrap();
        (dir, log, mail)
    }

    #[test]
    fn encoded_record_parses_back_to_itself() {
        let record = sample();
        let text = record.encode();
        assert!(text.starts_with("coursemail-session 1\nauth 1732377000123456 alice\nmessage "));
        assert!(text.ends_with("end 3\n"));
        assert_eq!(
            SessionRecord::parse(record.submission, &text).unwrap(),
            record
        );
    }

    #[test]
    fn record_without_end_line_is_incomplete() {
        let record = sample();
        let text = record.encode().replace("end 3\n", "");
        let err = SessionRecord::parse(record.submission, &text).unwrap_err();
        assert!(err.reason.contains("missing `end`"), "{err}");
        assert_eq!(
            SessionRecord::parse_open(record.submission, &text).unwrap(),
            record
        );
    }

    #[test]
    fn end_count_must_match_the_messages() {
        let record = sample();
        let text = record.encode().replace("end 3", "end 4");
        let err = SessionRecord::parse(record.submission, &text).unwrap_err();
        assert_eq!(err.line, 6);
    }

    #[test]
    fn open_record_ignores_a_line_cut_short() {
        let record = sample();
        let mut text = record.encode().replace("end 3\n", "");
        text.push_str("message 0123");
        let parsed = SessionRecord::parse_open(record.submission, &text).unwrap();
        assert_eq!(parsed.messages.len(), 3);
        assert!(SessionRecord::parse(record.submission, &text).is_err());
    }

    #[test]
    fn messages_of_another_session_or_out_of_order_are_rejected() {
        let record = sample();
        let other = IdGenerator::new().next_submission().message(1).unwrap();
        let foreign = format!("{MAGIC}\nauth 1 alice\nmessage {other} hw1\nend 1\n");
        let err = SessionRecord::parse(record.submission, &foreign).unwrap_err();
        assert!(err.reason.contains("not of session"), "{err}");
        let (a, b) = (&record.messages[0].id, &record.messages[1].id);
        let swapped = format!("{MAGIC}\nauth 1 alice\nmessage {b} x\nmessage {a} x\nend 2\n");
        let err = SessionRecord::parse(record.submission, &swapped).unwrap_err();
        assert!(err.reason.contains("out of order"), "{err}");
    }

    #[test]
    fn malformed_lines_name_their_line_number() {
        let sub = sample().submission;
        for (text, line) in [
            ("", 1),
            ("coursemail-session 2\n", 1),
            (&format!("{MAGIC}\n") as &str, 2),
            (&format!("{MAGIC}\nauth soon alice\n"), 2),
            (&format!("{MAGIC}\nauth 1 Alice\n"), 2),
            (&format!("{MAGIC}\nauth 1 alice\nhello\n"), 3),
            (&format!("{MAGIC}\nauth 1 alice\nend 0\nend 0\n"), 4),
        ] {
            let err = SessionRecord::parse(sub, text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
        }
    }

    #[test]
    fn recipient_that_could_break_a_line_is_refused() {
        let (_dir, log, _mail) = log_in_tempdir();
        let record = sample();
        let mut open = log.create(record.submission, 1, &record.username).unwrap();
        for bad in ["a b", "x\nmessage", "", "Hw1"] {
            assert!(open.append(&record.messages[0].id, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn open_record_is_hidden_until_finished_then_listed_once() {
        let (_dir, log, _mail) = log_in_tempdir();
        let record = sample();
        let mut open = log
            .create(record.submission, record.auth_micros, &record.username)
            .unwrap();
        for m in &record.messages {
            open.append(&m.id, &m.first_recipient).unwrap();
        }
        open.sync().unwrap();
        assert!(log.list_closed().unwrap().is_empty());
        open.finish(&log).unwrap();
        log.sync().unwrap();
        assert_eq!(log.list_closed().unwrap(), vec![record.submission]);
        assert_eq!(log.read(&record.submission).unwrap(), record);
        assert_eq!(fs::read_dir(log.open_dir()).unwrap().count(), 0);
    }

    #[test]
    fn stale_record_is_finalised_with_only_the_stored_messages() {
        let (_dir, log, mail) = log_in_tempdir();
        let record = sample();
        let path = log.open_dir().join(record.submission.as_str());
        // As a killed process leaves it: no end line, a cut-short append, one message whose
        // file never made it.
        let text = record.encode().replace("end 3\n", "message 01");
        fs::write(&path, text).unwrap();
        for m in &record.messages[..2] {
            mail.write(&m.id, b"A: b\r\n\r\n.\r\n", 8).unwrap();
        }
        let report = log.finalise_stale(&mail).unwrap();
        assert_eq!(report.closed, 1);
        let finalised = log.read(&record.submission).unwrap();
        assert_eq!(finalised.messages, record.messages[..2]);
        assert!(!path.exists());
    }

    #[test]
    fn record_locked_by_a_live_session_is_left_alone() {
        let (_dir, log, mail) = log_in_tempdir();
        let record = sample();
        let mut open = log.create(record.submission, 1, &record.username).unwrap();
        open.append(&record.messages[0].id, "hw1").unwrap();
        let report = log.finalise_stale(&mail).unwrap();
        assert_eq!(report.in_use, 1);
        assert!(log.list_closed().unwrap().is_empty());
    }

    #[test]
    fn stale_record_cut_short_in_its_header_is_discarded() {
        let (_dir, log, mail) = log_in_tempdir();
        let record = sample();
        let path = log.open_dir().join(record.submission.as_str());
        fs::write(&path, "coursemail-session 1\nauth 12").unwrap();
        let report = log.finalise_stale(&mail).unwrap();
        assert_eq!(report.discarded, 1);
        assert!(!path.exists());
    }

    #[test]
    fn a_damaged_open_record_is_left_for_an_operator_without_stopping_the_rest() {
        let (_dir, log, mail) = log_in_tempdir();
        let record = sample();
        let damaged = log.open_dir().join(record.submission.as_str());
        let text = record.encode().replace("auth ", "bogus ");
        fs::write(&damaged, text).unwrap();
        let report = log.finalise_stale(&mail).unwrap();
        assert_eq!((report.closed, report.discarded), (0, 0));
        assert!(damaged.exists(), "kept for inspection");
    }

    #[test]
    fn stale_record_without_stored_messages_is_discarded() {
        let (_dir, log, mail) = log_in_tempdir();
        let sub = sample().submission;
        fs::write(log.open_dir().join(sub.as_str()), "").unwrap();
        let report = log.finalise_stale(&mail).unwrap();
        assert_eq!(report.discarded, 1);
        assert!(log.list_closed().unwrap().is_empty());
        assert_eq!(fs::read_dir(log.open_dir()).unwrap().count(), 0);
    }
}
