//! The reader's snapshot: the prefix of the journal one user may see, fixed at login (SPEC §5, §7).
//!
//! Opening costs the same for ten records or ten million: open, a few `fgetxattr` (the committed
//! length and its running total), a binary search in the mapped caps file (or the seed's cap
//! xattrs), one `fstat`, one `mmap` of exactly the prefix (nothing is read until a record is
//! asked for). Nothing is written, so pop works with
//! `journal/` mounted read-only.

use std::io;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapOptions};

use crate::attrs::{Checkpoint, DATA_END_OCTETS_XATTR, best_checkpoint, cap_xattr, octets_xattr};
use crate::caps::{Cap, CapsFile, caps_path};
use crate::error::JournalError;
use crate::file::JournalFile;
use crate::ids::Username;
use crate::record::{RECORD_LEN, Record};

/// How often a reader opens the journal again when it meets the caps file of another journal (a
/// rebuild between its two renames), 5 ms apart.
const REBUILD_RETRIES: u32 = 200;

/// Where a user's cap comes from.
enum CapSource {
    /// The caps file (`None`: not capped).
    File(Option<Cap>),
    /// The seed's xattrs on the journal (no caps file yet).
    Xattr,
}

/// The records one user may see, as of the moment it was opened.
///
/// Later appends and rebuilds do not change it: appends only write past the mapped prefix, and
/// rebuild swaps in a new inode while this mapping keeps the old one alive.
#[derive(Debug)]
pub struct Snapshot {
    /// `None` for an empty prefix, which cannot be mapped.
    map: Option<Mmap>,
    len: usize,
    limit: u64,
    /// The furthest running total within the prefix, where [`Snapshot::octets`] starts adding.
    start: Checkpoint,
    path: PathBuf,
}

impl Snapshot {
    /// Opens the journal at `path` as `user` sees it: up to their cap, or `data_end` if they have
    /// none (a cap above `data_end` is clamped, since bytes past it are not committed).
    pub fn open(path: &Path, user: &Username) -> Result<Snapshot, JournalError> {
        // A rebuild swaps the journal and then its caps file: between the two, a reader meets
        // a caps file of another generation and opens both again (see `caps`).
        let caps_path = caps_path(path);
        let mut attempts = 0;
        let (journal, end, cap) = loop {
            let journal = JournalFile::open(path, false)?;
            // data_end before the caps: a freeze is durable before the release after it.
            let end = journal
                .data_end_attr()?
                .ok_or_else(|| JournalError::NoDataEnd {
                    path: path.to_path_buf(),
                })?;
            match CapsFile::open(&caps_path)? {
                Some(caps) if Some(caps.generation()) == journal.caps_generation()? => {
                    break (journal, end, CapSource::File(caps.lookup(user)));
                }
                Some(_) if attempts < REBUILD_RETRIES => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Some(_) => return Err(JournalError::CapsOfAnotherJournal { path: caps_path }),
                None => break (journal, end, CapSource::Xattr),
            }
        };
        let cap_attr = cap_xattr(user);
        let (cap, cap_total) = match cap {
            CapSource::File(found) => (
                found.map(|c| c.offset),
                found.map(|c| Checkpoint {
                    offset: c.offset,
                    octets: c.octets,
                }),
            ),
            CapSource::Xattr => {
                let cap = journal.offset_attr(&cap_attr)?;
                let total = match cap {
                    Some(_) => journal.checkpoint(&octets_xattr(&cap_attr))?,
                    None => None,
                };
                (cap, total)
            }
        };
        let (what, limit) = match cap {
            Some(cap) if cap < end => (format!("the cap of {user}"), cap),
            _ => ("data_end".to_string(), end),
        };
        journal.check_prefix(&what, limit)?;
        let mut totals = vec![journal.checkpoint(DATA_END_OCTETS_XATTR)?];
        totals.push(cap_total);
        let start = best_checkpoint(limit, totals.into_iter().flatten());
        let len = usize::try_from(limit / RECORD_LEN as u64).map_err(|_| {
            let too_big =
                io::Error::new(io::ErrorKind::OutOfMemory, "prefix exceeds address space");
            JournalError::io("map", path)(too_big)
        })?;
        let map = if len == 0 {
            None
        } else {
            // SAFETY: memmap2 requires that the mapped bytes are not modified or truncated
            // while mapped. coursemail never changes bytes below a committed offset: appends
            // write at or past `data_end` (which only grows), restrict touches only xattrs, and
            // rebuild writes a new inode and swaps names, leaving this one intact until unmapped.
            // `check_prefix` verified the file holds the whole prefix. Only an outside process
            // truncating the journal could break this, which no coursemail component does.
            let map = unsafe { MmapOptions::new().len(len * RECORD_LEN).map(journal.file()) }
                .map_err(JournalError::io("map", path))?;
            Some(map)
        };
        Ok(Snapshot {
            map,
            len,
            limit,
            start,
            path: path.to_path_buf(),
        })
    }

    /// Number of records visible.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is visible.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The record at `index` (from 0), decoded and validated.
    pub fn get(&self, index: usize) -> Result<Record, JournalError> {
        let out_of_range = || JournalError::OutOfRange {
            index,
            len: self.len,
        };
        let start = index.checked_mul(RECORD_LEN).ok_or_else(out_of_range)?;
        let bytes = self
            .map
            .as_deref()
            .and_then(|m| m.get(start..start + RECORD_LEN))
            .ok_or_else(out_of_range)?;
        Record::decode(bytes).map_err(|source| JournalError::Record {
            path: self.path.clone(),
            index: index as u64,
            source,
        })
    }

    /// Every visible record in journal order.
    pub fn iter(&self) -> impl Iterator<Item = Result<Record, JournalError>> + '_ {
        (0..self.len).map(|i| self.get(i))
    }

    /// Total size in bytes of the visible records (the sum of their `size`), for STAT.
    ///
    /// Normally read from the running total written with the prefix's offset, so it costs
    /// nothing; after a crash between moving an offset and its total, or on a journal imported
    /// without totals, the records past the best earlier total are added up.
    pub fn octets(&self) -> Result<u64, JournalError> {
        let first = usize::try_from(self.start.offset / RECORD_LEN as u64).unwrap_or(usize::MAX);
        (first..self.len).try_fold(self.start.octets, |sum, i| {
            Ok(sum.saturating_add(self.get(i)?.octets()))
        })
    }

    /// The visible prefix in bytes.
    pub fn limit_bytes(&self) -> u64 {
        self.limit
    }
}
