//! Running git on student input, safely: the one place that builds a git command line.
//!
//! Every run starts from an empty environment (`env_clear`) and gets back only `PATH`, a
//! private `HOME`, and settings that keep the user's and the system's configuration, hooks,
//! pagers, prompts and translations out: what a student sends must not be able to run code
//! through a hook or an inherited config, and git's messages must be in the C locale because
//! findings quote them. Commits denis makes get a fixed identity and date, so re-processing a
//! session recreates byte-identical commits (and the same tag).
//!
//! The settings go on the command line (`-c`, which beats every config file) and into the
//! private home's `.gitconfig`, which git reads as the global configuration: a push to a local
//! repository starts `git receive-pack` without the command line's settings, and only the file
//! keeps that one from running the target's hooks and detached background maintenance.
//!
//! Each run is bounded by the submission's deadline. git starts in a process group of its own,
//! so the helpers it starts (`git am` runs `mailsplit` and `apply`, a push runs `receive-pack`
//! and `pack-objects`) are in it too; when the deadline passes, or the run is abandoned, the
//! whole group is killed, the run fails with [`GitError::TimedOut`] and git is reaped. Arguments
//! never come from user input except through files and after `--`.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::error::GitError;

/// Configuration every git run gets, as `section.key=value`: on its command line, where it
/// beats every config file, and in the global configuration (see the module doc).
const SAFE_CONFIG: &[&str] = &[
    // Hooks in a repository (e.g. copied from a base) must never run.
    "core.hooksPath=/dev/null",
    "core.pager=cat",
    "core.fsmonitor=false",
    // Background maintenance detaches into a session of its own, where killing the run's
    // process group cannot reach it: it would outlive the run and escape its time limit. If a
    // repository's own config turns it back on, it must at least stay in the foreground.
    "gc.auto=0",
    "gc.autoDetach=false",
    "maintenance.auto=false",
    "maintenance.autoDetach=false",
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

    /// The global configuration file of this environment, in its private home.
    fn global_config(&self) -> PathBuf {
        self.home.join(".gitconfig")
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
            // Written before the run (see `GitCommand::output`).
            .env("GIT_CONFIG_GLOBAL", self.global_config())
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
            // Its own group (id = git's pid), so its helpers can be killed with it.
            .process_group(0)
            // Backs up `Running`'s group kill: tokio then reaps a git nobody waits for.
            .kill_on_drop(true);
        GitCommand {
            cmd,
            name: subcommand.to_string(),
            stdin: None,
            deadline: self.deadline,
            global_config: self.global_config(),
        }
    }
}

/// One git run being prepared.
pub(crate) struct GitCommand {
    cmd: Command,
    name: String,
    stdin: Option<Vec<u8>>,
    deadline: Instant,
    global_config: PathBuf,
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
    pub(crate) async fn output(self) -> Result<Output, GitError> {
        let name = self.name;
        write_global_config(&self.global_config)?;
        let mut cmd = self.cmd;
        let mut running = Running {
            child: cmd.spawn().map_err(|source| GitError::Spawn { source })?,
        };
        let result = tokio::time::timeout_at(self.deadline, running.finish(self.stdin)).await;
        match result {
            Ok(output) => output.map_err(|source| GitError::Io {
                command: name,
                source,
            }),
            Err(_) => {
                running.kill_group();
                // Reaped here rather than by tokio in the background, so that git is gone
                // when the caller learns it timed out. The error adds nothing: git is dead.
                let _ = running.child.wait().await;
                Err(GitError::TimedOut { command: name })
            }
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

/// A git run under way: git and everything it started, in the process group whose id is
/// git's pid. Dropped before git was reaped (the run was abandoned, or its I/O failed), it
/// kills the whole group.
struct Running {
    child: Child,
}

impl Running {
    /// Feeds `stdin`, collects standard output and error, then reaps git.
    async fn finish(&mut self, stdin: Option<Vec<u8>>) -> io::Result<Output> {
        let pipe = self.child.stdin.take();
        let feed = async {
            if let (Some(bytes), Some(mut pipe)) = (stdin, pipe) {
                // Written while git runs and reads; dropping the pipe sends EOF.
                pipe.write_all(&bytes).await?;
            }
            Ok(())
        };
        let ((), stdout, stderr) = tokio::try_join!(
            feed,
            read_all(self.child.stdout.take()),
            read_all(self.child.stderr.take()),
        )?;
        // Reaped only after its output has ended: until then git's pid, which is the group's
        // id, cannot be given to another process, so `kill_group` cannot hit a stranger.
        let status = self.child.wait().await?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    /// SIGKILLs git and every process of its group, unless git was reaped already.
    fn kill_group(&mut self) {
        // `id()` is `None` once tokio has reaped git. Before that its pid, and so the group id,
        // is still taken: the signal reaches git's own group, never a later process's.
        let Some(pid) = self.child.id() else {
            return;
        };
        // Also by pid: should git somehow not lead a group, a caller waiting for it must not
        // hang on it.
        let _ = self.child.start_kill();
        if let Ok(pgid) = libc::pid_t::try_from(pid) {
            // SAFETY: killpg only reads its two integer arguments. It can fail only if the
            // group is gone (ESRCH), which leaves nothing to do.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill_group();
    }
}

/// Everything `pipe` yields until EOF (nothing if the stream was not captured).
async fn read_all(pipe: Option<impl AsyncRead + Unpin>) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        pipe.read_to_end(&mut bytes).await?;
    }
    Ok(bytes)
}

/// [`SAFE_CONFIG`] in git's config file syntax.
fn global_config_text() -> String {
    let mut text = String::from("# Written by denis for the git it runs; see denis/src/git.rs.\n");
    for setting in SAFE_CONFIG {
        let (key, value) = setting.split_once('=').unwrap_or((setting, ""));
        let (section, name) = key.split_once('.').unwrap_or(("core", key));
        text.push_str(&format!("[{section}]\n\t{name} = {value}\n"));
    }
    text
}

/// Writes the global configuration to `path` unless it is there already. A home is used by
/// every run of its submission; the file is renamed into place so that a concurrent run never
/// reads half of it. (Plain blocking calls: one small file in a private directory.)
fn write_global_config(path: &Path) -> Result<(), GitError> {
    if path.is_file() {
        return Ok(());
    }
    let error = |source| GitError::Config {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(error)?;
    io::Write::write_all(&mut file, global_config_text().as_bytes()).map_err(error)?;
    file.persist(path).map_err(|e| error(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
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

    /// A FIFO at `path`: the handshake between a test and the script git runs.
    fn mkfifo(path: &Path) {
        let made = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(made.success());
    }

    /// A repository whose alias `linger FIFO` starts a grandchild that would outlive git (and
    /// holds git's output open), writes "<process group> <grandchild pid>" to FIFO, and waits.
    async fn repo_with_lingering_alias(g: &Git, dir: &Path) -> PathBuf {
        let repo = dir.join("repo");
        g.cmd(dir, "init").arg("-q").arg(&repo).ok().await.unwrap();
        let script = concat!(
            "!f() { sleep 1000 & ",
            r#"printf '%s %s\n' "$(cut -d' ' -f5 /proc/$$/stat)" "$!" > "$1"; "#,
            "wait; }; f",
        );
        g.cmd(&repo, "config")
            .args(["alias.linger", script])
            .ok()
            .await
            .unwrap();
        repo
    }

    /// Polls `run` (the alias) until its handshake on `fifo` arrives and returns the group id
    /// and the grandchild's pid, with `run` still under way. The FIFO is read off the runtime,
    /// and that blocking read also keeps paused time from jumping to the deadline before the
    /// handshake. If git ends first, the reader is released (a reader blocked for good would
    /// keep the test's runtime from shutting down) and the test fails; so it does if git does
    /// not have a process group of its own.
    async fn until_handshake<F>(run: Pin<&mut F>, fifo: &Path) -> (libc::pid_t, libc::pid_t)
    where
        F: Future<Output = Result<Output, GitError>>,
    {
        let path = fifo.to_path_buf();
        let handshake = tokio::task::spawn_blocking(move || std::fs::read_to_string(path));
        let line = tokio::select! {
            line = handshake => line.unwrap().unwrap(),
            out = run => {
                let _ = std::fs::write(fifo, "");
                panic!("the alias ended before its handshake: {out:?}");
            }
        };
        let mut ids = line.split_whitespace().map(|id| id.parse().unwrap());
        let (pgid, grandchild) = (ids.next().unwrap(), ids.next().unwrap());
        // SAFETY: getpgrp takes no arguments.
        if pgid == unsafe { libc::getpgrp() } {
            // SAFETY: kill only reads its integer arguments. (Its shell ends with it.)
            unsafe { libc::kill(grandchild, libc::SIGKILL) };
            panic!("git ran in the test's process group");
        }
        (pgid, grandchild)
    }

    /// The (process group, state) of `pid`, if it exists.
    fn group_and_state(pid: &str) -> Option<(libc::pid_t, char)> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name, in parentheses, may hold spaces; the fields after it do not.
        let mut fields = stat.get(stat.rfind(')')? + 2..)?.split(' ');
        let state = fields.next()?.chars().next()?;
        let group = fields.nth(1)?.parse().ok()?;
        Some((group, state))
    }

    /// The live processes of group `pgid` once every killed one has had the chance to die
    /// (SIGKILL is delivered when a process next runs). Zombies are dead: a killed grandchild
    /// waits there for whoever adopted it. Survivors are killed (so that a failing test leaves
    /// nothing behind) and returned.
    fn survivors(pgid: libc::pid_t) -> Vec<libc::pid_t> {
        let live = || -> Vec<libc::pid_t> {
            std::fs::read_dir("/proc")
                .unwrap()
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .filter_map(|pid| {
                    let (group, state) = group_and_state(&pid)?;
                    let alive = group == pgid && !matches!(state, 'Z' | 'X');
                    if alive { pid.parse().ok() } else { None }
                })
                .collect()
        };
        for _ in 0..3000 {
            if live().is_empty() {
                return Vec::new();
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let left = live();
        for &pid in &left {
            // SAFETY: kill only reads its integer arguments.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        left
    }

    #[tokio::test]
    async fn a_run_past_the_deadline_is_killed_with_every_process_it_started() {
        let tmp = tempfile::tempdir().unwrap();
        let mut g = git(tmp.path());
        let repo = repo_with_lingering_alias(&g, tmp.path()).await;
        let fifo = tmp.path().join("fifo");
        mkfifo(&fifo);
        // Paused time jumps to the deadline as soon as nothing else can happen: after the
        // handshake, with git and its grandchild running. (Paused only now: the setup's git
        // runs would time out too.)
        tokio::time::pause();
        g.deadline = Instant::now() + Duration::from_secs(3600);
        let mut run = Box::pin(g.cmd(&repo, "linger").arg(&fifo).output());
        let (pgid, grandchild) = until_handshake(run.as_mut(), &fifo).await;
        let err = run.await.unwrap_err();
        assert!(matches!(err, GitError::TimedOut { .. }), "{err}");
        let left = tokio::task::spawn_blocking(move || survivors(pgid))
            .await
            .unwrap();
        assert_eq!(
            left,
            Vec::<libc::pid_t>::new(),
            "grandchild {grandchild} too"
        );
    }

    #[tokio::test]
    async fn an_abandoned_run_is_killed_with_every_process_it_started() {
        let tmp = tempfile::tempdir().unwrap();
        let g = git(tmp.path());
        let repo = repo_with_lingering_alias(&g, tmp.path()).await;
        let fifo = tmp.path().join("fifo");
        mkfifo(&fifo);
        let mut run = Box::pin(g.cmd(&repo, "linger").arg(&fifo).output());
        let (pgid, grandchild) = until_handshake(run.as_mut(), &fifo).await;
        // Dropped unfinished, as when the intake task running it is aborted.
        drop(run);
        let left = tokio::task::spawn_blocking(move || survivors(pgid))
            .await
            .unwrap();
        assert_eq!(
            left,
            Vec::<libc::pid_t>::new(),
            "grandchild {grandchild} too"
        );
    }

    #[tokio::test]
    async fn a_push_runs_no_hook_of_the_receiving_repository() {
        let tmp = tempfile::tempdir().unwrap();
        let g = git(tmp.path());
        let target = tmp.path().join("target.git");
        g.cmd(tmp.path(), "init")
            .args(["-q", "--bare"])
            .arg(&target)
            .ok()
            .await
            .unwrap();
        // receive-pack does not get the command line's settings, only the config files.
        let marker = tmp.path().join("hook-ran");
        let hook = target.join("hooks/post-receive");
        let script = format!("#!/bin/sh\ntouch '{}'\n", marker.display());
        std::fs::write(&hook, script).unwrap();
        let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&hook, executable).unwrap();
        let work = tmp.path().join("work");
        g.cmd(tmp.path(), "init")
            .arg("-q")
            .arg(&work)
            .ok()
            .await
            .unwrap();
        g.cmd(&work, "commit")
            .args(["-q", "--allow-empty", "-m", "root"])
            .ok()
            .await
            .unwrap();
        g.cmd(&work, "push")
            .args(["-q", "--"])
            .arg(&target)
            .arg("HEAD:refs/tags/t")
            .ok()
            .await
            .unwrap();
        let tagged = g
            .cmd(&target, "rev-parse")
            .arg("refs/tags/t")
            .line()
            .await
            .unwrap();
        assert_eq!(tagged.len(), 40, "the push did not arrive");
        assert!(!marker.exists(), "the receiving repository's hook ran");
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
