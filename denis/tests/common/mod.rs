//! Fixtures for denis' integration tests: a real data root with accounts, assignments, stored
//! messages in the exact form smtp writes, and closed session records; plus series made by
//! `git format-patch --cover-letter` in a student's temporary repository.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use accounts::{Accounts, NewUser, Role};
use denis::{AssignmentName, CourseDb, Intake, IntakeConfig, NewAssignment};
use journal::session_log::SessionLog;
use journal::{DataRoot, IdGenerator, JournalWriter, MailStore, MessageId, SubmissionId, Username};
use tempfile::TempDir;

/// The course domain of every fixture.
pub const HOST: &str = "course.test";
/// Deadlines of `hw1` (Unix seconds).
pub const INITIAL: i64 = 2_000_000_000;
pub const PEER: i64 = 2_000_100_000;
pub const FINAL: i64 = 2_000_200_000;
/// An AUTH time before the initial deadline.
pub const EARLY: i64 = 1_999_000_000;

/// A temporary data root on a file system with user xattrs (the target dir, not /tmp).
pub struct Course {
    pub tmp: TempDir,
    pub root: DataRoot,
    pub accounts: Accounts,
    pub db: CourseDb,
    ids: IdGenerator,
}

impl Course {
    /// Students alice, bob and carol, instructor prof, assignment `hw1`.
    pub fn new() -> Course {
        let tmp = tempfile::Builder::new()
            .prefix("denis-test-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let root = DataRoot::new(tmp.path().join("data"));
        root.create().unwrap();
        SessionLog::new(root.logs_dir()).create_dirs().unwrap();
        JournalWriter::init(&root.journal_file()).unwrap();
        std::fs::create_dir_all(tmp.path().join("work")).unwrap();
        let accounts = Accounts::open(&root.accounts_db()).unwrap();
        for (name, full, role) in [
            ("alice", "Alice Liddell", Role::Student),
            ("bob", "Bob Builder", Role::Student),
            ("carol", "Carol Danvers", Role::Student),
            ("prof", "Pat Professor", Role::Instructor),
        ] {
            accounts
                .add_user(&NewUser {
                    username: Username::parse(name).unwrap(),
                    full_name: full.into(),
                    student_id: None,
                    role,
                    password: None,
                })
                .unwrap();
        }
        let db = CourseDb::open(&root.course_db()).unwrap();
        db.create_assignment(
            &NewAssignment::scheduled(assignment("hw1"), INITIAL, PEER, FINAL),
            &accounts,
            &["list".to_string()],
        )
        .unwrap();
        Course {
            tmp,
            root,
            accounts,
            db,
            ids: IdGenerator::new(),
        }
    }

    /// Adds a student account.
    pub fn add_student(&self, name: &str, full_name: &str) {
        self.accounts
            .add_user(&NewUser {
                username: Username::parse(name).unwrap(),
                full_name: full_name.into(),
                student_id: None,
                role: Role::Student,
                password: None,
            })
            .unwrap();
    }

    /// The intake configuration the tests use.
    pub fn config(&self) -> IntakeConfig {
        let mut config = IntakeConfig::new(HOST);
        config.work_dir = self.tmp.path().join("work");
        config
    }

    /// An intake on this course.
    pub async fn intake(&self) -> Intake {
        Intake::open(&self.root, self.config()).await.unwrap()
    }

    /// Stores `messages` (as produced by a client: LF line ends, optional mbox `From ` line)
    /// the way smtp does, under one session of `user` that authenticated at `auth_secs`, all
    /// addressed to `to`; `reply_to` becomes the first message's `In-Reply-To`. Returns the
    /// session id and the message ids.
    pub fn send(
        &self,
        user: &str,
        auth_secs: i64,
        to: &str,
        reply_to: Option<MessageId>,
        messages: &[Vec<u8>],
    ) -> (SubmissionId, Vec<MessageId>) {
        let sid = self.ids.next_submission();
        let store = MailStore::new(self.root.mail_dir());
        let log = SessionLog::new(self.root.logs_dir());
        let username = Username::parse(user).unwrap();
        let mut open = log
            .create(
                sid,
                u64::try_from(auth_secs).unwrap() * 1_000_000,
                &username,
            )
            .unwrap();
        let mut ids = Vec::new();
        for (i, content) in messages.iter().enumerate() {
            let id = sid.message(u16::try_from(i + 1).unwrap()).unwrap();
            let reply = if i == 0 { reply_to } else { None };
            let wire = stored_form(content, &id, user, to, reply);
            let header_len = journal::header_len(&wire).unwrap();
            store.write(&id, &wire, header_len).unwrap();
            open.append(&id, to).unwrap();
            ids.push(id);
        }
        open.finish(&log).unwrap();
        log.sync().unwrap();
        (sid, ids)
    }

    /// The released message ids, in journal order.
    pub fn journal_names(&self) -> Vec<MessageId> {
        JournalWriter::open(&self.root.journal_file())
            .unwrap()
            .records()
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect()
    }

    /// A scratch directory inside the course's temporary directory.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let dir = self.tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

pub fn assignment(name: &str) -> AssignmentName {
    AssignmentName::parse(name).unwrap()
}

pub fn user(name: &str) -> Username {
    Username::parse(name).unwrap()
}

/// A client's message as smtp stores it (SPEC §4): server headers first, the client's
/// Message-ID/From/To renamed with `X-Original-`, CRLF line ends, dot-stuffed, ending `.\r\n`.
pub fn stored_form(
    content: &[u8],
    id: &MessageId,
    user: &str,
    to: &str,
    reply_to: Option<MessageId>,
) -> Vec<u8> {
    let text = String::from_utf8_lossy(content);
    let text = match text.strip_prefix("From ") {
        // The mbox separator line of format-patch output is not part of the mail.
        Some(rest) => rest.split_once('\n').map_or("", |(_, r)| r).to_string(),
        None => text.to_string(),
    };
    let (header, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut out = format!(
        "Received: from client by {HOST} with ESMTPSA id {id}\n\
         Message-ID: <{id}@{HOST}>\nFrom: <{user}@{HOST}>\nTo: <{to}@{HOST}>\n\
         X-Coursemail-Submission: {}\n",
        id.submission()
    );
    if let Some(r) = reply_to {
        out.push_str(&format!(
            "In-Reply-To: <{r}@{HOST}>\nReferences: <{r}@{HOST}>\n"
        ));
    }
    for line in header.lines() {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("from:")
            || lower.starts_with("message-id:")
            || lower.starts_with("to:")
        {
            out.push_str("X-Original-");
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(body);
    let mut wire = Vec::new();
    for line in out.lines() {
        if line.starts_with('.') {
            wire.push(b'.');
        }
        wire.extend_from_slice(line.as_bytes());
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b".\r\n");
    wire
}

/// One commit of a student's series.
#[derive(Debug, Clone)]
pub struct Patch {
    /// Files written (path, content).
    pub files: Vec<(String, String)>,
    /// Commit message (subject line, body); a sign-off is appended unless `sign_off` is None.
    pub message: String,
    /// `Name <address>` for the Signed-off-by line, or None for none.
    pub sign_off: Option<String>,
}

impl Patch {
    /// A patch writing `path` with `content`, signed off by `signer`.
    pub fn new(path: &str, content: &str, signer: &str) -> Patch {
        Patch {
            files: vec![(path.to_string(), content.to_string())],
            message: format!("Change {path}"),
            sign_off: Some(signer.to_string()),
        }
    }
}

/// `Full Name <user@HOST>` for the fixture students.
pub fn signer(user: &str) -> String {
    let full = match user {
        "alice" => "Alice Liddell",
        "bob" => "Bob Builder",
        "carol" => "Carol Danvers",
        other => other,
    };
    format!("{full} <{user}@{HOST}>")
}

/// Runs git for the fixture student in `dir` with a clean, fixed environment.
fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("git")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Student")
        .env("GIT_AUTHOR_EMAIL", "student@example.org")
        .env("GIT_COMMITTER_NAME", "Student")
        .env("GIT_COMMITTER_EMAIL", "student@example.org")
        .env("GIT_AUTHOR_DATE", "1700000000 +0000")
        .env("GIT_COMMITTER_DATE", "1700000000 +0000")
        .arg("-C")
        .arg(dir)
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A series as `git format-patch --cover-letter --subject-prefix=<prefix>` writes it, made in a
/// fresh repository under `dir` whose first commit holds `existing` files (so a patch changing
/// one of them does not apply to the course's empty base). Returns cover letter + patches.
pub fn format_series(
    dir: &Path,
    prefix: &str,
    existing: &[(&str, &str)],
    patches: &[Patch],
) -> Vec<Vec<u8>> {
    let repo = tempfile::tempdir_in(dir).unwrap();
    let repo = repo.keep();
    git(&repo, &["init", "-q"]);
    for (path, content) in existing {
        write_file(&repo, path, content);
    }
    git(&repo, &["add", "-A"]);
    git(
        &repo,
        &["commit", "-q", "--allow-empty", "-m", "student base"],
    );
    for patch in patches {
        for (path, content) in &patch.files {
            write_file(&repo, path, content);
        }
        let mut message = patch.message.clone();
        message.push_str("\n\nExplain the change.\n");
        if let Some(s) = &patch.sign_off {
            message.push_str(&format!("\nSigned-off-by: {s}\n"));
        }
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", &message]);
    }
    let out = repo.join("out");
    let range = format!("HEAD~{}", patches.len());
    let prefix_arg = format!("--subject-prefix={prefix}");
    git(
        &repo,
        &[
            "format-patch",
            "-q",
            "--cover-letter",
            &prefix_arg,
            "-o",
            out.to_str().unwrap(),
            &range,
        ],
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // A student fills in the cover letter that git format-patch leaves as a template.
    files
        .iter()
        .map(|f| {
            let text = std::fs::read(f).unwrap();
            String::from_utf8(text)
                .map(|t| {
                    t.replace("*** SUBJECT HERE ***", "the series")
                        .replace("*** BLURB HERE ***", "What it does and why.")
                        .into_bytes()
                })
                .unwrap_or_else(|e| e.into_bytes())
        })
        .collect()
}

/// Like [`format_series`], with the cover letter left as git format-patch's template.
pub fn format_series_unfilled(dir: &Path, prefix: &str, patches: &[Patch]) -> Vec<Vec<u8>> {
    let mut mails = format_series(dir, prefix, &[], patches);
    let cover = String::from_utf8(mails[0].clone()).unwrap();
    mails[0] = cover
        .replace("the series", "*** SUBJECT HERE ***")
        .replace("What it does and why.", "*** BLURB HERE ***")
        .into_bytes();
    mails
}

fn write_file(repo: &Path, path: &str, content: &str) {
    let file = repo.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, content).unwrap();
}

/// Three good patches for `user`, each adding one file under `<user>/`.
pub fn good_patches(user: &str) -> Vec<Patch> {
    (1..=3)
        .map(|i| {
            Patch::new(
                &format!("{user}/file{i}.c"),
                &format!("int f{i}(void)\n{{\n\treturn {i};\n}}\n"),
                &signer(user),
            )
        })
        .collect()
}
