//! The fresh temporary directory each submission is judged in: a private `$HOME` for git, the
//! messages as files, and a repository holding the base the patches apply to.
//!
//! The base is the course's base repository `course/base.git` when it exists (its `HEAD`,
//! cloned), else one empty root commit with a fixed author, committer and date, so every
//! submission of every student shares the same root in `grading.git`. Everything is removed
//! when the workspace is dropped.

use std::path::{Path, PathBuf};

use tempfile::TempDir;
use tokio::time::Instant;

use crate::error::{GitError, IntakeError};
use crate::git::{Git, Identity};

/// Date of the empty root commit (2000-01-01T00:00:00Z): fixed, so its id never changes.
const ROOT_DATE: i64 = 946_684_800;
/// Message of the empty root commit.
const ROOT_MESSAGE: &str = "coursemail: empty base\n\nThe course has no base repository \
     (course/base.git); every series applies to this empty tree.";

/// One submission's scratch space; removed on drop.
pub(crate) struct Workspace {
    dir: TempDir,
    git: Git,
}

impl Workspace {
    /// Creates the directory under `work_root` (the system temporary directory by default).
    /// Commits made here are by `committer` at `commit_time` (Unix seconds).
    pub(crate) fn new(
        work_root: &Path,
        committer: Identity,
        commit_time: i64,
        deadline: Instant,
    ) -> Result<Workspace, IntakeError> {
        let dir = tempfile::Builder::new()
            .prefix("denis-")
            .tempdir_in(work_root)
            .map_err(IntakeError::io(
                "create a temporary directory in",
                work_root,
            ))?;
        let git = Git::new(dir.path(), committer, commit_time, deadline);
        Ok(Workspace { dir, git })
    }

    /// The git environment of this submission (its `$HOME` is the workspace).
    pub(crate) fn git(&self) -> &Git {
        &self.git
    }

    /// A path inside the workspace.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Creates `repo/` on the base (see the module doc); returns its path and how many
    /// commits its `HEAD` has.
    pub(crate) async fn init_repo(&self, base: Option<&Path>) -> Result<(PathBuf, u64), GitError> {
        let repo = self.path("repo");
        let home = self.dir.path();
        let Some(base) = base else {
            self.git
                .cmd(home, "init")
                .args(["-q", "--"])
                .arg(&repo)
                .ok()
                .await?;
            self.root_commit(&repo).await?;
            return Ok((repo, 1));
        };
        self.git
            .cmd(home, "clone")
            .args(["-q", "--no-tags", "--"])
            .arg(base)
            .arg(&repo)
            .ok()
            .await?;
        let count = self
            .git
            .cmd(&repo, "rev-list")
            .args(["--count", "HEAD"])
            .output()
            .await?;
        let count = String::from_utf8_lossy(&count.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        // An empty base repository clones to a repository without commits.
        if count == 0 {
            self.root_commit(&repo).await?;
            return Ok((repo, 1));
        }
        Ok((repo, count))
    }

    async fn root_commit(&self, repo: &Path) -> Result<(), GitError> {
        self.git
            .at(ROOT_DATE)
            .cmd(repo, "commit")
            .args(["-q", "--allow-empty", "-m", ROOT_MESSAGE])
            .ok()
            .await?;
        Ok(())
    }
}
