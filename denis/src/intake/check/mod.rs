//! Patchset checks (SPEC §8 steps 1–5) in a fresh temporary repository with `git am --keep`.
//!
//! 1. The first message must be a cover letter (no diff), else `missing cover letter` (fatal).
//!    Without one, every message is taken as a patch, so the student still learns what else
//!    is wrong.
//! 2. Each patch may only touch paths under `<username>/` (as git itself lists them with
//!    `git apply --numstat -z`), else fatal, naming the path.
//! 3. Each patch must apply, else fatal, naming the patch; later patches are not tried.
//! 4. A patch is first applied with `--whitespace=error-all`; if only that fails, it is applied
//!    without, and the whitespace errors become one warning naming the patches. A patch that
//!    only creates one `.patch` file is judged on applying alone (see
//!    [`rules::creates_single_patch_file`]); the path rule and the mail checks still apply.
//! 5. `Signed-off-by: Full Name <user@HOST>` on every patch and the subject tag of every
//!    message (warnings).
//!
//! Passed checks are reported as `ok` findings, so a student sees what was checked.

pub mod rules;
pub(crate) mod workspace;

use std::path::{Path, PathBuf};

use journal::Username;

use crate::error::GitError;
use crate::intake::message::{StoredMessage, mailbox_for_am};
use crate::model::{Check, Component, Finding};
use rules::{SubjectTag, excerpt, has_diff, is_owned_path, list_numbers, numstat_paths};
use workspace::Workspace;

/// What a series is checked against.
#[derive(Debug, Clone)]
pub struct Series<'a> {
    /// The sender, whose directory patches may touch.
    pub user: &'a Username,
    /// `Full Name <user@HOST>`: the commit author and the expected sign-off.
    pub identity: &'a str,
    /// `initial` (tags say `RFC PATCH`) or `final` (`PATCH`).
    pub component: Component,
    /// `N` of `vN`: this student's patchsets to the assignment so far, this one included.
    pub version: u32,
    /// The session's messages, in order.
    pub messages: &'a [StoredMessage],
}

/// Outcome of the git part of the checks.
#[derive(Debug)]
pub(crate) struct Checked {
    /// Every finding, in SPEC order.
    pub findings: Vec<Finding>,
    /// The repository whose `HEAD` holds the applied series (when every patch applied).
    pub repo: Option<PathBuf>,
}

/// Runs every check of `series` in `ws`, starting from `base` (see [`workspace`]).
///
/// Running out of time is a fatal finding, not an error: a series that takes git minutes to
/// apply is the student's to fix. Other git failures (git missing, disk full) are errors, and
/// the session is retried later.
pub(crate) async fn check_series(
    ws: &Workspace,
    base: Option<&Path>,
    series: &Series<'_>,
) -> Result<Checked, GitError> {
    let mut findings = Vec::new();
    let Some(first) = series.messages.first() else {
        findings.push(Finding::fatal("the session holds no message").of(Check::Series));
        return Ok(Checked {
            findings,
            repo: None,
        });
    };
    let has_cover = !has_diff(&first.body());
    if !has_cover {
        findings.push(
            Finding::fatal(format!(
                "missing cover letter: the first message ({}) contains a diff; send the series \
                 with `git format-patch --cover-letter`",
                subject_excerpt(first)
            ))
            .of(Check::CoverLetter),
        );
    } else if rules::is_unfilled_cover_letter(first.subject.as_deref(), &first.body()) {
        findings.push(
            Finding::warning(
                "the cover letter is still git format-patch's template (`*** SUBJECT HERE ***`, \
                 `*** BLURB HERE ***`): give it a subject and say what the series does and why",
            )
            .of(Check::CoverLetter),
        );
    } else {
        findings.push(Finding::ok("cover letter present").of(Check::CoverLetter));
    }
    let patches = &series.messages[usize::from(has_cover)..];
    if patches.is_empty() {
        findings.push(
            Finding::fatal("the series has no patches: only a cover letter was sent")
                .of(Check::Series),
        );
        return Ok(Checked {
            findings,
            repo: None,
        });
    }
    let applied = match apply_all(ws, base, series, patches).await {
        Ok(applied) => applied,
        Err(GitError::TimedOut { command }) => {
            findings.push(
                Finding::fatal(format!(
                    "the checks did not finish in time (`git {command}` was stopped); make the \
                     series smaller"
                ))
                .of(Check::Series),
            );
            return Ok(Checked {
                findings,
                repo: None,
            });
        }
        Err(e) => return Err(e),
    };
    findings.extend(applied.findings);
    findings.extend(mail_findings(series, has_cover, patches));
    Ok(Checked {
        findings,
        repo: applied.repo,
    })
}

/// Steps 2–4, which need git.
async fn apply_all(
    ws: &Workspace,
    base: Option<&Path>,
    series: &Series<'_>,
    patches: &[StoredMessage],
) -> Result<Checked, GitError> {
    let (repo, base_commits) = ws.init_repo(base).await?;
    let mut files = Vec::with_capacity(patches.len());
    for (i, patch) in patches.iter().enumerate() {
        let file = ws.path(&format!("{:04}.eml", i + 1));
        let mailbox = mailbox_for_am(&patch.content, series.identity);
        tokio::fs::write(&file, &mailbox)
            .await
            .map_err(|source| GitError::Io {
                command: "am (writing the patch)".into(),
                source,
            })?;
        files.push(file);
    }
    let base_head = ws
        .git()
        .cmd(&repo, "rev-parse")
        .args(["--verify", "HEAD"])
        .line()
        .await?;
    let mut path_findings = check_paths(ws, &repo, series.user, &files).await?;
    let applied = apply_series(ws, &repo, base_commits, patches, &files).await?;
    if path_findings.is_empty() {
        path_findings = check_applied_paths(ws, &repo, &base_head, series.user).await?;
    }

    let mut findings = Vec::new();
    if path_findings.is_empty() {
        findings.push(
            Finding::ok(format!(
                "every patch only touches files under {}/",
                series.user
            ))
            .of(Check::OwnDirectory),
        );
    }
    findings.extend(path_findings.into_iter().map(|f| f.of(Check::OwnDirectory)));
    match &applied.failure {
        Some(message) => findings.push(Finding::fatal(message.clone()).of(Check::Applies)),
        None => findings.push(
            Finding::ok(match patches.len() {
                1 => "the patch applies".to_string(),
                n => format!("all {n} patches apply"),
            })
            .of(Check::Applies),
        ),
    }
    let ws_count = applied.whitespace.len();
    if ws_count > 0 {
        findings.push(
            Finding::warning(format!(
                "whitespace errors in patch{} {} (`git am --whitespace=error-all` rejects {}; \
                 `git diff --check` shows them)",
                if ws_count == 1 { "" } else { "es" },
                list_numbers(&applied.whitespace),
                if ws_count == 1 { "it" } else { "them" },
            ))
            .of(Check::Whitespace),
        );
    } else if applied.failure.is_none() {
        findings.push(Finding::ok("no whitespace errors").of(Check::Whitespace));
    }
    Ok(Checked {
        findings,
        repo: applied.failure.is_none().then_some(repo),
    })
}

/// Step 2: a fatal finding per path outside `<user>/`. One `git apply --numstat` over the
/// whole series in the common case; per patch only to name the offending patches.
async fn check_paths(
    ws: &Workspace,
    repo: &Path,
    user: &Username,
    files: &[PathBuf],
) -> Result<Vec<Finding>, GitError> {
    if let Some(paths) = touched_paths(ws, repo, files).await?
        && paths.iter().all(|p| is_owned_path(user, p))
    {
        return Ok(Vec::new());
    }
    let mut findings = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let paths = touched_paths(ws, repo, std::slice::from_ref(file))
            .await?
            .unwrap_or_default();
        for path in paths.iter().filter(|p| !is_owned_path(user, p)) {
            findings.push(Finding::fatal(format!(
                "patch {} touches {}, outside your directory {user}/",
                i + 1,
                String::from_utf8_lossy(path).escape_debug(),
            )));
        }
    }
    Ok(findings)
}

/// Step 2 again, on what was really committed. `git apply --numstat` reads the mail as it is,
/// but `git am` first decodes the body (quoted-printable, base64), so an encoded diff could touch
/// files the raw text does not show. The applied commits are the truth.
async fn check_applied_paths(
    ws: &Workspace,
    repo: &Path,
    base_head: &str,
    user: &Username,
) -> Result<Vec<Finding>, GitError> {
    let changed = ws
        .git()
        .cmd(repo, "diff")
        .args(["--name-only", "-z", "--no-renames", base_head, "HEAD", "--"])
        .ok()
        .await?;
    Ok(changed
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty() && !is_owned_path(user, p))
        .map(|path| {
            Finding::fatal(format!(
                "the applied patches change {}, outside your directory {user}/",
                String::from_utf8_lossy(path).escape_debug(),
            ))
        })
        .collect())
}

/// The paths the patches in `files` touch, as git parses them; `None` if git cannot parse
/// them (such a patch does not apply either, which step 3 reports).
async fn touched_paths(
    ws: &Workspace,
    repo: &Path,
    files: &[PathBuf],
) -> Result<Option<Vec<Vec<u8>>>, GitError> {
    let out = ws
        .git()
        .cmd(repo, "apply")
        .args(["--numstat", "-z", "--"])
        .args(files)
        .output()
        .await?;
    if !out.status.success() {
        tracing::debug!(stderr = %String::from_utf8_lossy(&out.stderr), "numstat failed");
        return Ok(None);
    }
    Ok(Some(numstat_paths(&out.stdout)))
}

/// What applying the series found.
struct Applied {
    /// The fatal apply message, if a patch did not apply.
    failure: Option<String>,
    /// Patches (1-based) that only apply without `--whitespace=error-all`.
    whitespace: Vec<usize>,
}

/// Steps 3 and 4. Runs of patches are applied by one `git am --whitespace=error-all` each
/// (one process for a clean series); where a run stops, that patch is retried alone without
/// the whitespace check to tell a whitespace error from a patch that does not apply.
async fn apply_series(
    ws: &Workspace,
    repo: &Path,
    base_commits: u64,
    patches: &[StoredMessage],
    files: &[PathBuf],
) -> Result<Applied, GitError> {
    let mut applied = Applied {
        failure: None,
        whitespace: Vec::new(),
    };
    let bodies: Vec<_> = patches.iter().map(|p| p.body()).collect();
    // A patch creating only a `.patch` file is judged on applying alone.
    let strict: Vec<bool> = bodies
        .iter()
        .map(|b| !rules::creates_single_patch_file(b))
        .collect();
    let mut next = 0;
    let mut commits = base_commits;
    while next < patches.len() {
        if !has_diff(&bodies[next]) {
            applied.failure = Some(not_applied(next, patches.len(), "it contains no diff"));
            break;
        }
        if strict[next] {
            let end = (next..patches.len())
                .find(|&i| !strict[i] || !has_diff(&bodies[i]))
                .unwrap_or(patches.len());
            if am(ws, repo, &files[next..end], true).await?.is_none() {
                commits += (end - next) as u64;
                next = end;
                continue;
            }
            // The run stopped at the first patch it could not apply strictly.
            let now = commit_count(ws, repo).await?;
            next += usize::try_from(now.saturating_sub(commits)).unwrap_or(0);
            commits = now;
            if next >= end {
                continue;
            }
        }
        match am(ws, repo, &files[next..=next], false).await? {
            None => {
                if strict[next] {
                    applied.whitespace.push(next + 1);
                }
                commits += 1;
                next += 1;
            }
            Some(error) => {
                applied.failure = Some(not_applied(next, patches.len(), &error));
                break;
            }
        }
    }
    Ok(applied)
}

/// The fatal message for patch index `index` (0-based) of `total`.
fn not_applied(index: usize, total: usize, reason: &str) -> String {
    let untried = total - index - 1;
    let mut message = format!("patch {} does not apply: {reason}", index + 1);
    if untried > 0 {
        message.push_str(&format!(
            " (the {untried} patch{} after it {} not tried)",
            if untried == 1 { "" } else { "es" },
            if untried == 1 { "was" } else { "were" },
        ));
    }
    message
}

async fn commit_count(ws: &Workspace, repo: &Path) -> Result<u64, GitError> {
    let count = ws
        .git()
        .cmd(repo, "rev-list")
        .args(["--count", "HEAD"])
        .line()
        .await?;
    Ok(count.parse().unwrap_or(0))
}

/// Applies `files` in order with `git am --keep`; `None` when all applied, else git's error.
/// On failure the commits of the patches that did apply stay, and the am session is closed
/// (`--quit`; `git apply` is atomic, so the tree is clean at `HEAD`).
async fn am(
    ws: &Workspace,
    repo: &Path,
    files: &[PathBuf],
    strict_whitespace: bool,
) -> Result<Option<String>, GitError> {
    let whitespace = if strict_whitespace {
        "--whitespace=error-all"
    } else {
        "--whitespace=nowarn"
    };
    let out = ws
        .git()
        .cmd(repo, "am")
        .args(["--keep", "--quiet", "--no-3way", whitespace, "--"])
        .args(files)
        .output()
        .await?;
    if out.status.success() {
        return Ok(None);
    }
    ws.git().cmd(repo, "am").arg("--quit").ok().await?;
    Ok(Some(am_error(&String::from_utf8_lossy(&out.stderr))))
}

/// git's own reason, without its advice: the `error:` lines, or the first line.
fn am_error(stderr: &str) -> String {
    let errors: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("error: "))
        .take(3)
        .collect();
    if errors.is_empty() {
        excerpt(stderr.trim())
    } else {
        errors
            .iter()
            .map(|e| excerpt(e))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Step 5: sign-offs and subject tags, from the mail alone.
fn mail_findings(series: &Series<'_>, has_cover: bool, patches: &[StoredMessage]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let sign_offs: Vec<Finding> = patches
        .iter()
        .enumerate()
        .filter_map(|(i, p)| rules::check_sign_off(i + 1, &p.body(), series.identity))
        .map(|f| f.of(Check::SignOff))
        .collect();
    if sign_offs.is_empty() {
        findings.push(
            Finding::ok(format!("every patch is signed off by {}", series.identity))
                .of(Check::SignOff),
        );
    }
    findings.extend(sign_offs);
    let total = u32::try_from(patches.len()).unwrap_or(u32::MAX);
    let first_index = u32::from(!has_cover);
    let tags: Vec<Finding> = series
        .messages
        .iter()
        .zip(first_index..)
        .enumerate()
        .filter_map(|(k, (m, index))| {
            let expected = SubjectTag::expected(series.component, series.version, index, total);
            rules::check_subject(k + 1, m.subject.as_deref(), expected)
        })
        .map(|f| f.of(Check::SubjectTags))
        .collect();
    if tags.is_empty() {
        findings.push(
            Finding::ok(format!(
                "subject tags are correct ({})",
                SubjectTag::expected(series.component, series.version, first_index, total)
            ))
            .of(Check::SubjectTags),
        );
    }
    findings.extend(tags);
    findings
}

fn subject_excerpt(m: &StoredMessage) -> String {
    match &m.subject {
        Some(s) => format!("\"{}\"", excerpt(s)),
        None => "without a subject".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn am_error_keeps_git_s_reason_and_drops_the_advice() {
        let stderr = "error: patch failed: alice/a:1\nerror: alice/a: patch does not apply\n\
            Patch failed at 0001 Add a\nhint: Use 'git am --show-current-patch=diff'\n";
        assert_eq!(
            am_error(stderr),
            "patch failed: alice/a:1; alice/a: patch does not apply"
        );
        assert_eq!(am_error("Patch is empty.\n"), "Patch is empty.");
    }
}
