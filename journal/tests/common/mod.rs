//! Helpers shared by the integration tests: a throwaway data root with an initialised journal,
//! and stored messages to release.
#![allow(dead_code)] // Each test binary uses a different subset.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use journal::{
    DataRoot, IdGenerator, JournalWriter, MailStore, MessageId, MessageMeta, Record, Snapshot,
    Username, header_len,
};

/// A data root under the target directory (where user xattrs are known to work), with `mail/`
/// and an empty journal.
pub struct Fixture {
    _dir: Option<tempfile::TempDir>,
    pub root: DataRoot,
    pub store: MailStore,
    pub journal: PathBuf,
    ids: IdGenerator,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("journal-test-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let mut fixture = Fixture::open(dir.path());
        fixture.root.create().unwrap();
        JournalWriter::init(&fixture.journal).unwrap();
        fixture._dir = Some(dir);
        fixture
    }

    /// The fixture of a parent test, seen from a child process.
    pub fn open(path: &Path) -> Fixture {
        let root = DataRoot::new(path);
        Fixture {
            _dir: None,
            store: MailStore::new(root.mail_dir()),
            journal: root.journal_file(),
            root,
            ids: IdGenerator::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.root.root()
    }

    pub fn writer(&self) -> JournalWriter {
        JournalWriter::open(&self.journal).unwrap()
    }

    /// Stores a new message with `body` and returns the record that releases it.
    pub fn message(&self, body: &str) -> Record {
        self.messages(&[body]).remove(0)
    }

    /// Stores one submission of several messages.
    pub fn messages(&self, bodies: &[&str]) -> Vec<Record> {
        let sub = self.ids.next_submission();
        let wires: Vec<(MessageId, Vec<u8>)> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let id = sub.message(i as u16 + 1).unwrap();
                let wire =
                    format!("Message-ID: <{id}@test>\r\nSubject: {body}\r\n\r\n{body}\r\n.\r\n");
                (id, wire.into_bytes())
            })
            .collect();
        let batch: Vec<(MessageId, &[u8], u64)> = wires
            .iter()
            .map(|(id, w)| (*id, w.as_slice(), header_len(w).unwrap()))
            .collect();
        self.store.write_many(&batch).unwrap();
        wires
            .iter()
            .map(|(id, w)| {
                let meta = MessageMeta {
                    size: w.len() as u64,
                    header_len: header_len(w).unwrap(),
                };
                Record::new(*id, meta)
            })
            .collect()
    }

    /// The names `user` sees, in order.
    /// Also checks the snapshot's running total.
    pub fn visible(&self, user: &str) -> Vec<MessageId> {
        let snapshot = Snapshot::open(&self.journal, &user_named(user)).unwrap();
        assert_octets_match(&snapshot);
        names(&snapshot)
    }
}

pub fn user_named(name: &str) -> Username {
    Username::parse(name).unwrap()
}

pub fn names(snapshot: &Snapshot) -> Vec<MessageId> {
    snapshot.iter().map(|r| r.unwrap().name).collect()
}

/// Asserts that the snapshot's size for STAT equals the sum of its records' sizes, whichever
/// way `octets` found it.
pub fn assert_octets_match(snapshot: &Snapshot) {
    let summed: u64 = snapshot.iter().map(|r| r.unwrap().size as u64).sum();
    assert_eq!(snapshot.octets().unwrap(), summed, "octets of {snapshot:?}");
}

pub fn names_of(records: &[Record]) -> Vec<MessageId> {
    records.iter().map(|r| r.name).collect()
}

/// Sets an 8-byte offset xattr directly, to fabricate damaged journals.
pub fn set_offset(path: &Path, name: &str, value: u64) {
    xattr::set(path, name, &value.to_le_bytes()).unwrap();
}

/// Reads an 8-byte offset xattr directly.
pub fn get_offset(path: &Path, name: &str) -> Option<u64> {
    xattr::get(path, name)
        .unwrap()
        .map(|v| u64::from_le_bytes(v.try_into().unwrap()))
}

/// Re-runs this test binary to execute only `test_name` in a child process with `env` set (the
/// self-exec trick: the child test does its work only when the variable is present).
pub fn child(test_name: &str, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test_name, "--nocapture", "--test-threads=1"]);
    cmd.envs(env.iter().copied());
    cmd
}

/// Asserts a child succeeded, showing its output otherwise.
pub fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Message ids a child printed as `ACK <id>` after its append returned.
pub fn acked(stdout: &[u8]) -> Vec<MessageId> {
    // Only newline-terminated lines: a child killed mid-write may leave an unfinished one.
    String::from_utf8_lossy(stdout)
        .split_inclusive('\n')
        .filter_map(|l| l.strip_suffix('\n')?.strip_prefix("ACK "))
        .flat_map(|rest| rest.split(' ').map(|id| id.parse().unwrap()))
        .collect()
}
