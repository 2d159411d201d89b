//! File-system steps of writing the TLS pair: the lock that makes concurrent first starts agree
//! on one pair, and the mode check. Files themselves are written with
//! [`journal::write_file_atomic`], the one durable-write helper.

use std::fs::{self, File, OpenOptions};
use std::io;
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

/// Whether group or others may read `path` (false if it cannot be inspected).
pub(super) fn readable_by_others(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o044 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_mode_is_detected_as_too_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        journal::write_file_atomic(&path, b"k", 0o600).unwrap();
        assert!(!readable_by_others(&path));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(readable_by_others(&path));
    }
}
