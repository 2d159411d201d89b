//! One user's maildrop for one session (SPEC §7): the journal prefix they may see, minus what they
//! deleted in earlier sessions, numbered from 1 and frozen for the session.
//!
//! Opening is cheap whatever the journal's size: the snapshot maps the prefix without reading it,
//! earlier deletions are located by the positions recorded with them, and the total size comes
//! from the journal's running total. Only listing commands walk the records.

use std::collections::{BTreeMap, HashSet};

use journal::reader::Snapshot;
use journal::record::Record;
use journal::{JournalError, MessageId};

use crate::deletions::Deleted;

/// Bytes of the `.\r\n` terminator every stored message ends with; not part of the message size
/// a client is told.
const TERMINATOR: u64 = 3;

/// One message as the session numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Its number in this session, from 1.
    pub number: u32,
    /// Its journal record.
    pub record: Record,
}

impl Entry {
    /// Size in octets as reported by STAT and LIST (the stored wire form without the terminator).
    pub fn octets(&self) -> u64 {
        message_octets(&self.record)
    }

    /// The unique id reported by UIDL.
    pub fn uid(&self) -> MessageId {
        self.record.name
    }
}

fn message_octets(record: &Record) -> u64 {
    size_octets(record.size.max(0) as u64)
}

/// A stored size as the client is told it: without the terminator.
fn size_octets(stored: u64) -> u64 {
    stored.saturating_sub(TERMINATOR)
}

/// Why a message number cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Beyond the maildrop.
    NoSuchMessage,
    /// Marked for deletion in this session.
    Deleted,
}

/// A session's view: snapshot, earlier deletions, and this session's marks.
pub struct Maildrop {
    snapshot: Snapshot,
    /// Journal positions the user deleted in earlier sessions, ascending.
    hidden: Vec<usize>,
    /// Earlier deletions whose recorded position was stale, with the position found now.
    relocated: Vec<Deleted>,
    /// Messages marked with DELE in this session, by number.
    marked: BTreeMap<u32, Deleted>,
    count: u32,
    octets: u64,
}

impl Maildrop {
    /// Builds the view from a snapshot and the user's earlier deletions.
    pub fn new(snapshot: Snapshot, deleted: &[Deleted]) -> Result<Self, JournalError> {
        let (hidden, relocated) = locate(&snapshot, deleted)?;
        let mut hidden_octets = 0;
        for &position in &hidden {
            hidden_octets += message_octets(&snapshot.get(position)?);
        }
        let count = snapshot.len() - hidden.len();
        let all_octets = snapshot
            .octets()?
            .saturating_sub(TERMINATOR * snapshot.len() as u64);
        Ok(Self {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            octets: all_octets.saturating_sub(hidden_octets),
            snapshot,
            hidden,
            relocated,
            marked: BTreeMap::new(),
        })
    }

    /// Messages not marked for deletion, and their total size (STAT).
    pub fn stat(&self) -> (u32, u64) {
        let marked_octets: u64 = self
            .marked
            .values()
            .map(|d| d.size.saturating_sub(TERMINATOR))
            .sum();
        (
            self.count - self.marked.len() as u32,
            self.octets - marked_octets,
        )
    }

    /// The message numbered `number`, unless it is out of range or marked.
    pub fn get(&self, number: u32) -> Result<Result<Entry, Lookup>, JournalError> {
        if number == 0 || number > self.count {
            return Ok(Err(Lookup::NoSuchMessage));
        }
        if self.marked.contains_key(&number) {
            return Ok(Err(Lookup::Deleted));
        }
        let record = self.snapshot.get(self.position(number))?;
        Ok(Ok(Entry { number, record }))
    }

    /// Every message not marked for deletion, in order (LIST, UIDL).
    pub fn entries(&self) -> impl Iterator<Item = Result<Entry, JournalError>> + '_ {
        let mut hidden = self.hidden.iter().peekable();
        let mut number = 0u32;
        (0..self.snapshot.len()).filter_map(move |position| {
            if hidden.peek() == Some(&&position) {
                hidden.next();
                return None;
            }
            number += 1;
            if self.marked.contains_key(&number) {
                return None;
            }
            Some(
                self.snapshot
                    .get(position)
                    .map(|record| Entry { number, record }),
            )
        })
    }

    /// Marks `number` for deletion at QUIT (DELE).
    pub fn mark(&mut self, number: u32) -> Result<Result<(), Lookup>, JournalError> {
        let position = match self.get(number)? {
            Ok(_) => self.position(number),
            Err(e) => return Ok(Err(e)),
        };
        let record = self.snapshot.get(position)?;
        self.marked.insert(
            number,
            Deleted {
                id: record.name,
                size: record.size.max(0) as u64,
                position: position as u64,
            },
        );
        Ok(Ok(()))
    }

    /// Unmarks everything (RSET).
    pub fn unmark_all(&mut self) {
        self.marked.clear();
    }

    /// What QUIT commits.
    pub fn marked(&self) -> Vec<Deleted> {
        self.marked.values().copied().collect()
    }

    /// Earlier deletions found at a new position (after a journal rebuild), to be stored again
    /// with the corrected position.
    pub fn relocated(&self) -> Vec<Deleted> {
        self.relocated.clone()
    }

    /// Journal position of message `number` (1-based, in range): skip over earlier deletions.
    fn position(&self, number: u32) -> usize {
        let mut position = number as usize - 1;
        for &h in &self.hidden {
            if h <= position {
                position += 1;
            } else {
                break;
            }
        }
        position
    }
}

/// Journal positions of earlier deletions that lie in this snapshot, and the deletions whose
/// recorded position was stale but which were found elsewhere. Recorded positions are trusted only
/// when the record there has the same id; otherwise (after a rebuild) one scan finds the rest.
fn locate(
    snapshot: &Snapshot,
    deleted: &[Deleted],
) -> Result<(Vec<usize>, Vec<Deleted>), JournalError> {
    let mut found = Vec::with_capacity(deleted.len());
    let mut missing: HashSet<MessageId> = HashSet::new();
    for d in deleted {
        let position = d.position as usize;
        if position < snapshot.len() && snapshot.get(position)?.name == d.id {
            found.push(position);
        } else {
            missing.insert(d.id);
        }
    }
    let mut relocated = Vec::new();
    if !missing.is_empty() {
        for (position, record) in snapshot.iter().enumerate() {
            let record = record?;
            if missing.remove(&record.name) {
                found.push(position);
                relocated.push(Deleted {
                    id: record.name,
                    size: record.size.max(0) as u64,
                    position: position as u64,
                });
                if missing.is_empty() {
                    break;
                }
            }
        }
    }
    found.sort_unstable();
    found.dedup();
    Ok((found, relocated))
}
