//! Rebuild (SPEC §5): rewrite the journal from `mail/`, sorted by id, and swap it in atomically.
//!
//! Runs under the writer's lock. The new journal is written to `<journal>.rebuild`, made durable
//! complete with its caps and `data_end`, and exchanged with the old one, so a reader opening
//! the path sees either journal whole, and readers that already opened the old one keep their
//! view. A crash leaves at most the temporary, which the next rebuild removes.
//!
//! Caps are byte offsets, and a rebuild reorders records, so an offset copied verbatim could
//! put messages a frozen user never saw below their cap and leak peers' work to them. Each cap
//! is translated instead: the new cap is the offset of the first record, in the new order, that
//! the user could not see in the old journal (or the new `data_end` if they saw them all). The
//! user may lose sight of some messages they had seen, but never gains one.
//!
//! Running totals (see [`crate::attrs::Checkpoint`]) are recomputed for the new offsets.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::attrs::{Checkpoint, DATA_END_OCTETS_XATTR, DATA_END_XATTR, cap_xattr, octets_xattr};
use crate::caps::{Cap, CapsFile, caps_path};
use crate::durable::{Swap, create_new, exchange, parent_dir, sync_dir, with_suffix};
use crate::error::JournalError;
use crate::file::{JournalFile, RawCap};
use crate::ids::{MessageId, Username};
use crate::record::{RECORD_LEN, Record};
use crate::store::{MailStore, StoreError};

/// Which messages the rebuilt journal lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebuildSelection {
    /// The messages currently below `data_end` that still exist in `mail/`: repairs sizes and
    /// order without releasing anything new.
    Journal,
    /// Every message in `mail/`: releases everything not yet released, for recovery when the
    /// journal is lost. Frozen users still see nothing new (their caps are translated).
    AllMail,
}

/// How one cap changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapChange {
    /// The xattr name (`user.<username>_limit`).
    pub attr: String,
    /// The owner as written in the xattr name (normally a username).
    pub owner: String,
    /// The old cap in bytes; `None` if the old value was malformed (then the user sees nothing).
    pub old: Option<u64>,
    /// The new cap in bytes.
    pub new: u64,
}

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RebuildReport {
    /// Records in the new journal.
    pub records: u64,
    /// Its `data_end`.
    pub data_end: u64,
    /// Selected messages whose file is gone from `mail/` (left out).
    pub missing: Vec<MessageId>,
    /// Every cap carried over, with its translation.
    pub caps: Vec<CapChange>,
    /// Whether a temporary left by an interrupted rebuild was removed first.
    pub removed_stale_temporary: bool,
}

impl fmt::Display for RebuildReport {
    /// A summary for the CLI: counts first, then every left-out message and cap change.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rebuilt the journal: {} record(s), data_end {}",
            self.records, self.data_end
        )?;
        if self.removed_stale_temporary {
            write!(f, "\nremoved the temporary file of an interrupted rebuild")?;
        }
        if !self.missing.is_empty() {
            write!(
                f,
                "\n{} message(s) left out because their file is missing from mail/ or damaged:",
                self.missing.len()
            )?;
            for id in &self.missing {
                write!(f, "\n  {id}")?;
            }
        }
        for cap in &self.caps {
            match cap.old {
                Some(old) => write!(f, "\ncap of {}: {old} -> {} bytes", cap.owner, cap.new)?,
                None => write!(f, "\ncap of {}: malformed -> {} bytes", cap.owner, cap.new)?,
            }
        }
        Ok(())
    }
}

/// Where and with which flags a message appeared first in the old journal.
#[derive(Debug, Clone, Copy)]
struct OldEntry {
    position: u64,
    flags: u8,
}

/// The old journal as far as it can be trusted.
struct OldJournal {
    /// Committed length in records.
    records: u64,
    entries: HashMap<MessageId, OldEntry>,
}

/// The prefix of the new order each user may see, computed from where the new records stood in
/// the old journal (see the module documentation).
#[derive(Debug)]
pub(crate) struct CapTranslation {
    /// `prefix_max[i]`: the latest old position among new records `0..=i`; `u64::MAX` once a
    /// record absent from the old journal (visible to no capped user) has appeared.
    prefix_max: Vec<u64>,
}

impl CapTranslation {
    /// From the old position of each record of the new journal, in new order.
    pub(crate) fn new(old_positions: impl IntoIterator<Item = Option<u64>>) -> Self {
        let mut max = 0;
        let prefix_max = old_positions
            .into_iter()
            .map(|p| {
                max = max.max(p.unwrap_or(u64::MAX));
                max
            })
            .collect();
        Self { prefix_max }
    }

    /// How many new records a user who saw the first `visible` old records may see: the longest
    /// prefix made only of records they saw.
    pub(crate) fn visible_records(&self, visible: u64) -> u64 {
        self.prefix_max.partition_point(|&m| m < visible) as u64
    }
}

/// Rebuilds the journal `old`, which the caller opened while holding the writer lock.
pub(crate) fn run(
    old: &JournalFile,
    store: &MailStore,
    selection: RebuildSelection,
    progress: &dyn Fn(u64, u64),
) -> Result<RebuildReport, JournalError> {
    let temp = with_suffix(old.path(), ".rebuild");
    let removed_stale_temporary = remove_stale(&temp)?;
    let old_journal = read_old(old, selection)?;

    let wanted = match selection {
        RebuildSelection::Journal => {
            let mut ids: Vec<_> = old_journal.entries.keys().copied().collect();
            ids.sort_unstable();
            ids
        }
        RebuildSelection::AllMail => store.list()?,
    };
    let (records, missing) = collect_records(&wanted, &old_journal, store, progress)?;

    let translation = CapTranslation::new(
        records
            .iter()
            .map(|r| old_journal.entries.get(&r.name).map(|e| e.position)),
    );
    // Caps come from the caps file, or the seed's xattrs while there is none; the rebuilt ones
    // go back where they came from.
    let caps_file = CapsFile::open(&caps_path(old.path()))?;
    let raw_caps: Vec<RawCap> = match &caps_file {
        Some(file) => file
            .entries()?
            .into_iter()
            .map(|(user, cap)| RawCap {
                attr: cap_xattr(&user),
                owner: user.to_string(),
                value: Ok(cap.offset),
            })
            .collect(),
        None => old.raw_caps()?,
    };
    let caps: Vec<CapChange> = raw_caps
        .into_iter()
        .map(|raw| translate_cap(raw, old_journal.records, &translation))
        .collect();

    let data_end = records.len() as u64 * RECORD_LEN as u64;
    let xattr_caps: &[CapChange] = if caps_file.is_some() { &[] } else { &caps };
    let generation = caps_file.as_ref().map(|_| crate::caps::new_generation());
    let written = write_new(old, &temp, &records, xattr_caps, data_end, generation);
    let sums = match written {
        Ok(sums) => sums,
        Err(e) => {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
    };
    // The translated caps file names the new journal's generation: written beside before the
    // swap, renamed
    // into place right after it (readers in between open both again; a writer that finds it
    // left there by a crash finishes the rename).
    let pending = pending_caps_path(old.path());
    if caps_file.is_some() {
        let generation = generation.unwrap_or_default();
        let translated: std::collections::BTreeMap<Username, Cap> = caps
            .iter()
            .filter_map(|c| {
                let user = Username::parse(&c.owner).ok()?;
                let below = usize::try_from(c.new / RECORD_LEN as u64).ok()?;
                let octets = sums.get(below).copied().unwrap_or(0);
                Some((
                    user,
                    Cap {
                        offset: c.new,
                        octets,
                    },
                ))
            })
            .collect();
        if let Err(e) = crate::caps::write(&pending, generation, &translated, old.mode()? & 0o666) {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
    }
    swap_in(&temp, old.path())?;
    if caps_file.is_some() {
        let live = caps_path(old.path());
        fs::rename(&pending, &live).map_err(JournalError::io("rename", &pending))?;
        let dir = parent_dir(&live);
        sync_dir(dir).map_err(JournalError::io("fsync", dir))?;
    }

    let report = RebuildReport {
        records: records.len() as u64,
        data_end,
        missing,
        caps,
        removed_stale_temporary,
    };
    tracing::info!(path = %old.path().display(), records = report.records,
        missing = report.missing.len(), caps = report.caps.len(), "journal rebuilt");
    Ok(report)
}

/// Where a rebuild writes the translated caps file before renaming it into place.
pub(crate) fn pending_caps_path(journal: &Path) -> std::path::PathBuf {
    with_suffix(journal, ".caps.rebuild")
}

fn remove_stale(temp: &Path) -> Result<bool, JournalError> {
    match fs::remove_file(temp) {
        Ok(()) => {
            tracing::warn!(path = %temp.display(), "removed temporary of an interrupted rebuild");
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(JournalError::io("remove", temp)(e)),
    }
}

/// Reads the old journal. Rebuilding from the journal needs every record, so any damage is an
/// error; rebuilding from all mail is the recovery path, so it keeps what it can, and whatever
/// it cannot read counts as seen by nobody (caps can only shrink because of it).
fn read_old(old: &JournalFile, selection: RebuildSelection) -> Result<OldJournal, JournalError> {
    let rec = RECORD_LEN as u64;
    let end = match selection {
        RebuildSelection::Journal => old.data_end()?,
        RebuildSelection::AllMail => {
            let len = old.len()?;
            match old.data_end_attr() {
                Ok(Some(end)) => end.min(len) / rec * rec,
                Ok(None) | Err(JournalError::BadAttribute { .. }) => {
                    tracing::warn!(path = %old.path().display(),
                        "old journal has no usable data_end; treating it as empty");
                    0
                }
                Err(e) => return Err(e),
            }
        }
    };
    let mut entries = HashMap::new();
    old.for_each_slot(0, end, |index, bytes| {
        let record = match old.decode(index, bytes) {
            Ok(r) => r,
            Err(e) if selection == RebuildSelection::AllMail => {
                tracing::warn!(error = %e, "skipping undecodable record");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        entries.entry(record.name).or_insert(OldEntry {
            position: index,
            flags: record.flags,
        });
        Ok(())
    })?;
    Ok(OldJournal {
        records: end / rec,
        entries,
    })
}

/// Records for `wanted` (sorted) from `mail/` metadata; messages whose file is gone are returned
/// separately.
fn collect_records(
    wanted: &[MessageId],
    old: &OldJournal,
    store: &MailStore,
    progress: &dyn Fn(u64, u64),
) -> Result<(Vec<Record>, Vec<MessageId>), JournalError> {
    const PROGRESS_EVERY: usize = 1024;
    let total = wanted.len() as u64;
    progress(0, total);
    let mut records = Vec::with_capacity(wanted.len());
    let mut missing = Vec::new();
    for (i, id) in wanted.iter().enumerate() {
        match store.meta(id) {
            Ok(meta) => {
                let mut record = Record::new(*id, meta);
                record.flags = old.entries.get(id).map_or(0, |e| e.flags);
                // A damaged header-length xattr would make a record every reader rejects, and
                // one bad record breaks LIST for everyone behind it: leave the message out.
                if let Err(e) = record.validate() {
                    tracing::warn!(%id, error = %e, "message metadata is inconsistent, leaving it out");
                    missing.push(*id);
                } else {
                    records.push(record);
                }
            }
            Err(StoreError::NotFound { .. }) => {
                tracing::warn!(%id, "message missing from mail/, leaving it out");
                missing.push(*id);
            }
            Err(e) => return Err(e.into()),
        }
        if (i + 1) % PROGRESS_EVERY == 0 {
            progress(i as u64 + 1, total);
        }
    }
    progress(total, total);
    Ok((records, missing))
}

fn translate_cap(raw: RawCap, old_records: u64, translation: &CapTranslation) -> CapChange {
    let rec = RECORD_LEN as u64;
    let old = raw.value.ok();
    // What the reader showed: the cap clamped to data_end, whole records only. A malformed
    // value showed nothing (readers fail on it), so it grants nothing.
    let visible = old.map_or(0, |cap| (cap / rec).min(old_records));
    if old.is_none() {
        tracing::warn!(attr = %raw.attr, "malformed cap; the rebuilt cap hides everything");
    }
    CapChange {
        attr: raw.attr,
        owner: raw.owner,
        old,
        new: translation.visible_records(visible) * rec,
    }
}

/// Writes the new journal at `temp` with `caps` as xattrs and, when its caps live in a caps
/// file, the `generation` of that file; returns the running totals (the sum of the sizes of
/// the first k records, for every k).
fn write_new(
    old: &JournalFile,
    temp: &Path,
    records: &[Record],
    caps: &[CapChange],
    data_end: u64,
    generation: Option<crate::caps::Generation>,
) -> Result<Vec<u64>, JournalError> {
    let file = create_new(temp, old.mode()?).map_err(JournalError::io("create", temp))?;
    keep_owner(old, &file, temp);
    let mut out = BufWriter::new(file);
    // sums[k]: total size of the first k records, for the running totals beside each offset.
    let mut sums = Vec::with_capacity(records.len() + 1);
    let mut sum = 0u64;
    sums.push(sum);
    for record in records {
        out.write_all(&record.encode())
            .map_err(JournalError::io("write", temp))?;
        sum = sum.saturating_add(record.octets());
        sums.push(sum);
    }
    let total_at = |offset: u64| {
        let records_below = usize::try_from(offset / RECORD_LEN as u64).ok()?;
        let octets = *sums.get(records_below)?;
        Some(Checkpoint { offset, octets })
    };
    let file = out
        .into_inner()
        .map_err(|e| JournalError::io("write", temp)(e.into_error()))?;
    let new = JournalFile::from_parts(file, temp);
    for cap in caps {
        new.set_offset_attr(&cap.attr, cap.new)?;
        if let Some(total) = total_at(cap.new) {
            new.set_checkpoint(&octets_xattr(&cap.attr), total)?;
        }
    }
    if let Some(generation) = generation {
        new.set_offset_attr(crate::caps::GENERATION_XATTR, generation)?;
    }
    new.set_offset_attr(DATA_END_XATTR, data_end)?;
    if let Some(total) = total_at(data_end) {
        new.set_checkpoint(DATA_END_OCTETS_XATTR, total)?;
    }
    new.sync_all()?;
    let dir = parent_dir(temp);
    sync_dir(dir).map_err(JournalError::io("fsync", dir))?;
    Ok(sums)
}

/// Gives the new journal the old one's owner, so a rebuild run as root does not lock pop out.
fn keep_owner(old: &JournalFile, new: &fs::File, temp: &Path) {
    let (Ok(old_meta), Ok(new_meta)) = (old.file().metadata(), new.metadata()) else {
        return;
    };
    if (old_meta.uid(), old_meta.gid()) == (new_meta.uid(), new_meta.gid()) {
        return;
    }
    if let Err(e) = std::os::unix::fs::fchown(new, Some(old_meta.uid()), Some(old_meta.gid())) {
        tracing::warn!(path = %temp.display(), error = %e,
            "cannot give the rebuilt journal the old journal's owner");
    }
}

fn swap_in(temp: &Path, journal: &Path) -> Result<(), JournalError> {
    let swap = exchange(temp, journal).map_err(JournalError::io("swap in", journal))?;
    if swap == Swap::Exchanged {
        // The old journal now sits at the temporary name; readers that opened it keep it alive.
        // The new journal is live whatever happens here, so a failure is only a warning: the
        // next rebuild removes the leftover as a stale temporary.
        if let Err(e) = fs::remove_file(temp) {
            tracing::warn!(path = %temp.display(), error = %e, "cannot remove the old journal");
        }
    }
    let dir = parent_dir(journal);
    sync_dir(dir).map_err(JournalError::io("fsync", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translation(old_positions: &[Option<u64>]) -> CapTranslation {
        CapTranslation::new(old_positions.iter().copied())
    }

    #[test]
    fn cap_stops_before_the_first_record_the_user_never_saw() {
        // Old journal order: c(0) a(1) d(2) b(3); new order a b c d.
        let t = translation(&[Some(1), Some(3), Some(0), Some(2)]);
        // Saw c, a: in the new order a is visible, b is not -> 1 record.
        assert_eq!(t.visible_records(2), 1);
        // Saw c only: a comes first and was unseen -> nothing.
        assert_eq!(t.visible_records(1), 0);
        assert_eq!(t.visible_records(0), 0);
        // Saw everything -> everything.
        assert_eq!(t.visible_records(4), 4);
    }

    #[test]
    fn records_new_to_the_journal_are_hidden_from_capped_users() {
        let t = translation(&[Some(0), None, Some(1)]);
        assert_eq!(t.visible_records(2), 1);
        assert_eq!(t.visible_records(u64::MAX - 1), 1);
    }

    #[test]
    fn empty_new_journal_gives_zero_caps() {
        assert_eq!(translation(&[]).visible_records(10), 0);
    }

    #[test]
    fn report_lists_missing_messages_and_cap_changes() {
        let id: MessageId = "0123456789abcdef01234567890001".parse().unwrap();
        let report = RebuildReport {
            records: 2,
            data_end: 96,
            missing: vec![id],
            caps: vec![CapChange {
                attr: "user.bob_limit".into(),
                owner: "bob".into(),
                old: Some(96),
                new: 48,
            }],
            removed_stale_temporary: true,
        };
        let text = report.to_string();
        assert!(text.starts_with("rebuilt the journal: 2 record(s), data_end 96"));
        assert!(text.contains("interrupted rebuild"));
        assert!(text.contains(&format!("\n  {id}")));
        assert!(text.contains("cap of bob: 96 -> 48 bytes"));
    }

    #[test]
    fn malformed_or_oversized_caps_never_grant_more_than_the_old_journal() {
        let t = translation(&[Some(0), Some(1)]);
        let raw = |value| RawCap {
            attr: "user.bob_limit".into(),
            owner: "bob".into(),
            value,
        };
        assert_eq!(translate_cap(raw(Err(3)), 2, &t).new, 0);
        assert_eq!(translate_cap(raw(Ok(10_000)), 1, &t).new, 48);
        // Not on a record boundary: the partial record was not visible.
        assert_eq!(translate_cap(raw(Ok(95)), 2, &t).new, 48);
    }
}
