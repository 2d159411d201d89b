//! Restrictions at any class size: every user's cap in one file beside the journal,
//! `journal/journal.caps`, instead of two xattrs per user on the journal (ext4 gives one file
//! about a 4 KiB block of xattrs: about 90 frozen students fitted, and a large course's first
//! deadline failed with "No space left on device").
//!
//! # Format
//! A 32-byte header (`CMCAPS1\0`, the journal's generation, 8 reserved bytes and the entry
//! count, little endian) and one 80-byte entry per capped user, sorted by username: the
//! username NUL-padded to 64 bytes, the cap (a byte offset into the journal) and the running
//! total of message sizes below it (STAT without walking records). A reader finds its entry by
//! binary search over a mapping, so login cost stays logarithmic in the number of restricted
//! users and independent of the journal's length.
//!
//! # Consistency
//! The file is replaced atomically (write beside, fsync, rename, fsync the directory) under the
//! journal's lock. It names the journal it belongs to by a random *generation* that the journal
//! also carries, as the xattr `user.caps_generation` (so copies with their xattrs, backups and
//! restores keep the pair together): a rebuild swaps in a journal of a new generation first and
//! renames its translated caps file into place right after, and a reader that meets a caps file
//! of another generation in between opens both again. A reader reads `data_end`
//! before it opens this file: a freeze is made durable before the release that follows it, so
//! a reader that sees the release also sees the freeze.
//!
//! # The seed's xattrs
//! A journal with no caps file keeps using `user.<name>_limit` xattrs (a seed journal imports
//! and is honoured). The first restriction written moves them all into the caps file; from
//! then on the xattrs are ignored and removed.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::JournalError;
use crate::ids::Username;

const MAGIC: &[u8; 8] = b"CMCAPS1\0";
const HEADER_LEN: usize = 32;
const NAME_LEN: usize = 64;
/// Bytes per entry: name, cap, running total.
pub const ENTRY_LEN: usize = NAME_LEN + 16;

/// The caps file of the journal at `journal`.
pub fn caps_path(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(".caps");
    PathBuf::from(name)
}

/// The xattr on the journal naming the generation of its caps file.
pub const GENERATION_XATTR: &str = "user.caps_generation";

/// Which journal a caps file belongs to: a random number the journal carries as
/// [`GENERATION_XATTR`], new for each journal a rebuild writes.
pub type Generation = u64;

/// A fresh generation, never 0.
pub fn new_generation() -> Generation {
    rand::random::<u64>().max(1)
}

/// One user's cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    /// The visible prefix in bytes.
    pub offset: u64,
    /// Sum of the message sizes of the records below `offset`.
    pub octets: u64,
}

/// A caps file, mapped.
#[derive(Debug)]
pub struct CapsFile {
    map: Option<Mmap>,
    generation: Generation,
    count: usize,
    path: PathBuf,
}

fn corrupt(path: &Path, why: impl Into<String>) -> JournalError {
    JournalError::BadCaps {
        path: path.to_path_buf(),
        reason: why.into(),
    }
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

impl CapsFile {
    /// Opens the caps file at `path`; `None` when there is none (the journal still uses the
    /// seed's xattrs, or nobody was ever restricted).
    pub fn open(path: &Path) -> Result<Option<CapsFile>, JournalError> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(JournalError::io("open", path)(e)),
        };
        let len = file
            .metadata()
            .map_err(JournalError::io("stat", path))?
            .len();
        let len = usize::try_from(len).map_err(|_| corrupt(path, "too large"))?;
        if len < HEADER_LEN {
            return Err(corrupt(
                path,
                format!("{len} bytes, shorter than its header"),
            ));
        }
        // SAFETY: the file is never modified in place: writers replace it by rename, so the
        // mapped inode keeps its bytes for as long as it is mapped.
        let map = unsafe { Mmap::map(&file) }.map_err(JournalError::io("map", path))?;
        if &map[..8] != MAGIC {
            return Err(corrupt(path, "not a coursemail caps file (bad magic)"));
        }
        let generation = u64_at(&map, 8);
        let count = usize::try_from(u64_at(&map, 24)).unwrap_or(usize::MAX);
        if count
            .checked_mul(ENTRY_LEN)
            .and_then(|n| n.checked_add(HEADER_LEN))
            != Some(len)
        {
            return Err(corrupt(
                path,
                format!("{len} bytes do not hold the {count} entries its header announces"),
            ));
        }
        Ok(Some(CapsFile {
            map: Some(map),
            generation,
            count,
            path: path.to_path_buf(),
        }))
    }

    /// The generation of the journal this file belongs to.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// How many users are capped.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether nobody is capped.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn entry(&self, index: usize) -> &[u8] {
        let map = self.map.as_deref().unwrap_or_default();
        let at = HEADER_LEN + index * ENTRY_LEN;
        &map[at..at + ENTRY_LEN]
    }

    fn name_of(entry: &[u8]) -> &[u8] {
        let name = &entry[..NAME_LEN];
        let end = name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        &name[..end]
    }

    fn cap_of(entry: &[u8]) -> Cap {
        Cap {
            offset: u64_at(entry, NAME_LEN),
            octets: u64_at(entry, NAME_LEN + 8),
        }
    }

    /// `user`'s cap, by binary search.
    pub fn lookup(&self, user: &Username) -> Option<Cap> {
        let wanted = user.as_str().as_bytes();
        let (mut low, mut high) = (0, self.count);
        while low < high {
            let mid = low + (high - low) / 2;
            let entry = self.entry(mid);
            match Self::name_of(entry).cmp(wanted) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return Some(Self::cap_of(entry)),
            }
        }
        None
    }

    /// Every entry, validated: names are usernames, sorted and unique.
    pub fn entries(&self) -> Result<BTreeMap<Username, Cap>, JournalError> {
        let mut out = BTreeMap::new();
        let mut previous: Option<&[u8]> = None;
        for i in 0..self.count {
            let entry = self.entry(i);
            let name = Self::name_of(entry);
            let user = std::str::from_utf8(name)
                .ok()
                .and_then(|n| Username::parse(n).ok())
                .ok_or_else(|| {
                    corrupt(
                        &self.path,
                        format!("entry {i} names no valid user ({})", name.escape_ascii()),
                    )
                })?;
            if previous.is_some_and(|p| p >= name) {
                return Err(corrupt(
                    &self.path,
                    format!("entry {i} ({user}) is out of order"),
                ));
            }
            previous = Some(name);
            out.insert(user, Self::cap_of(entry));
        }
        Ok(out)
    }
}

/// The bytes of a caps file of `generation` holding `caps` (sorted by the map).
pub fn encode(generation: Generation, caps: &BTreeMap<Username, Cap>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + caps.len() * ENTRY_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&(caps.len() as u64).to_le_bytes());
    for (user, cap) in caps {
        let mut name = [0u8; NAME_LEN];
        let bytes = user.as_str().as_bytes();
        name[..bytes.len()].copy_from_slice(bytes);
        out.extend_from_slice(&name);
        out.extend_from_slice(&cap.offset.to_le_bytes());
        out.extend_from_slice(&cap.octets.to_le_bytes());
    }
    out
}

/// Replaces the caps file at `path` atomically and durably.
pub fn write(
    path: &Path,
    generation: Generation,
    caps: &BTreeMap<Username, Cap>,
    mode: u32,
) -> Result<(), JournalError> {
    crate::durable::write_file_atomic(path, &encode(generation, caps), mode)
        .map_err(JournalError::io("write", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> Username {
        Username::parse(name).unwrap()
    }

    #[test]
    fn ten_thousand_caps_are_found_by_binary_search() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.caps");
        let caps: BTreeMap<Username, Cap> = (0..10_000)
            .map(|i| {
                let cap = Cap {
                    offset: i * 48,
                    octets: i * 1000,
                };
                (user(&format!("s{i:05}")), cap)
            })
            .collect();
        write(&path, 42, &caps, 0o640).unwrap();
        let file = CapsFile::open(&path).unwrap().unwrap();
        assert_eq!(file.generation(), 42);
        assert_eq!(file.len(), 10_000);
        assert_eq!(
            file.lookup(&user("s04321")),
            Some(Cap {
                offset: 4321 * 48,
                octets: 4_321_000
            })
        );
        assert_eq!(file.lookup(&user("s99999")), None);
        assert_eq!(file.lookup(&user("a")), None);
        assert_eq!(file.entries().unwrap(), caps);
        let longest = user(&format!("a{}", "b".repeat(63)));
        let one = BTreeMap::from([(
            longest.clone(),
            Cap {
                offset: 0,
                octets: 0,
            },
        )]);
        write(&path, 1, &one, 0o640).unwrap();
        let file = CapsFile::open(&path).unwrap().unwrap();
        assert!(
            file.lookup(&longest).is_some(),
            "a 64-character name fills its field"
        );
    }

    #[test]
    fn a_damaged_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.caps");
        assert!(CapsFile::open(&path).unwrap().is_none());
        std::fs::write(&path, b"CMCAPS1\0short").unwrap();
        let err = CapsFile::open(&path).unwrap_err().to_string();
        assert!(err.contains("journal.caps"), "{err}");
        let mut bytes = encode(
            2,
            &BTreeMap::from([(
                user("bob"),
                Cap {
                    offset: 0,
                    octets: 0,
                },
            )]),
        );
        bytes[HEADER_LEN] = b'B';
        std::fs::write(&path, &bytes).unwrap();
        let err = CapsFile::open(&path)
            .unwrap()
            .unwrap()
            .entries()
            .unwrap_err();
        assert!(err.to_string().contains("no valid user"), "{err}");
    }
}
