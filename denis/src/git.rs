//! Running git on student input, safely: the one place that builds a git command line.
//!
//! Every run starts from an empty environment (`env_clear`) and gets back only `PATH`, a
//! private `HOME`, and settings that keep the user's and the system's configuration, hooks,
//! pagers, prompts and translations out: what a student sends must not be able to run code
//! through a hook or an inherited config, and git's messages must be in the C locale because
//! findings quote them. Commits denis makes get a fixed identity and date, so re-processing a
//! session recreates byte-identical commits (and the same tag).
//!
//! Each run is bounded by the submission's deadline: when it passes, the child is killed
//! (tokio's `kill_on_drop`) and the run fails with [`GitError::TimedOut`]. Arguments never come
//! from user input except through files and after `--`.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::time::Instant;

use crate::error::GitError;

/// Configuration every git run gets on its command line; `-c` beats every config file.
const SAFE_CONFIG: &[&str] = &[
    // Hooks in a repository (e.g. copied from a base) must never run.
    "core.hooksPath=/dev/null",
    "core.pager=cat",
    "core.fsmonitor=false",
    // Background maintenance would outlive the run and escape its time limit.
    "gc.auto=0",
    "maintenance.auto=false",
    "receive.autogc=false",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "init.defaultBranch=main",
    "advice.detachedHead=false",
];

/// The name and address of commits denis makes itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The name.
    pub name: String,
    /// The address.
    pub email: String,
}

/// A git environment: private home, search path, committer and time limit.
#[derive(Debug, Clone)]
pub(crate) struct Git {
    home: PathBuf,
    path_var: OsString,
    committer: Identity,
    /// Date of commits made by denis, in git's internal format (`<unix> +0000`).
    date: String,
    deadline: Instant,
}

impl Git {
    /// Git with `home` as `$HOME`, committing as `committer` at `unix_secs`, until `deadline`.
    pub(crate) fn new(home: &Path, committer: Identity, unix_secs: i64, deadline: Instant) -> Git {
        Git {
            home: home.to_path_buf(),
            // The caller's PATH finds git where the operator installed it; nothing else leaks.
            path_var: std::env::var_os("PATH")
                .unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin")),
            committer,
            date: format!("{unix_secs} +0000"),
            deadline,
        }
    }

    /// The same environment committing at another date.
    pub(crate) fn at(&self, unix_secs: i64) -> Git {
        Git {
            date: format!("{unix_secs} +0000"),
            ..self.clone()
        }
    }

    /// The same environment with a fresh time limit starting now: keeping the raw messages of
    /// a series whose checks ran out of time must not fail on the expired limit too.
    pub(crate) fn renewed(&self, limit: std::time::Duration) -> Git {
        Git {
            deadline: Instant::now() + limit,
            ..self.clone()
        }
    }

    /// A command `git <subcommand>` run in `dir` (`-C dir`).
    pub(crate) fn cmd(&self, dir: &Path, subcommand: &str) -> GitCommand {
        let mut cmd = Command::new("git");
        cmd.env_clear()
            .env("PATH", &self.path_var)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "/bin/false")
            .env("LC_ALL", "C")
            .env("GIT_AUTHOR_NAME", &self.committer.name)
            .env("GIT_AUTHOR_EMAIL", &self.committer.email)
            .env("GIT_AUTHOR_DATE", &self.date)
            .env("GIT_COMMITTER_NAME", &self.committer.name)
            .env("GIT_COMMITTER_EMAIL", &self.committer.email)
            .env("GIT_COMMITTER_DATE", &self.date)
            .arg("--no-pager")
            .arg("-C")
            .arg(dir);
        for setting in SAFE_CONFIG {
            cmd.arg("-c").arg(setting);
        }
        cmd.arg(subcommand)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        GitCommand {
            cmd,
            name: subcommand.to_string(),
            stdin: None,
            deadline: self.deadline,
        }
    }
}

/// One git run being prepared.
pub(crate) struct GitCommand {
    cmd: Command,
    name: String,
    stdin: Option<Vec<u8>>,
    deadline: Instant,
}

impl GitCommand {
    /// Adds an argument.
    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.cmd.arg(arg);
        self
    }

    /// Adds arguments.
    pub(crate) fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Feeds `bytes` to the command's standard input.
    pub(crate) fn stdin(mut self, bytes: Vec<u8>) -> Self {
        self.cmd.stdin(Stdio::piped());
        self.stdin = Some(bytes);
        self
    }

    /// Runs to completion (or the deadline) and returns its output, whatever its exit status.
    pub(crate) async fn output(mut self) -> Result<Output, GitError> {
        let name = self.name;
        let mut child = self
            .cmd
            .spawn()
            .map_err(|source| GitError::Spawn { source })?;
        let deadline = self.deadline;
        let io_error = |source| GitError::Io {
            command: name.clone(),
            source,
        };
        let run = async {
            if let (Some(bytes), Some(mut pipe)) = (self.stdin, child.stdin.take()) {
                // Written while git runs and reads; dropping the pipe sends EOF.
                pipe.write_all(&bytes).await.map_err(io_error)?;
            }
            child.wait_with_output().await.map_err(io_error)
        };
        // On timeout the future, and with it the child, is dropped: kill_on_drop kills it.
        match tokio::time::timeout_at(deadline, run).await {
            Ok(result) => result,
            Err(_) => Err(GitError::TimedOut {
                command: name.clone(),
            }),
        }
    }

    /// Runs and returns standard output, failing unless git exits successfully.
    pub(crate) async fn ok(self) -> Result<Vec<u8>, GitError> {
        let name = self.name.clone();
        let output = self.output().await?;
        if !output.status.success() {
            return Err(GitError::Failed {
                command: name,
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(output.stdout)
    }

    /// Like [`GitCommand::ok`], returning the first line of output (an object id, usually).
    pub(crate) async fn line(self) -> Result<String, GitError> {
        let out = self.ok().await?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn git(home: &Path) -> Git {
        Git::new(
            home,
            Identity {
                name: "denis".into(),
                email: "denis@example.org".into(),
            },
            946_684_800,
            Instant::now() + Duration::from_secs(30),
        )
    }

    #[tokio::test]
    async fn commits_made_twice_are_identical() {
        let tmp = tempfile::tempdir().unwrap();
        let mut ids = Vec::new();
        for name in ["a", "b"] {
            let repo = tmp.path().join(name);
            std::fs::create_dir(&repo).unwrap();
            let g = git(tmp.path());
            g.cmd(&repo, "init").arg("-q").ok().await.unwrap();
            g.cmd(&repo, "commit")
                .args(["-q", "--allow-empty", "-m", "root"])
                .ok()
                .await
                .unwrap();
            ids.push(g.cmd(&repo, "rev-parse").arg("HEAD").line().await.unwrap());
        }
        assert_eq!(ids[0], ids[1]);
        assert_eq!(ids[0].len(), 40);
    }

    #[tokio::test]
    async fn a_run_past_the_deadline_is_killed_and_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let mut g = git(tmp.path());
        g.deadline = Instant::now() + Duration::from_millis(200);
        // Opening a FIFO nobody writes to blocks git until it is killed.
        let fifo = tmp.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = g
            .cmd(tmp.path(), "hash-object")
            .arg(&fifo)
            .output()
            .await
            .unwrap_err();
        assert!(matches!(err, GitError::TimedOut { .. }), "{err}");
    }

    #[tokio::test]
    async fn failures_carry_git_s_message_in_the_c_locale() {
        let tmp = tempfile::tempdir().unwrap();
        let err = git(tmp.path())
            .cmd(tmp.path(), "rev-parse")
            .arg("HEAD")
            .ok()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not a git repository"), "{err}");
    }
}
