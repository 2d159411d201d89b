//! `grading.git` (SPEC §3, §8): the bare repository instructors clone, one tag per submission.
//!
//! - A patchset that passed (no fatal finding): its applied commits, tag `<submission-id>`.
//! - A fatal patchset: one root commit holding the raw messages as `<message-id>.eml`.
//! - A review: one commit on top of the reviewed submission's tag, adding the review's
//!   messages as `_review/<message-id>.eml` (`_` cannot start a username, so the directory
//!   never collides with a student's), tagged with the review's submission id.
//!
//! Every write is idempotent: commits are made with a fixed identity and date (the session's
//! AUTH time), and tags are forced, so re-processing after a crash recreates the same tag.

use std::path::{Path, PathBuf};

use journal::{MessageId, SubmissionId};

use crate::error::{GitError, IntakeError};
use crate::git::Git;

/// Directory holding the review's messages in a review commit.
const REVIEW_DIR: &str = "_review";

/// The bare grading repository.
#[derive(Debug, Clone)]
pub struct GradingRepo {
    path: PathBuf,
}

impl GradingRepo {
    /// The repository at `path` (absolute, so it can never be read as a git option).
    pub(crate) fn new(path: PathBuf) -> GradingRepo {
        GradingRepo { path }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the bare repository if it does not exist (`git init --bare` is idempotent).
    pub(crate) async fn init(&self, git: &Git) -> Result<(), IntakeError> {
        // Re-initialising rewrites `config` under a lock file, so a second intake starting at
        // the same moment (the daemon and cron's `deadlines run-due`) would fail on it; an
        // existing repository needs nothing.
        if self.path.join("HEAD").is_file() {
            return Ok(());
        }
        let parent = self.path.parent().unwrap_or(Path::new("/"));
        git.cmd(parent, "init")
            .args(["-q", "--bare", "--"])
            .arg(&self.path)
            .ok()
            .await?;
        Ok(())
    }

    fn tag_ref(id: &SubmissionId) -> String {
        format!("refs/tags/{id}")
    }

    /// Keeps `HEAD` of `repo` (the applied series) as tag `id`.
    pub(crate) async fn keep_series(
        &self,
        git: &Git,
        repo: &Path,
        id: &SubmissionId,
    ) -> Result<(), GitError> {
        let push = || async {
            git.cmd(repo, "push")
                .args(["-q", "--force", "--no-verify", "--"])
                .arg(&self.path)
                .arg(format!("HEAD:{}", Self::tag_ref(id)))
                .ok()
                .await
        };
        // Another intake (the scheduler's catch-up before a deadline, or the CLI's) may be
        // writing the same tag at this moment, and git refuses a ref whose lock it holds. The
        // tag is deterministic, so one retry finds it (or makes it) right.
        if let Err(first) = push().await {
            tracing::debug!(submission = %id, error = %first, "retrying the tag push once");
            push().await?;
        }
        Ok(())
    }

    /// Makes tag `id` an annotated tag whose message is `summary` and the findings (SPEC §18:
    /// `git show TAG` tells a grader everything). Deterministic for a given submission, like
    /// the commit it points at, so re-processing after a crash writes the same tag.
    pub(crate) async fn annotate(
        &self,
        git: &Git,
        id: &SubmissionId,
        summary: &str,
        findings: &[crate::model::Finding],
    ) -> Result<(), GitError> {
        let mut message = format!("{summary}\n\n");
        for f in findings {
            message.push_str(&format!("{}: {}\n", f.severity, f.message));
        }
        let tag = || async {
            git.cmd(&self.path, "tag")
                .args(["-f", "-a", "-m"])
                .arg(&message)
                .arg(id.as_str())
                .arg(format!("{}^{{commit}}", Self::tag_ref(id)))
                .ok()
                .await
        };
        if let Err(first) = tag().await {
            tracing::debug!(submission = %id, error = %first, "retrying the annotated tag once");
            tag().await?;
        }
        Ok(())
    }

    /// Keeps the raw messages of fatal submission `id` as a root commit, tag `id`.
    pub(crate) async fn keep_raw(
        &self,
        git: &Git,
        id: &SubmissionId,
        messages: &[(MessageId, Vec<u8>)],
    ) -> Result<(), GitError> {
        let mut entries = Vec::new();
        for (mid, bytes) in messages {
            let blob = self.blob(git, bytes.clone()).await?;
            entries.push(tree_entry("100644", "blob", &blob, &format!("{mid}.eml")));
        }
        let tree = self.mktree(git, entries.concat()).await?;
        let message = format!(
            "submission {id}: raw messages\n\nThe series had a fatal finding, so its messages \
             are kept as sent instead of applied commits.\n"
        );
        let commit = self.commit(git, &tree, None, &message).await?;
        self.set_tag(git, id, &commit).await
    }

    /// Keeps review `id` (its messages) on top of the reviewed submission's tag, tag `id`. If
    /// the reviewed tag is missing (a grading repository restored from an old backup), the
    /// review becomes a root commit rather than being lost.
    pub(crate) async fn keep_review(
        &self,
        git: &Git,
        id: &SubmissionId,
        reviewed: &SubmissionId,
        messages: &[(MessageId, Vec<u8>)],
    ) -> Result<(), GitError> {
        let mut review_entries = Vec::new();
        for (mid, bytes) in messages {
            let blob = self.blob(git, bytes.clone()).await?;
            review_entries.push(tree_entry("100644", "blob", &blob, &format!("{mid}.eml")));
        }
        let review_tree = self.mktree(git, review_entries.concat()).await?;
        let parent = self.resolve(git, reviewed).await?;
        let mut entries = match &parent {
            Some(commit) => self.top_level_entries(git, commit).await?,
            None => {
                tracing::warn!(review = %id, reviewed = %reviewed,
                    "reviewed submission has no tag in grading.git; keeping the review alone");
                Vec::new()
            }
        };
        entries.push(tree_entry("040000", "tree", &review_tree, REVIEW_DIR));
        let tree = self.mktree(git, entries.concat()).await?;
        let message = format!("review {id} of submission {reviewed}\n");
        let commit = self.commit(git, &tree, parent.as_deref(), &message).await?;
        self.set_tag(git, id, &commit).await
    }

    /// The commit tag `id` points at, if the tag exists.
    pub async fn resolve_tag(&self, id: &SubmissionId) -> Result<Option<String>, IntakeError> {
        let home = tempfile::tempdir().map_err(IntakeError::io(
            "create a temporary directory in",
            std::env::temp_dir(),
        ))?;
        let git = Git::new(
            home.path(),
            crate::git::Identity {
                name: "denis".into(),
                email: "denis@localhost".into(),
            },
            0,
            tokio::time::Instant::now() + std::time::Duration::from_secs(60),
        );
        Ok(self.resolve(&git, id).await?)
    }

    async fn resolve(&self, git: &Git, id: &SubmissionId) -> Result<Option<String>, GitError> {
        let out = git
            .cmd(&self.path, "rev-parse")
            .args(["-q", "--verify"])
            .arg(format!("{}^{{commit}}", Self::tag_ref(id)))
            .output()
            .await?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
    }

    /// The top-level entries of `commit`'s tree as `mktree -z` input, without any existing
    /// review directory (a review replaces it rather than nesting).
    async fn top_level_entries(&self, git: &Git, commit: &str) -> Result<Vec<Vec<u8>>, GitError> {
        let out = git
            .cmd(&self.path, "ls-tree")
            .arg("-z")
            .arg(format!("{commit}^{{tree}}"))
            .ok()
            .await?;
        Ok(out
            .split(|&b| b == 0)
            .filter(|e| !e.is_empty())
            .filter(|e| !e.ends_with(format!("\t{REVIEW_DIR}").as_bytes()))
            .map(|e| [e, b"\0"].concat())
            .collect())
    }

    async fn blob(&self, git: &Git, bytes: Vec<u8>) -> Result<String, GitError> {
        git.cmd(&self.path, "hash-object")
            .args(["-w", "--stdin"])
            .stdin(bytes)
            .line()
            .await
    }

    async fn mktree(&self, git: &Git, entries: Vec<u8>) -> Result<String, GitError> {
        git.cmd(&self.path, "mktree")
            .arg("-z")
            .stdin(entries)
            .line()
            .await
    }

    async fn commit(
        &self,
        git: &Git,
        tree: &str,
        parent: Option<&str>,
        message: &str,
    ) -> Result<String, GitError> {
        let mut cmd = git.cmd(&self.path, "commit-tree").arg(tree);
        if let Some(parent) = parent {
            cmd = cmd.arg("-p").arg(parent);
        }
        cmd.arg("-m").arg(message).line().await
    }

    async fn set_tag(&self, git: &Git, id: &SubmissionId, commit: &str) -> Result<(), GitError> {
        let update = || async {
            git.cmd(&self.path, "update-ref")
                .arg(Self::tag_ref(id))
                .arg(commit)
                .ok()
                .await
        };
        // As in `keep_series`: a concurrent intake may hold the ref's lock for the same value.
        if let Err(first) = update().await {
            tracing::debug!(submission = %id, error = %first, "retrying the tag update once");
            update().await?;
        }
        Ok(())
    }
}

/// One `mktree -z` line: `<mode> <type> <id>\t<name>\0`.
fn tree_entry(mode: &str, kind: &str, id: &str, name: &str) -> Vec<u8> {
    format!("{mode} {kind} {id}\t{name}\0").into_bytes()
}
