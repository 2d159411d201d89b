//! Durable replacement of whole files, and the atomic swap rebuild needs.
//!
//! The recipe is always the same: write a temporary beside the target (same directory, so the
//! final rename cannot cross file systems), fsync it, rename it into place, then fsync the
//! directory so the new name itself survives a power cut.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Adds the operation and path to an I/O error, so "No such file or directory" says which.
pub(crate) fn annotate(err: io::Error, action: &str, path: &Path) -> io::Error {
    io::Error::new(
        err.kind(),
        format!("cannot {action} {}: {err}", path.display()),
    )
}

/// The directory containing `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `path` with `suffix` appended to its file name (`journal` -> `journal.lock`).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Makes a directory's entries (new names, renames, unlinks) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| annotate(e, "fsync directory", dir))
}

/// Flushes every dirty page and inode of the file system holding `path` in one call
/// (`syncfs(2)`).
///
/// For a batch of many new files this is cheaper than one fsync each (one journal commit instead
/// of one per file), at the price of also flushing unrelated writes on the same file system; the
/// smtp committer uses it only for batches large enough to make that worthwhile.
pub fn sync_filesystem(path: &Path) -> io::Result<()> {
    let dir = File::open(path).map_err(|e| annotate(e, "open", path))?;
    syncfs(&dir).map_err(|e| annotate(e, "syncfs", path))
}

#[cfg(target_os = "linux")]
fn syncfs(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor belongs to `file`, which is open for the whole call; syncfs only
    // reads the descriptor number and touches no memory of ours.
    let rc = unsafe { libc::syncfs(file.as_raw_fd()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn syncfs(_file: &File) -> io::Result<()> {
    // Without syncfs, a full sync() gives the same guarantee for this file system.
    // SAFETY: sync() takes no arguments and cannot fail.
    unsafe { libc::sync() };
    Ok(())
}

/// Creates a new file at `path` (failing if it exists) with exactly `mode`.
///
/// The mode is applied with fchmod after creation because the creation mode is filtered by the
/// process umask, and callers rely on the exact permissions (mail 0640, private state 0600).
pub(crate) fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    Ok(file)
}

/// Replaces `path` with `bytes` so that readers and a crash see either the old or the new
/// content, never a mix; the file gets `mode`.
///
/// This is the one durable-write helper for small state files (POP3 deletions, session logs...).
pub fn write_file_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))
        .map_err(|e| annotate(e, "write", path))?;
    let mut temp_name = OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{:016x}.tmp", rand::random::<u64>()));
    let temp = dir.join(temp_name);

    let result = (|| {
        let mut file = create_new(&temp, mode).map_err(|e| annotate(e, "create", &temp))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| annotate(e, "write", &temp))?;
        // Rename only after the data is on disk: otherwise a crash could leave the new name
        // pointing at an empty or partial file.
        fs::rename(&temp, path).map_err(|e| annotate(e, "rename into place", path))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        // Best effort: the temporary is invisible to readers anyway (its name starts with '.').
        let _ = fs::remove_file(&temp);
    }
    result
}

/// How [`exchange`] put the new file in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Swap {
    /// The names were exchanged: the old file now lives at the temporary name.
    Exchanged,
    /// The file system cannot exchange, so the new file was renamed over the old one.
    Replaced,
}

/// Atomically puts `from` at `to`: `renameat2(RENAME_EXCHANGE)` where the kernel and file system
/// support it, plain `rename` otherwise. Both are atomic for a process opening `to`; exchanging
/// additionally keeps the old file reachable until the caller deletes it deliberately.
pub(crate) fn exchange(from: &Path, to: &Path) -> io::Result<Swap> {
    match exchange_names(from, to) {
        Ok(()) => Ok(Swap::Exchanged),
        Err(e) if exchange_unsupported(&e) => {
            tracing::debug!(error = %e, "RENAME_EXCHANGE unsupported here, using rename");
            fs::rename(from, to).map_err(|e| annotate(e, "rename into place", to))?;
            Ok(Swap::Replaced)
        }
        Err(e) => Err(annotate(e, "exchange with", to)),
    }
}

#[cfg(target_os = "linux")]
fn exchange_names(from: &Path, to: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let from = CString::new(from.as_os_str().as_bytes())?;
    let to = CString::new(to.as_os_str().as_bytes())?;
    // SAFETY: both pointers come from CStrings that are valid, NUL-terminated and alive for the
    // whole call; AT_FDCWD makes the kernel resolve them like open(2) would. No memory is shared
    // with the kernel beyond the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange_names(_from: &Path, _to: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

fn exchange_unsupported(err: &io::Error) -> bool {
    // EINVAL: the file system does not implement the flag (e.g. some network file systems);
    // ENOSYS: kernel older than 3.15 or a seccomp filter hiding the call.
    matches!(err.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS))
        || err.kind() == io::ErrorKind::Unsupported
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_file_atomic_replaces_content_with_exact_mode_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        write_file_atomic(&path, b"one", 0o600).unwrap();
        write_file_atomic(&path, b"two", 0o640).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn write_file_atomic_error_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir/state");
        let err = write_file_atomic(&path, b"x", 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("missing-dir"), "{err}");
    }

    #[test]
    fn sync_filesystem_succeeds_on_a_directory_and_names_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        sync_filesystem(dir.path()).unwrap();
        let err = sync_filesystem(&dir.path().join("gone")).unwrap_err();
        assert!(err.to_string().contains("gone"), "{err}");
    }

    #[test]
    fn exchange_swaps_two_files() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, "new").unwrap();
        fs::write(&b, "old").unwrap();
        match exchange(&a, &b).unwrap() {
            Swap::Exchanged => assert_eq!(fs::read(&a).unwrap(), b"old"),
            Swap::Replaced => assert!(!a.exists()),
        }
        assert_eq!(fs::read(&b).unwrap(), b"new");
    }

    #[test]
    fn suffix_and_parent_helpers() {
        assert_eq!(
            with_suffix(Path::new("j/journal"), ".lock"),
            Path::new("j/journal.lock")
        );
        assert_eq!(parent_dir(Path::new("journal")), Path::new("."));
        assert_eq!(parent_dir(Path::new("/x/journal")), Path::new("/x"));
    }
}
