//! The data root (SPEC §3): the one place that knows where everything lives on disk.
//!
//! Every service mounts only the parts it needs, so each part is its own directory and nothing
//! outside this module builds a path under the root by hand.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Mode of every directory coursemail creates: mail and grades are private to the service user.
const PRIVATE_DIR_MODE: u32 = 0o700;

/// The root of one coursemail installation's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRoot {
    root: PathBuf,
}

impl DataRoot {
    /// A data root at `root` (nothing is touched until [`DataRoot::create`]).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `mail/`: one file per accepted message, named by message id.
    pub fn mail_dir(&self) -> PathBuf {
        self.root.join("mail")
    }

    /// `logs/`: one record per SMTP session.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// `journal/`: holds the journal and its lock file, mounted read-only by pop.
    pub fn journal_dir(&self) -> PathBuf {
        self.root.join("journal")
    }

    /// `journal/journal`: the maildrop index (SPEC §5).
    pub fn journal_file(&self) -> PathBuf {
        self.journal_dir().join("journal")
    }

    /// `accounts/`: holds the accounts database.
    pub fn accounts_dir(&self) -> PathBuf {
        self.root.join("accounts")
    }

    /// `accounts/accounts.db`: users, roles, web sessions.
    pub fn accounts_db(&self) -> PathBuf {
        self.accounts_dir().join("accounts.db")
    }

    /// `course/`: holds the course database.
    pub fn course_dir(&self) -> PathBuf {
        self.root.join("course")
    }

    /// `course/course.db`: assignments, submissions, grades and the rest of denis' state.
    pub fn course_db(&self) -> PathBuf {
        self.course_dir().join("course.db")
    }

    /// `pop/`: per-user POP3 state (deleted messages).
    pub fn pop_dir(&self) -> PathBuf {
        self.root.join("pop")
    }

    /// `tls/`: `cert.pem` and `key.pem`.
    pub fn tls_dir(&self) -> PathBuf {
        self.root.join("tls")
    }

    /// `grading.git`: the bare repository with one tag per submission.
    pub fn grading_repo(&self) -> PathBuf {
        self.root.join("grading.git")
    }

    /// Every directory [`DataRoot::create`] makes, root first.
    pub fn directories(&self) -> Vec<PathBuf> {
        vec![
            self.root.clone(),
            self.mail_dir(),
            self.logs_dir(),
            self.journal_dir(),
            self.accounts_dir(),
            self.course_dir(),
            self.pop_dir(),
            self.tls_dir(),
        ]
    }

    /// Creates the root and every directory above with mode 0700; idempotent.
    ///
    /// `grading.git` is left to git (`git init --bare` wants to create it). Existing directories
    /// keep their mode: an operator may have loosened one on purpose (a shared group for a
    /// container), and silently undoing that would break their deployment.
    pub fn create(&self) -> io::Result<()> {
        self.directories()
            .iter()
            .try_for_each(|dir| create_private_dir(dir))
    }
}

/// `mkdir -p` in which every directory created gets mode 0700 (existing ones are left alone).
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn paths_follow_spec_section_3() {
        let root = DataRoot::new("/srv/cm");
        assert_eq!(root.root(), Path::new("/srv/cm"));
        assert_eq!(root.mail_dir(), Path::new("/srv/cm/mail"));
        assert_eq!(root.logs_dir(), Path::new("/srv/cm/logs"));
        assert_eq!(root.journal_file(), Path::new("/srv/cm/journal/journal"));
        assert_eq!(
            root.accounts_db(),
            Path::new("/srv/cm/accounts/accounts.db")
        );
        assert_eq!(root.course_db(), Path::new("/srv/cm/course/course.db"));
        assert_eq!(root.pop_dir(), Path::new("/srv/cm/pop"));
        assert_eq!(root.tls_dir(), Path::new("/srv/cm/tls"));
        assert_eq!(root.grading_repo(), Path::new("/srv/cm/grading.git"));
    }

    #[test]
    fn create_makes_private_dirs_and_keeps_existing_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = DataRoot::new(tmp.path().join("a/b"));
        std::fs::create_dir_all(root.root()).unwrap();
        std::fs::set_permissions(root.root(), std::fs::Permissions::from_mode(0o750)).unwrap();
        root.create().unwrap();
        root.create().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(root.root()), 0o750);
        for dir in &root.directories()[1..] {
            assert_eq!(mode(dir), 0o700, "{}", dir.display());
        }
        assert!(!root.grading_repo().exists());
    }
}
