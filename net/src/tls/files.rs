//! File-system steps of writing the TLS pair: atomic replacement with exact modes, and the lock
//! that makes concurrent first starts agree on one pair.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Name of the lock file inside the TLS directory.
pub(super) const LOCK_FILE: &str = ".lock";

pub(super) fn create_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

/// Takes an exclusive lock on the TLS directory, held until the returned file is dropped.
pub(super) fn lock_dir(dir: &Path) -> io::Result<File> {
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(dir.join(LOCK_FILE))?;
    lock.lock()?;
    Ok(lock)
}

/// Writes `contents` to `path` so that readers see either no file or the whole file: temp file,
/// fsync, rename, fsync of the directory (the rename is only durable once the directory is).
pub(super) fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "path has no parent directory or file name",
        ));
    };
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let result = write_then_rename(&tmp, path, contents, mode);
    if result.is_err() {
        // Best effort: a leftover temp file is harmless (overwritten next time) but untidy.
        let _ = fs::remove_file(&tmp);
    }
    result?;
    File::open(dir)?.sync_all()
}

fn write_then_rename(tmp: &Path, path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    // Created 0600 so the key is never readable by others, even for a moment; the final mode
    // is set explicitly because the umask could otherwise narrow the certificate's 0644.
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(tmp)?;
    file.write_all(contents)?;
    file.set_permissions(Permissions::from_mode(mode))?;
    file.sync_all()?;
    fs::rename(tmp, path)
}

/// Whether group or others may read `path` (false if it cannot be inspected).
pub(super) fn readable_by_others(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o044 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_sets_exact_mode_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert.pem");
        write_atomic(&path, b"one", 0o644).unwrap();
        write_atomic(&path, b"two", 0o644).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["cert.pem"]);
    }

    #[test]
    fn key_mode_is_detected_as_too_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        write_atomic(&path, b"k", 0o600).unwrap();
        assert!(!readable_by_others(&path));
        fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        assert!(readable_by_others(&path));
    }
}
