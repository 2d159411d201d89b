//! Per-user POP3 deletions, kept under `pop/` (SPEC §7): the mail store and the journal are shared
//! and never written by pop, so "deleting" only hides a message from the user who deleted it.
//!
//! One text file per user, `pop/<username>.deleted`, a line per message: `id size position`.
//! Size and journal position let a login compute the maildrop without scanning the journal; both
//! are checked against the journal when used, so a rebuilt journal only costs a rescan.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind};
use std::path::PathBuf;

use journal::store::write_file_atomic;
use journal::{MessageId, Username};

/// A message one user deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deleted {
    /// The message.
    pub id: MessageId,
    /// Its stored size, as in its journal record.
    pub size: u64,
    /// Its position in the journal when it was deleted (a hint: verified before use).
    pub position: u64,
}

/// The `pop/` directory.
#[derive(Debug, Clone)]
pub struct DeletionStore {
    dir: PathBuf,
}

impl DeletionStore {
    /// Deletions kept in `dir` (the data root's `pop/`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn file(&self, user: &Username) -> PathBuf {
        // A Username cannot contain '/' or start with '.', so this stays inside pop/.
        self.dir.join(format!("{user}.deleted"))
    }

    /// What `user` deleted in earlier sessions. Lines that do not parse are skipped with a
    /// warning rather than locking the user out of their mail.
    pub fn load(&self, user: &Username) -> io::Result<Vec<Deleted>> {
        let text = match std::fs::read_to_string(self.file(user)) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(parse(&text, user))
    }

    /// Adds `newly` to `user`'s deletions. Two sessions of the same user may quit at once, so the
    /// read-merge-write runs under a per-user lock and the file is replaced atomically.
    pub fn commit(&self, user: &Username, newly: &[Deleted]) -> io::Result<()> {
        if newly.is_empty() {
            return Ok(());
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(format!("{user}.lock")))?;
        lock.lock()?;
        let result = self.merge_and_write(user, newly);
        let _ = File::unlock(&lock);
        result
    }

    fn merge_and_write(&self, user: &Username, newly: &[Deleted]) -> io::Result<()> {
        let mut all: BTreeMap<MessageId, Deleted> =
            self.load(user)?.into_iter().map(|d| (d.id, d)).collect();
        for d in newly {
            all.insert(d.id, *d);
        }
        let mut text = String::with_capacity(all.len() * 48);
        for d in all.values() {
            text.push_str(&format!("{} {} {}\n", d.id, d.size, d.position));
        }
        write_file_atomic(&self.file(user), text.as_bytes(), 0o600)
    }
}

fn parse(text: &str, user: &Username) -> Vec<Deleted> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut f = line.split_ascii_whitespace();
        let parsed = (|| {
            let id = MessageId::parse(f.next()?).ok()?;
            let size = f.next()?.parse().ok()?;
            let position = f.next()?.parse().ok()?;
            Some(Deleted { id, size, position })
        })();
        match parsed {
            Some(d) => out.push(d),
            None => {
                tracing::warn!(%user, line = n + 1, "ignoring a malformed line in the POP3 deletions file")
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: u16) -> MessageId {
        journal::SubmissionId::parse("0123456789abcdef01234567890000")
            .unwrap()
            .message(i)
            .unwrap()
    }

    #[test]
    fn deletions_accumulate_across_commits_per_user() {
        let dir = tempfile::tempdir().unwrap();
        let store = DeletionStore::new(dir.path());
        let alice = Username::parse("alice").unwrap();
        let bob = Username::parse("bob").unwrap();
        assert!(store.load(&alice).unwrap().is_empty());
        store
            .commit(
                &alice,
                &[Deleted {
                    id: id(1),
                    size: 10,
                    position: 0,
                }],
            )
            .unwrap();
        store
            .commit(
                &alice,
                &[Deleted {
                    id: id(3),
                    size: 30,
                    position: 2,
                }],
            )
            .unwrap();
        store
            .commit(
                &alice,
                &[Deleted {
                    id: id(1),
                    size: 10,
                    position: 0,
                }],
            )
            .unwrap();
        let ids: Vec<_> = store.load(&alice).unwrap().iter().map(|d| d.id).collect();
        assert_eq!(ids, vec![id(1), id(3)]);
        assert!(
            store.load(&bob).unwrap().is_empty(),
            "deletions are per user"
        );
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let alice = Username::parse("alice").unwrap();
        let text = format!("garbage\n{} 5 1\n{} x 2\n", id(2), id(3));
        let parsed = parse(&text, &alice);
        assert_eq!(
            parsed,
            vec![Deleted {
                id: id(2),
                size: 5,
                position: 1
            }]
        );
    }
}
