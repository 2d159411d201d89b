//! One open journal inode: its committed length, caps and records.
//!
//! Everything is read through a single descriptor, so the xattrs and the bytes always come from
//! the same file even while a rebuild swaps a new journal in under the same name.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt as _, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use xattr::FileExt as _;

use crate::attrs::{Checkpoint, DATA_END_XATTR, cap_owner, decode_offset, encode_offset};
use crate::error::JournalError;
use crate::record::{RECORD_LEN, Record};

/// Records read per `pread` when scanning, so a million-record journal is not one allocation.
const RECORDS_PER_READ: u64 = 16 * 1024;

/// A cap xattr as found on disk, before any validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawCap {
    /// The full xattr name (`user.<owner>_limit`).
    pub attr: String,
    /// The part between `user.` and `_limit`, escaped; may not be a valid username.
    pub owner: String,
    /// The offset, or `Err(len)` if the value is not 8 bytes.
    pub value: Result<u64, usize>,
}

/// Identifies an inode across opens, so a cache about one journal file is never applied to
/// another: device and inode number, plus birth time because rebuild deletes journals and the
/// file system may hand the same inode number to a later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileIdentity {
    dev: u64,
    ino: u64,
    born: SystemTime,
}

/// An open journal file.
#[derive(Debug)]
pub(crate) struct JournalFile {
    file: File,
    path: PathBuf,
}

impl JournalFile {
    /// Opens the journal at `path`; read-only unless `writable`, so readers work on a read-only
    /// mount.
    pub fn open(path: &Path, writable: bool) -> Result<Self, JournalError> {
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(path)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    JournalError::Missing {
                        path: path.to_path_buf(),
                    }
                } else {
                    JournalError::io("open", path)(e)
                }
            })?;
        Ok(Self::from_parts(file, path))
    }

    /// Wraps an already open journal file.
    pub fn from_parts(file: File, path: &Path) -> Self {
        Self {
            file,
            path: path.to_path_buf(),
        }
    }

    /// The descriptor.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The path it was opened by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Current file length in bytes (committed records plus any unfinished tail).
    pub fn len(&self) -> Result<u64, JournalError> {
        Ok(self.metadata()?.len())
    }

    fn metadata(&self) -> Result<std::fs::Metadata, JournalError> {
        self.file
            .metadata()
            .map_err(JournalError::io("stat", &self.path))
    }

    /// The inode's identity, or `None` where the file system records no birth time.
    pub fn identity(&self) -> Result<Option<FileIdentity>, JournalError> {
        let meta = self.metadata()?;
        Ok(meta.created().ok().map(|born| FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
            born,
        }))
    }

    /// The generation of the caps file this journal goes with (see [`crate::caps`]); `None`
    /// for a journal that never had one.
    pub fn caps_generation(&self) -> Result<Option<crate::caps::Generation>, JournalError> {
        self.offset_attr(crate::caps::GENERATION_XATTR)
    }

    /// The permission bits, so a rebuilt journal keeps what the operator chose.
    pub fn mode(&self) -> Result<u32, JournalError> {
        Ok(self.metadata()?.mode() & 0o7777)
    }

    /// Reads an offset xattr; `None` if absent.
    pub fn offset_attr(&self, name: &str) -> Result<Option<u64>, JournalError> {
        let value = self
            .file
            .get_xattr(name)
            .map_err(JournalError::io("read attributes of", &self.path))?;
        value
            .map(|v| {
                decode_offset(&v).ok_or_else(|| JournalError::BadAttribute {
                    path: self.path.clone(),
                    name: name.to_string(),
                    len: v.len(),
                })
            })
            .transpose()
    }

    /// An xattr's raw value; `None` if absent.
    pub fn raw_attr(&self, name: &str) -> Result<Option<Vec<u8>>, JournalError> {
        self.file
            .get_xattr(name)
            .map_err(JournalError::io("read attributes of", &self.path))
    }

    /// Whether an xattr exists, whatever its value.
    pub fn has_attr(&self, name: &str) -> Result<bool, JournalError> {
        Ok(self.raw_attr(name)?.is_some())
    }

    /// A running-total checkpoint; absent or malformed ones are `None`, since a reader can
    /// always fall back to summing from an earlier one (verify reports malformed ones).
    pub fn checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, JournalError> {
        let Some(value) = self.raw_attr(name)? else {
            return Ok(None);
        };
        let checkpoint = Checkpoint::decode(&value);
        if checkpoint.is_none() {
            tracing::warn!(path = %self.path.display(), attr = name, "ignoring malformed running total");
        }
        Ok(checkpoint)
    }

    /// Sets a running-total checkpoint (not yet durable, like [`JournalFile::set_offset_attr`]).
    pub fn set_checkpoint(&self, name: &str, checkpoint: Checkpoint) -> Result<(), JournalError> {
        self.file
            .set_xattr(name, &checkpoint.encode())
            .map_err(JournalError::io("set attributes of", &self.path))
    }

    /// Sets an offset xattr (not yet durable: callers fsync once after all changes).
    pub fn set_offset_attr(&self, name: &str, value: u64) -> Result<(), JournalError> {
        self.file
            .set_xattr(name, &encode_offset(value))
            .map_err(JournalError::io("set attributes of", &self.path))
    }

    /// Removes an xattr; absent is fine.
    pub fn remove_attr(&self, name: &str) -> Result<(), JournalError> {
        if !self.has_attr(name)? {
            return Ok(());
        }
        self.file
            .remove_xattr(name)
            .map_err(JournalError::io("remove attributes of", &self.path))
    }

    /// The raw `user.data_end`, unchecked; `None` if absent.
    pub fn data_end_attr(&self) -> Result<Option<u64>, JournalError> {
        self.offset_attr(DATA_END_XATTR)
    }

    /// The committed length, checked: present, on a record boundary and within the file.
    pub fn data_end(&self) -> Result<u64, JournalError> {
        let end = self
            .data_end_attr()?
            .ok_or_else(|| JournalError::NoDataEnd {
                path: self.path.clone(),
            })?;
        self.check_prefix("data_end", end)?;
        Ok(end)
    }

    /// Checks that `value` is a usable prefix length: whole records, all present in the file.
    pub fn check_prefix(&self, what: &str, value: u64) -> Result<(), JournalError> {
        if !value.is_multiple_of(RECORD_LEN as u64) {
            return Err(JournalError::Misaligned {
                path: self.path.clone(),
                what: what.to_string(),
                value,
            });
        }
        let file_len = self.len()?;
        if value > file_len {
            return Err(JournalError::Truncated {
                path: self.path.clone(),
                what: what.to_string(),
                value,
                file_len,
            });
        }
        Ok(())
    }

    /// Every xattr shaped like a cap, valid or not.
    pub fn raw_caps(&self) -> Result<Vec<RawCap>, JournalError> {
        let names = self
            .file
            .list_xattr()
            .map_err(JournalError::io("list attributes of", &self.path))?;
        let mut caps = Vec::new();
        for attr in names {
            let Some(owner) = cap_owner(&attr) else {
                continue;
            };
            let value = self
                .file
                .get_xattr(&attr)
                .map_err(JournalError::io("read attributes of", &self.path))?;
            // Removed between listing and reading (restrict allow in another process).
            let Some(value) = value else { continue };
            caps.push(RawCap {
                attr: attr.to_string_lossy().into_owned(),
                owner,
                value: decode_offset(&value).ok_or(value.len()),
            });
        }
        caps.sort_by(|a, b| a.attr.cmp(&b.attr));
        Ok(caps)
    }

    /// The raw bytes in `[from, to)`.
    pub fn read_bytes(&self, from: u64, to: u64) -> Result<Vec<u8>, JournalError> {
        let len = usize::try_from(to.saturating_sub(from)).map_err(|_| JournalError::Io {
            action: "read",
            path: self.path.clone(),
            source: io::Error::from(io::ErrorKind::OutOfMemory),
        })?;
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, from)
            .map_err(JournalError::io("read", &self.path))?;
        Ok(buf)
    }

    /// Calls `each(index, bytes)` for every 48-byte slot in `[from, to)` (both on record
    /// boundaries), reading a bounded chunk at a time.
    pub fn for_each_slot(
        &self,
        from: u64,
        to: u64,
        mut each: impl FnMut(u64, &[u8]) -> Result<(), JournalError>,
    ) -> Result<(), JournalError> {
        let rec = RECORD_LEN as u64;
        let mut at = from;
        while at < to {
            let chunk_end = to.min(at + RECORDS_PER_READ * rec);
            let bytes = self.read_bytes(at, chunk_end)?;
            for (i, slot) in bytes.chunks_exact(RECORD_LEN).enumerate() {
                each(at / rec + i as u64, slot)?;
            }
            at = chunk_end;
        }
        Ok(())
    }

    /// The records in `[from, to)`, failing on the first one that does not decode.
    pub fn read_records(&self, from: u64, to: u64) -> Result<Vec<Record>, JournalError> {
        let mut out = Vec::with_capacity(((to.saturating_sub(from)) / RECORD_LEN as u64) as usize);
        self.for_each_slot(from, to, |index, slot| {
            out.push(self.decode(index, slot)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Decodes the record at `index`, naming it in the error.
    pub fn decode(&self, index: u64, slot: &[u8]) -> Result<Record, JournalError> {
        Record::decode(slot).map_err(|source| JournalError::Record {
            path: self.path.clone(),
            index,
            source,
        })
    }

    /// Flushes data and metadata (xattrs included).
    pub fn sync_all(&self) -> Result<(), JournalError> {
        self.file
            .sync_all()
            .map_err(JournalError::io("fsync", &self.path))
    }
}
