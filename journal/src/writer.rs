//! The journal writer: append, restrict and rebuild, each under an exclusive lock (SPEC §5).
//!
//! Only denis and the CLI write. Every operation takes an exclusive `flock` on `<journal>.lock`,
//! opens the journal path anew, acts and releases. The lock lives in a separate file because
//! rebuild swaps the journal's inode: a lock held on the old journal would not exclude a writer
//! that opened the new one.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt as _, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;

use crate::attrs::{Checkpoint, DATA_END_OCTETS_XATTR, DATA_END_XATTR, octets_xattr};
use crate::caps::{self, Cap, CapsFile, caps_path};
use crate::durable::{create_new, parent_dir, sync_dir, with_suffix};
use crate::error::JournalError;
use crate::file::{FileIdentity, JournalFile, RawCap};
use crate::ids::{MessageId, Username};
use crate::rebuild;
// Rebuild is a writer operation; its types live with its implementation.
pub use crate::rebuild::{CapChange, RebuildReport, RebuildSelection};
use crate::record::{RECORD_LEN, Record};
use crate::store::MailStore;

/// Mode of a new journal: pop reads it as the service group, nobody else may.
const JOURNAL_MODE: u32 = 0o640;

/// How `restrict` changes a user's cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restriction {
    /// Freeze the user's view at the current end, unless it is already frozen (an earlier
    /// freeze must not be widened by a later deadline).
    Deny,
    /// Move the user's cap to the current end, frozen or not.
    Update,
    /// Remove the cap: the user sees everything again.
    Allow,
}

impl fmt::Display for Restriction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Restriction::Deny => "deny",
            Restriction::Update => "update",
            Restriction::Allow => "allow",
        })
    }
}

/// The text is not `deny`, `update` or `allow`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown restriction {0:?}: use deny, update or allow")]
pub struct UnknownRestriction(pub String);

impl FromStr for Restriction {
    type Err = UnknownRestriction;
    fn from_str(s: &str) -> Result<Self, UnknownRestriction> {
        match s {
            "deny" => Ok(Restriction::Deny),
            "update" => Ok(Restriction::Update),
            "allow" => Ok(Restriction::Allow),
            other => Err(UnknownRestriction(other.to_string())),
        }
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AppendOutcome {
    /// Records written.
    pub appended: usize,
    /// Records skipped because their message was already released (or repeated in the batch).
    pub already_present: usize,
}

/// The names committed in one journal inode, kept between operations so that the idempotence
/// check of an append reads only the records added since the last call, not the whole journal.
///
/// Valid because bytes below `data_end` are never rewritten in place (appends write past it,
/// rebuild writes a new inode); the identity check catches the swap.
struct NameIndex {
    identity: Option<FileIdentity>,
    end: u64,
    names: HashSet<MessageId>,
    /// Sum of the sizes of the records below `end`: the running total at `end`.
    octets: u64,
}

/// Appends to, restricts and rebuilds the journal. `Send + Sync`; methods take `&self`.
pub struct JournalWriter {
    path: PathBuf,
    lock_path: PathBuf,
    index: Mutex<Option<NameIndex>>,
}

impl fmt::Debug for JournalWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JournalWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The journal, opened while the lock is held. Field order matters: the journal is closed
/// before the lock is released.
struct Held {
    journal: JournalFile,
    _lock: File,
}

fn lock_path(journal: &Path) -> PathBuf {
    with_suffix(journal, ".lock")
}

fn take_lock(journal: &Path) -> Result<File, JournalError> {
    let path = lock_path(journal);
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(JournalError::io("open lock file", &path))?;
    lock.lock().map_err(JournalError::io("lock", &path))?;
    Ok(lock)
}

impl JournalWriter {
    /// Creates an empty journal (`data_end` = 0) at `path`; does nothing if one exists.
    pub fn init(path: &Path) -> Result<(), JournalError> {
        let _lock = take_lock(path)?;
        if fs::symlink_metadata(path).is_ok() {
            tracing::debug!(path = %path.display(), "journal exists, init does nothing");
            return Ok(());
        }
        let temp = with_suffix(path, ".init");
        // A leftover from a crash during an earlier init; we hold the lock, so nobody uses it.
        let _ = fs::remove_file(&temp);
        let created = (|| {
            let file =
                create_new(&temp, JOURNAL_MODE).map_err(JournalError::io("create", &temp))?;
            let journal = JournalFile::from_parts(file, &temp);
            journal.set_offset_attr(DATA_END_XATTR, 0)?;
            journal.sync_all()?;
            // The journal appears under its name complete with data_end, never without it.
            fs::hard_link(&temp, path).map_err(JournalError::io("create", path))?;
            sync_dir(parent_dir(path)).map_err(JournalError::io("fsync", parent_dir(path)))
        })();
        let _ = fs::remove_file(&temp);
        created?;
        tracing::info!(path = %path.display(), "created empty journal");
        Ok(())
    }

    /// A writer for the existing journal at `path`.
    pub fn open(path: &Path) -> Result<JournalWriter, JournalError> {
        match fs::metadata(path) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(JournalError::Missing {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => return Err(JournalError::io("open", path)(e)),
        }
        Ok(JournalWriter {
            path: path.to_path_buf(),
            lock_path: lock_path(path),
            index: Mutex::new(None),
        })
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock file every writer serialises on.
    pub fn lock_path(&self) -> &Path {
        &self.lock_path
    }

    fn hold(&self) -> Result<Held, JournalError> {
        let lock = take_lock(&self.path)?;
        let journal = JournalFile::open(&self.path, true)?;
        Ok(Held {
            journal,
            _lock: lock,
        })
    }

    /// The journal opened read-only without the lock, for operations that only read: bytes
    /// below `data_end` never change and a rebuild swaps in a whole new file, so one open file
    /// gives a consistent view, and it works on a read-only mount while a writer is busy.
    fn view(&self) -> Result<JournalFile, JournalError> {
        JournalFile::open(&self.path, false)
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Option<NameIndex>> {
        self.index.lock().unwrap_or_else(|poisoned| {
            // A panic mid-update may have left the cache half-filled: drop it and re-read.
            let mut guard = poisoned.into_inner();
            *guard = None;
            guard
        })
    }

    /// Appends `records` in order, skipping those whose message is already in the journal or
    /// repeated in the batch, so releasing twice changes nothing.
    ///
    /// Either the whole batch is committed or none of it: records are written past `data_end`
    /// and made durable first, and only then does `data_end` move. A crash in between leaves an
    /// unfinished tail that everyone ignores and the next append overwrites.
    pub fn append(&self, records: &[Record]) -> Result<AppendOutcome, JournalError> {
        for record in records {
            record.validate().map_err(JournalError::InvalidRecord)?;
        }
        let held = self.hold()?;
        let journal = &held.journal;
        let end = journal.data_end()?;
        let mut slot = self.index();
        let index = refresh_index(&mut slot, journal, end)?;

        let mut outcome = AppendOutcome::default();
        let mut fresh = HashSet::new();
        let mut bytes = Vec::with_capacity(records.len() * RECORD_LEN);
        let mut octets = index.octets;
        for record in records {
            if index.names.contains(&record.name) || !fresh.insert(record.name) {
                outcome.already_present += 1;
            } else {
                bytes.extend_from_slice(&record.encode());
                octets = octets.saturating_add(record.octets());
                outcome.appended += 1;
            }
        }
        if bytes.is_empty() {
            return Ok(outcome);
        }
        let path = journal.path();
        journal
            .file()
            .write_all_at(&bytes, end)
            .map_err(JournalError::io("write", path))?;
        // Records must be on disk before data_end covers them, or a crash could commit garbage.
        journal
            .file()
            .sync_data()
            .map_err(JournalError::io("fdatasync", path))?;
        let new_end = end + bytes.len() as u64;
        journal.set_offset_attr(DATA_END_XATTR, new_end)?;
        // After data_end, so a crash in between leaves the previous, still true, total.
        let total = Checkpoint {
            offset: new_end,
            octets,
        };
        journal.set_checkpoint(DATA_END_OCTETS_XATTR, total)?;
        journal.sync_all()?;

        index.names.extend(fresh);
        index.end = new_end;
        index.octets = octets;
        tracing::debug!(
            appended = outcome.appended,
            skipped = outcome.already_present,
            data_end = new_end,
            "journal append"
        );
        Ok(outcome)
    }

    /// Changes `user`'s cap (see [`Restriction`]).
    pub fn restrict(&self, user: &Username, how: Restriction) -> Result<(), JournalError> {
        self.restrict_many(&[(user.clone(), how)])
    }

    /// Changes the caps of every user of `changes` in one locked step: the caps file is
    /// replaced once (one fsync), so a deadline freezes a thousand students as cheaply as one,
    /// and either all of the changes are visible or none is. Caps still kept in the seed's
    /// xattrs move into the caps file with the first change (see [`crate::caps`]).
    pub fn restrict_many(&self, changes: &[(Username, Restriction)]) -> Result<(), JournalError> {
        if changes.is_empty() {
            return Ok(());
        }
        let held = self.hold()?;
        let journal = &held.journal;
        let end = journal.data_end()?;
        let (mut caps, legacy) = self.current_caps(journal)?;
        let mut total = None;
        for (user, how) in changes {
            match how {
                Restriction::Deny if caps.contains_key(user) => {
                    tracing::info!(%user, "already restricted, keeping the earlier cap");
                }
                Restriction::Deny | Restriction::Update => {
                    let octets = match total {
                        Some(octets) => octets,
                        None => *total.insert(self.octets_at(journal, end)?),
                    };
                    caps.insert(
                        user.clone(),
                        Cap {
                            offset: end,
                            octets,
                        },
                    );
                }
                Restriction::Allow => {
                    caps.remove(user);
                }
            }
        }
        let mode = journal.mode()? & 0o666;
        let generation = match journal.caps_generation()? {
            Some(generation) => generation,
            None => {
                // The journal names its caps file's generation before the file exists.
                let generation = caps::new_generation();
                journal.set_offset_attr(caps::GENERATION_XATTR, generation)?;
                journal.sync_all()?;
                generation
            }
        };
        caps::write(&caps_path(&self.path), generation, &caps, mode)?;
        // The caps file is durable and wins from now on; the seed's xattrs go.
        for raw in legacy {
            journal.remove_attr(&raw.attr)?;
            journal.remove_attr(&octets_xattr(&raw.attr))?;
        }
        journal.sync_all()?;
        tracing::info!(
            changes = changes.len(),
            restricted = caps.len(),
            data_end = end,
            "journal restrictions"
        );
        Ok(())
    }

    /// The caps in force, under the lock: the caps file's, or the seed's xattrs (returned too,
    /// to be removed once moved into a caps file). A caps file of another generation is what a
    /// rebuild that stopped between its two renames leaves: its finished caps file is taken
    /// from beside it.
    fn current_caps(
        &self,
        journal: &JournalFile,
    ) -> Result<(std::collections::BTreeMap<Username, Cap>, Vec<RawCap>), JournalError> {
        let path = caps_path(&self.path);
        let generation = journal.caps_generation()?;
        if let Some(file) = CapsFile::open(&path)? {
            if Some(file.generation()) == generation {
                return Ok((file.entries()?, Vec::new()));
            }
            let pending = crate::rebuild::pending_caps_path(&self.path);
            match CapsFile::open(&pending)? {
                Some(done) if Some(done.generation()) == generation => {
                    let entries = done.entries()?;
                    std::fs::rename(&pending, &path)
                        .map_err(JournalError::io("rename", &pending))?;
                    tracing::warn!("finished the caps file of an interrupted rebuild");
                    return Ok((entries, Vec::new()));
                }
                _ => return Err(JournalError::CapsOfAnotherJournal { path }),
            }
        }
        let legacy = journal.raw_caps()?;
        let mut caps = std::collections::BTreeMap::new();
        for raw in &legacy {
            let Ok(user) = Username::parse(&raw.owner) else {
                tracing::warn!(attr = %raw.attr, "cap attribute does not name a valid user; dropped");
                continue;
            };
            // A malformed value hides everything, as a reader would have shown.
            let offset = raw.value.unwrap_or(0);
            let octets = match journal.checkpoint(&octets_xattr(&raw.attr))? {
                Some(total) if total.offset == offset => total.octets,
                _ => self.octets_at(journal, offset)?,
            };
            caps.insert(user, Cap { offset, octets });
        }
        Ok((caps, legacy))
    }

    /// The running total at `end`: from the journal's checkpoint when it is current, otherwise
    /// from the name index (which reads only what it has not seen yet).
    fn octets_at(&self, journal: &JournalFile, end: u64) -> Result<u64, JournalError> {
        match journal.checkpoint(DATA_END_OCTETS_XATTR)? {
            Some(total) if total.offset == end => Ok(total.octets),
            _ => Ok(refresh_index(&mut self.index(), journal, end)?.octets),
        }
    }

    /// Every user's cap in bytes (the unit of `data_end`), sorted by username: from the caps
    /// file, or the seed's xattrs while there is none.
    ///
    /// Cap xattrs whose name is not a valid username cannot apply to anyone; they are skipped
    /// here and reported by verify.
    pub fn caps(&self) -> Result<Vec<(Username, u64)>, JournalError> {
        let journal = self.view()?;
        if let Some(file) = CapsFile::open(&caps_path(&self.path))? {
            return Ok(file
                .entries()?
                .into_iter()
                .map(|(user, cap)| (user, cap.offset))
                .collect());
        }
        let mut caps = Vec::new();
        for raw in journal.raw_caps()? {
            let Ok(user) = Username::parse(&raw.owner) else {
                tracing::warn!(attr = %raw.attr, "cap attribute does not name a valid user");
                continue;
            };
            let cap = raw.value.map_err(|len| JournalError::BadAttribute {
                path: self.path.clone(),
                name: raw.attr.clone(),
                len,
            })?;
            caps.push((user, cap));
        }
        caps.sort();
        Ok(caps)
    }

    /// The committed length in bytes.
    pub fn data_end(&self) -> Result<u64, JournalError> {
        self.view()?.data_end()
    }

    /// Every committed record, in journal order.
    pub fn records(&self) -> Result<Vec<Record>, JournalError> {
        let journal = self.view()?;
        let end = journal.data_end()?;
        journal.read_records(0, end)
    }

    /// Rewrites the journal from `mail/` metadata, sorted by id (SPEC §5); see
    /// [`crate::rebuild`]. `progress(done, total)` is called as messages are examined.
    pub fn rebuild(
        &self,
        store: &MailStore,
        selection: RebuildSelection,
        progress: &dyn Fn(u64, u64),
    ) -> Result<RebuildReport, JournalError> {
        let held = self.hold()?;
        // The swap replaces the inode; the cached names describe the old one.
        *self.index() = None;
        rebuild::run(&held.journal, store, selection, progress)
    }
}

/// Brings the cached names up to `end`, reading only records added since the last call when
/// the cache describes this very inode.
fn refresh_index<'a>(
    slot: &'a mut Option<NameIndex>,
    journal: &JournalFile,
    end: u64,
) -> Result<&'a mut NameIndex, JournalError> {
    let identity = journal.identity()?;
    let reusable = matches!(slot, Some(index)
        if identity.is_some() && index.identity == identity && index.end <= end);
    if !reusable {
        *slot = None;
    }
    let index = slot.get_or_insert_with(|| NameIndex {
        identity,
        end: 0,
        names: HashSet::new(),
        octets: 0,
    });
    let mut octets = index.octets;
    journal.for_each_slot(index.end, end, |i, bytes| {
        let record = journal.decode(i, bytes)?;
        index.names.insert(record.name);
        octets = octets.saturating_add(record.octets());
        Ok(())
    })?;
    index.octets = octets;
    index.end = end;
    Ok(index)
}
