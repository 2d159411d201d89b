//! Intake end to end on a real data root: stored messages and session records as smtp writes
//! them, series from `git format-patch --cover-letter`, checks with `git am`, records in
//! `course.db`, tags in `grading.git`, releases into the journal.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use denis::{
    Component, Filter, Finding, Gradeable, Intake, Kind, ReviewSlot, Severity, Status, Submission,
};
use journal::SubmissionId;
use tokio_util::sync::CancellationToken;

/// Everything recorded about one session.
struct Outcome {
    submission: Submission,
    findings: Vec<Finding>,
    gradeable: Option<Gradeable>,
}

impl Outcome {
    fn load(course: &Course, sid: &SubmissionId) -> Outcome {
        Outcome {
            submission: course
                .db
                .submission(sid)
                .unwrap()
                .expect("session recorded"),
            findings: course.db.findings(sid).unwrap(),
            gradeable: course.db.gradeable(sid).unwrap(),
        }
    }

    fn severity(&self) -> Severity {
        self.gradeable.as_ref().expect("a gradeable").severity
    }

    /// The messages of the findings with `severity`.
    fn with(&self, severity: Severity) -> Vec<&str> {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .map(|f| f.message.as_str())
            .collect()
    }

    fn assert_finding(&self, severity: Severity, needle: &str) {
        assert!(
            self.with(severity).iter().any(|m| m.contains(needle)),
            "no {severity} finding containing {needle:?} in {:#?}",
            self.findings
        );
    }
}

async fn process(course: &Course) -> Intake {
    let intake = course.intake().await;
    let report = intake.process_all_pending().await.unwrap();
    assert_eq!(report.failed, 0, "{report:?}");
    intake
}

/// `git log` of a tag in grading.git: `author<TAB>subject` per commit, newest first.
fn grading_log(course: &Course, sid: &SubmissionId) -> Vec<String> {
    let out = Command::new("git")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .arg("--git-dir")
        .arg(course.root.grading_repo())
        .args(["log", "--format=%an%x09%s"])
        .arg(format!("refs/tags/{sid}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// `git cat-file -p` of tag `sid` in grading.git, and the type of the object it names.
fn grading_tag(course: &Course, sid: &SubmissionId) -> (String, String) {
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .arg("--git-dir")
            .arg(course.root.grading_repo())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let name = format!("refs/tags/{sid}");
    (
        git(&["cat-file", "-t", &name]).trim().to_string(),
        git(&["cat-file", "-p", &name]),
    )
}

fn grading_files(course: &Course, sid: &SubmissionId) -> Vec<String> {
    let out = Command::new("git")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .arg("--git-dir")
        .arg(course.root.grading_repo())
        .args(["ls-tree", "-r", "--name-only"])
        .arg(format!("refs/tags/{sid}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn send_series(
    course: &Course,
    user: &str,
    at: i64,
    prefix: &str,
    patches: &[Patch],
) -> SubmissionId {
    let series = format_series(&course.scratch("student"), prefix, &[], patches);
    course.send(user, at, "hw1", None, &series).0
}

#[tokio::test]
async fn good_series_is_accepted_with_only_ok_findings_and_kept_as_commits() {
    let course = Course::new();
    let sid = send_series(
        &course,
        "alice",
        EARLY,
        "RFC PATCH v1",
        &good_patches("alice"),
    );
    process(&course).await;
    let o = Outcome::load(&course, &sid);
    assert_eq!(o.submission.kind, Kind::Patchset);
    assert_eq!(o.submission.status, Status::Accepted);
    assert_eq!(o.submission.component, Some(Component::Initial));
    assert_eq!(o.submission.message_count, 4);
    assert_eq!(o.severity(), Severity::Ok, "{:#?}", o.findings);
    assert!(o.with(Severity::Warning).is_empty() && o.with(Severity::Fatal).is_empty());
    o.assert_finding(Severity::Ok, "cover letter present");
    // The tag in grading.git is annotated with the findings: `git show TAG` tells everything.
    let (kind, tag) = grading_tag(&course, &sid);
    assert_eq!(kind, "tag", "an annotated tag");
    assert!(tag.contains(&format!("submission {sid} by alice")), "{tag}");
    assert!(tag.contains("ok: cover letter present"), "{tag}");
    o.assert_finding(Severity::Ok, "all 3 patches apply");
    o.assert_finding(Severity::Ok, "[RFC PATCH v1 0/3]");
    let log = grading_log(&course, &sid);
    assert_eq!(log.len(), 4, "three patches on the root: {log:?}");
    assert_eq!(
        log[0],
        "Alice Liddell\t[RFC PATCH v1 3/3] Change alice/file3.c"
    );
    assert!(log[3].contains("coursemail: empty base"), "{log:?}");
}

#[tokio::test]
async fn series_without_cover_letter_is_fatal_and_kept_raw() {
    let course = Course::new();
    let series = format_series(
        &course.scratch("s"),
        "RFC PATCH v1",
        &[],
        &good_patches("alice"),
    );
    let (sid, ids) = course.send("alice", EARLY, "hw1", None, &series[1..]);
    process(&course).await;
    let o = Outcome::load(&course, &sid);
    assert_eq!(o.severity(), Severity::Fatal);
    assert_eq!(o.with(Severity::Fatal).len(), 1, "{:#?}", o.findings);
    o.assert_finding(Severity::Fatal, "missing cover letter");
    o.assert_finding(Severity::Ok, "all 3 patches apply");
    let files = grading_files(&course, &sid);
    let expected: Vec<String> = ids.iter().map(|id| format!("{id}.eml")).collect();
    assert_eq!(files, expected);
}

#[tokio::test]
async fn no_cover_letter_and_a_failing_first_patch_report_both() {
    let course = Course::new();
    let mut patches = good_patches("alice");
    patches[0] = Patch::new("alice/old.c", "changed\n", &signer("alice"));
    // old.c exists in the student's repository only, so patch 1 cannot apply to the base.
    let series = format_series(
        &course.scratch("s"),
        "RFC PATCH v1",
        &[("alice/old.c", "original\n")],
        &patches,
    );
    let (sid, _) = course.send("alice", EARLY, "hw1", None, &series[1..]);
    process(&course).await;
    let o = Outcome::load(&course, &sid);
    o.assert_finding(Severity::Fatal, "missing cover letter");
    o.assert_finding(Severity::Fatal, "patch 1 does not apply");
    o.assert_finding(Severity::Fatal, "the 2 patches after it were not tried");
    assert_eq!(o.with(Severity::Fatal).len(), 2);
}

#[tokio::test]
async fn middle_patch_that_does_not_apply_is_fatal_naming_it() {
    let course = Course::new();
    let mut patches = good_patches("alice");
    patches[1] = Patch::new("alice/old.c", "changed\n", &signer("alice"));
    let series = format_series(
        &course.scratch("s"),
        "RFC PATCH v1",
        &[("alice/old.c", "original\n")],
        &patches,
    );
    let (sid, _) = course.send("alice", EARLY, "hw1", None, &series);
    process(&course).await;
    let o = Outcome::load(&course, &sid);
    assert_eq!(o.severity(), Severity::Fatal);
    let fatal = o.with(Severity::Fatal);
    assert_eq!(fatal.len(), 1, "{fatal:?}");
    assert!(
        fatal[0].starts_with("patch 2 does not apply: "),
        "{fatal:?}"
    );
    assert!(
        fatal[0].contains("alice/old.c"),
        "git's reason names the file: {fatal:?}"
    );
    assert!(
        fatal[0].contains("the 1 patch after it was not tried"),
        "{fatal:?}"
    );
    // Fatal: the raw messages are kept, not the two commits that did apply.
    assert_eq!(grading_files(&course, &sid).len(), 4);
}

#[tokio::test]
async fn whitespace_error_in_one_patch_is_a_warning_naming_it() {
    let course = Course::new();
    let mut patches = good_patches("alice");
    patches[1] = Patch::new("alice/ws.c", "int x; \n", &signer("alice"));
    let sid = send_series(&course, "alice", EARLY, "RFC PATCH v1", &patches);
    process(&course).await;
    let o = Outcome::load(&course, &sid);
    assert_eq!(o.severity(), Severity::Warning);
    assert_eq!(
        o.with(Severity::Warning),
        [
            "whitespace errors in patch 2 (`git am --whitespace=error-all` rejects it; `git diff --check` shows them)"
        ]
    );
    o.assert_finding(Severity::Ok, "all 3 patches apply");
    assert_eq!(
        grading_log(&course, &sid).len(),
        4,
        "warnings keep the commits"
    );
}

#[tokio::test]
async fn whitespace_errors_in_two_patches_are_named_in_one_warning() {
    let course = Course::new();
    let mut patches = good_patches("alice");
    patches[0] = Patch::new("alice/a.c", "int a;\t\n", &signer("alice"));
    patches[2] = Patch::new("alice/c.c", "int c;  \n", &signer("alice"));
    let sid = send_series(&course, "alice", EARLY, "RFC PATCH v1", &patches);
    process(&course).await;
    let o = Outcome::load(&course, &sid);
    let warnings = o.with(Severity::Warning);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("whitespace errors in patches 1 and 3"),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn path_outside_the_user_directory_is_fatal_naming_it() {
    let course = Course::new();
    let mut patches = good_patches("alice");
    patches[2] = Patch::new("bob/steal.c", "int s;\n", &signer("alice"));
    let sid = send_series(&course, "alice", EARLY, "RFC PATCH v1", &patches);
    process(&course).await;
    let o = Outcome::load(&course, &sid);
    assert_eq!(o.severity(), Severity::Fatal);
    assert_eq!(
        o.with(Severity::Fatal),
        ["patch 3 touches bob/steal.c, outside your directory alice/"]
    );
}

#[tokio::test]
async fn an_encoded_diff_cannot_hide_a_path_outside_the_user_directory() {
    let course = Course::new();
    let mut patches = good_patches("alice");
    // An honest change of alice's own file, plus one of bob's whose diff lines are encoded.
    patches[1]
        .files
        .push(("bob/steal.c".to_string(), "int s;\n".to_string()));
    let mut series = format_series(&course.scratch("student"), "RFC PATCH v1", &[], &patches);
    // `git am` decodes the body before applying; the raw text only shows alice's file.
    series[2] = quoted_printable_diff(&series[2], "diff --git a/bob/");
    let sid = course.send("alice", EARLY, "hw1", None, &series).0;
    process(&course).await;
    let o = Outcome::load(&course, &sid);
    assert_eq!(o.severity(), Severity::Fatal, "{:#?}", o.findings);
    assert!(
        o.with(Severity::Fatal)
            .iter()
            .any(|f| f.contains("bob/steal.c")),
        "{:#?}",
        o.findings
    );
}

/// `mail` as quoted-printable, with the first character of the diff lines from the line
/// starting with `from` on encoded, as a mail client may send them; decoding gives back the
/// same patch.
fn quoted_printable_diff(mail: &[u8], from: &str) -> Vec<u8> {
    let text = String::from_utf8(mail.to_vec()).unwrap();
    let (header, body) = text.split_once("\n\n").unwrap();
    let mut encoded = String::new();
    let mut encoding = false;
    for line in body.lines() {
        encoding |= line.starts_with(from);
        let code = if !encoding {
            None
        } else if line.starts_with("diff ") {
            Some("=64")
        } else if line.starts_with("---") {
            Some("=2D")
        } else if line.starts_with("+++") {
            Some("=2B")
        } else if line.starts_with("@@") {
            Some("=40")
        } else {
            None
        };
        match code {
            Some(code) => encoded.push_str(&format!("{code}{}\n", &line[1..])),
            None => encoded.push_str(&format!("{line}\n")),
        }
    }
    format!(
        "{header}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n\
         Content-Transfer-Encoding: quoted-printable\n\n{encoded}"
    )
    .into_bytes()
}

#[tokio::test]
async fn patch_adding_a_patch_file_is_judged_on_applying_alone() {
    let course = Course::new();
    // A patch as content: its blank context line becomes `+ ` (trailing whitespace), and its
    // paths are not alice's. Neither may count against the outer patch.
    let inner = "diff --git a/src/main.c b/src/main.c\n--- a/src/main.c\n+++ b/src/main.c\n\
        @@ -1,3 +1,3 @@\n int main(void)\n \n-\treturn 1;\n+\treturn 0;\n";
    let mut patches = good_patches("alice");
    patches[1] = Patch::new("alice/fix.patch", inner, &signer("alice"));
    let sid = send_series(&course, "alice", EARLY, "RFC PATCH v1", &patches);
    process(&course).await;
    let o = Outcome::load(&course, &sid);
    assert_eq!(o.severity(), Severity::Ok, "{:#?}", o.findings);
    o.assert_finding(Severity::Ok, "no whitespace errors");
    let files = grading_files(&course, &sid);
    assert!(files.contains(&"alice/fix.patch".to_string()), "{files:?}");
}

#[tokio::test]
async fn missing_sign_off_is_a_warning_naming_the_patch() {
    let course = Course::new();
    let mut patches = good_patches("alice");
    patches[0].sign_off = None;
    let sid = send_series(&course, "alice", EARLY, "RFC PATCH v1", &patches);
    process(&course).await;
    let o = Outcome::load(&course, &sid);
    assert_eq!(o.severity(), Severity::Warning);
    assert_eq!(
        o.with(Severity::Warning),
        [
            "patch 1 has no Signed-off-by line; add `Signed-off-by: Alice Liddell <alice@course.test>` (git commit -s)"
        ]
    );
}

#[tokio::test]
async fn sign_off_with_the_wrong_name_is_a_warning_quoting_it() {
    let course = Course::new();
    let mut patches = good_patches("alice");
    patches[2].sign_off = Some("Alice L <alice@course.test>".into());
    let sid = send_series(&course, "alice", EARLY, "RFC PATCH v1", &patches);
    process(&course).await;
    let o = Outcome::load(&course, &sid);
    assert_eq!(o.with(Severity::Warning).len(), 1);
    o.assert_finding(
        Severity::Warning,
        "patch 3 is signed off by `Alice L <alice@course.test>`, expected `Alice Liddell <alice@course.test>`",
    );
}

/// git format-patch's template left as it is passed as "cover letter present"; it is a
/// warning now, and the summary a student sees names the check without its details.
#[tokio::test]
async fn an_unfilled_cover_letter_is_a_named_warning() {
    let course = Course::new();
    let series = format_series_unfilled(
        &course.scratch("student"),
        "RFC PATCH v1",
        &good_patches("alice"),
    );
    let sid = course.send("alice", EARLY, "hw1", None, &series).0;
    process(&course).await;
    let o = Outcome::load(&course, &sid);
    assert_eq!(o.severity(), Severity::Warning, "{:#?}", o.findings);
    let warnings = o.with(Severity::Warning);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("*** SUBJECT HERE ***"), "{warnings:?}");
    let stored = course.db.findings(&sid).unwrap();
    assert_eq!(
        denis::summarize(&stored),
        "1 check failed: cover letter (warning)"
    );
}

#[tokio::test]
async fn initial_series_without_rfc_tag_gets_a_warning_per_message() {
    let course = Course::new();
    let sid = send_series(&course, "alice", EARLY, "PATCH v1", &good_patches("alice"));
    process(&course).await;
    let o = Outcome::load(&course, &sid);
    assert_eq!(o.severity(), Severity::Warning);
    let warnings = o.with(Severity::Warning);
    assert_eq!(
        warnings.len(),
        4,
        "cover letter and three patches: {warnings:?}"
    );
    assert_eq!(
        warnings[0],
        "message 1: subject tag is `[PATCH v1 0/3]`, expected `[RFC PATCH v1 0/3]`"
    );
}

#[tokio::test]
async fn second_series_must_carry_version_two() {
    let course = Course::new();
    let first = send_series(
        &course,
        "alice",
        EARLY,
        "RFC PATCH v1",
        &good_patches("alice"),
    );
    let second = send_series(
        &course,
        "alice",
        EARLY + 10,
        "RFC PATCH v1",
        &good_patches("alice"),
    );
    let third = send_series(
        &course,
        "alice",
        EARLY + 20,
        "RFC PATCH v3",
        &good_patches("alice"),
    );
    process(&course).await;
    assert_eq!(Outcome::load(&course, &first).severity(), Severity::Ok);
    let o = Outcome::load(&course, &second);
    o.assert_finding(
        Severity::Warning,
        "message 2: subject tag is `[RFC PATCH v1 1/3]`, expected `[RFC PATCH v2 1/3]`",
    );
    assert_eq!(Outcome::load(&course, &third).severity(), Severity::Ok);
}

#[tokio::test]
async fn series_between_initial_and_final_deadline_is_a_final() {
    let course = Course::new();
    let sid = send_series(
        &course,
        "alice",
        INITIAL + 5,
        "PATCH v1",
        &good_patches("alice"),
    );
    process(&course).await;
    let o = Outcome::load(&course, &sid);
    assert_eq!(o.submission.component, Some(Component::Final));
    assert_eq!(o.severity(), Severity::Ok, "{:#?}", o.findings);
}

#[tokio::test]
async fn series_after_the_final_deadline_is_past_due_without_gradeable() {
    let course = Course::new();
    let sid = send_series(&course, "alice", FINAL, "PATCH v1", &good_patches("alice"));
    let intake = process(&course).await;
    let o = Outcome::load(&course, &sid);
    assert_eq!(o.submission.status, Status::PastDue);
    assert_eq!(o.submission.kind, Kind::Patchset);
    assert!(o.gradeable.is_none());
    o.assert_finding(Severity::Fatal, "after its final deadline");
    assert!(intake.grading().resolve_tag(&sid).await.unwrap().is_none());
    assert!(course.journal_names().is_empty(), "never released");
}

/// alice's initial series, with bob assigned to review her in slot 1; returns its ids.
fn reviewed_series(course: &Course) -> (SubmissionId, Vec<journal::MessageId>) {
    let series = format_series(
        &course.scratch("a"),
        "RFC PATCH v1",
        &[],
        &good_patches("alice"),
    );
    let sent = course.send("alice", EARLY, "hw1", None, &series);
    course
        .db
        .assign_reviewer(
            &assignment("hw1"),
            &user("bob"),
            &user("alice"),
            ReviewSlot::First,
        )
        .unwrap();
    sent
}

fn review(course: &Course, from: &str, at: i64, to_message: journal::MessageId) -> SubmissionId {
    let mail = b"Subject: Re: [RFC PATCH v1 1/3] Change alice/file1.c\n\n> int f1(void)\n\nLooks good.\n\nReviewed-by: Someone\n".to_vec();
    course.send(from, at, "alice", Some(to_message), &[mail]).0
}

#[tokio::test]
async fn assigned_review_of_the_latest_initial_counts_for_its_slot() {
    let course = Course::new();
    let (alice_sid, alice_msgs) = reviewed_series(&course);
    process(&course).await;
    let rsid = review(&course, "bob", INITIAL + 100, alice_msgs[1]);
    process(&course).await;
    let o = Outcome::load(&course, &rsid);
    assert_eq!(o.submission.kind, Kind::Review);
    assert_eq!(o.submission.status, Status::Accepted);
    assert_eq!(o.submission.in_reply_to, Some(alice_msgs[1]));
    let g = o.gradeable.as_ref().unwrap();
    assert_eq!(
        (g.component, g.username.as_str()),
        (Component::Review1, "bob")
    );
    o.assert_finding(
        Severity::Ok,
        &format!("review of alice's submission {alice_sid}"),
    );
    // Kept on top of the reviewed series.
    let log = grading_log(&course, &rsid);
    assert_eq!(log.len(), 5, "{log:?}");
    assert!(log[0].contains(&format!("review {rsid} of submission {alice_sid}")));
    let files = grading_files(&course, &rsid);
    assert!(files.contains(&format!("_review/{}.eml", rsid.message(1).unwrap())));
    assert!(files.contains(&"alice/file3.c".to_string()));
    assert!(
        course.journal_names().is_empty(),
        "reviews are released at the deadline"
    );
}

#[tokio::test]
async fn review_from_an_unassigned_reviewer_is_refused() {
    let course = Course::new();
    let (_, alice_msgs) = reviewed_series(&course);
    process(&course).await;
    let rsid = review(&course, "carol", INITIAL + 100, alice_msgs[1]);
    process(&course).await;
    let o = Outcome::load(&course, &rsid);
    assert_eq!(o.submission.status, Status::ReviewNotAssigned);
    assert_eq!(o.submission.kind, Kind::Review);
    assert!(o.gradeable.is_none());
}

#[tokio::test]
async fn review_replying_to_an_older_submission_is_refused() {
    let course = Course::new();
    let (_, old_msgs) = reviewed_series(&course);
    send_series(
        &course,
        "alice",
        EARLY + 60,
        "RFC PATCH v2",
        &good_patches("alice"),
    );
    process(&course).await;
    let rsid = review(&course, "bob", INITIAL + 100, old_msgs[2]);
    process(&course).await;
    let o = Outcome::load(&course, &rsid);
    assert_eq!(o.submission.status, Status::ReviewOfWrongSubmission);
    assert!(o.gradeable.is_none());
}

#[tokio::test]
async fn review_after_the_peer_review_deadline_is_too_late() {
    let course = Course::new();
    let (_, alice_msgs) = reviewed_series(&course);
    process(&course).await;
    let rsid = review(&course, "bob", PEER, alice_msgs[1]);
    process(&course).await;
    let o = Outcome::load(&course, &rsid);
    assert_eq!(o.submission.status, Status::ReviewTooLate);
    assert!(o.gradeable.is_none());
}

#[tokio::test]
async fn mail_to_the_list_is_released_at_once_in_session_order() {
    let course = Course::new();
    let first = b"Subject: Question\n\nHow do I send a series?\n".to_vec();
    let second = b"Subject: Also\n\n.A line starting with a dot\n".to_vec();
    let (sid, ids) = course.send("alice", EARLY, "list", None, &[first, second]);
    process(&course).await;
    let o = Outcome::load(&course, &sid);
    assert_eq!(o.submission.kind, Kind::Discussion);
    assert_eq!(o.submission.status, Status::Released);
    assert!(o.gradeable.is_none());
    assert_eq!(course.journal_names(), ids);
}

#[tokio::test]
async fn unknown_recipient_and_direct_mail_are_recorded_never_released() {
    let course = Course::new();
    let mail = b"Subject: hi\n\nhello\n".to_vec();
    let (nobody, _) = course.send("alice", EARLY, "nobody", None, std::slice::from_ref(&mail));
    let (direct, _) = course.send("alice", EARLY, "bob", None, &[mail]);
    process(&course).await;
    assert_eq!(
        Outcome::load(&course, &nobody).submission.status,
        Status::UnknownRecipient
    );
    assert_eq!(
        Outcome::load(&course, &direct).submission.status,
        Status::Undeliverable
    );
    assert!(course.journal_names().is_empty());
}

#[tokio::test]
async fn processing_again_changes_nothing_and_recreates_the_same_tag() {
    let course = Course::new();
    let sid = send_series(
        &course,
        "alice",
        EARLY,
        "RFC PATCH v1",
        &good_patches("alice"),
    );
    let intake = process(&course).await;
    let tag = intake.grading().resolve_tag(&sid).await.unwrap().unwrap();
    assert_eq!(intake.process_all_pending().await.unwrap().processed, 0);
    assert_eq!(intake.process(&sid).await.unwrap(), None);
    // A crash after the tag but before the row: the commits are made again, identically.
    let conn = rusqlite::Connection::open(course.root.course_db()).unwrap();
    conn.execute_batch("DELETE FROM findings; DELETE FROM gradeables; DELETE FROM submissions;")
        .unwrap();
    let again = course.intake().await;
    assert_eq!(again.process_all_pending().await.unwrap().processed, 1);
    assert_eq!(again.grading().resolve_tag(&sid).await.unwrap(), Some(tag));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_one_process_a_session_is_checked_once_even_by_two_dispatchers() {
    // The running intake and the scheduler's catch-up share one Intake: the second must wait
    // for the first instead of running the same git checks beside it.
    let course = Course::new();
    let sids: Vec<SubmissionId> = [("alice", EARLY), ("bob", EARLY + 1), ("carol", EARLY + 2)]
        .into_iter()
        .map(|(user, at)| send_series(&course, user, at, "RFC PATCH v1", &good_patches(user)))
        .collect();
    let intake = course.intake().await;
    let other = intake.clone();
    let (a, b) = tokio::join!(intake.process_all_pending(), other.process_all_pending());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.failed, b.failed), (0, 0));
    assert_eq!(a.processed + b.processed, sids.len());
    assert_eq!(
        intake.sessions_checked(),
        sids.len() as u64,
        "no session checked twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_intakes_at_once_record_each_session_once_and_neither_fails() {
    // The daemon's intake and a deadline's catch-up (its scheduler's, or cron's `deadlines
    // run-due`) start and take in the same sessions at the same moment: both write the same
    // tags into grading.git, one records each session.
    let course = Course::new();
    let sids: Vec<SubmissionId> = [("alice", EARLY), ("bob", EARLY + 1), ("carol", EARLY + 2)]
        .into_iter()
        .map(|(user, at)| send_series(&course, user, at, "RFC PATCH v1", &good_patches(user)))
        .collect();
    drop(course.intake().await);
    let (one, two) = tokio::join!(course.intake(), course.intake());
    let (a, b) = tokio::join!(one.process_all_pending(), two.process_all_pending());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.failed, b.failed), (0, 0), "{a:?} {b:?}");
    assert_eq!(a.processed + b.processed, sids.len(), "{a:?} {b:?}");
    for sid in &sids {
        assert!(!grading_log(&course, sid).is_empty(), "tag {sid}");
    }
}

#[tokio::test]
async fn inspect_queries_filter_by_assignment_and_user() {
    let course = Course::new();
    send_series(
        &course,
        "alice",
        EARLY,
        "RFC PATCH v1",
        &good_patches("alice"),
    );
    send_series(&course, "bob", EARLY, "RFC PATCH v1", &good_patches("bob"));
    course.send(
        "carol",
        EARLY,
        "list",
        None,
        &[b"Subject: x\n\ny\n".to_vec()],
    );
    process(&course).await;
    let all = course.db.inspect_submissions(&Filter::default()).unwrap();
    assert_eq!(all.len(), 3);
    let bob = Filter {
        user: Some(user("bob")),
        ..Filter::default()
    };
    let rows = course.db.inspect_gradeables(&bob).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].gradeable.username.as_str(), "bob");
    assert!(!rows[0].findings.is_empty());
    let hw1 = Filter {
        assignment: Some(assignment("hw1")),
        ..Filter::default()
    };
    assert_eq!(course.db.inspect_submissions(&hw1).unwrap().len(), 2);
    let missing = course.db.missing(&hw1, &course.accounts).unwrap();
    let names: Vec<&str> = missing.iter().map(|m| m.username.as_str()).collect();
    assert_eq!(names, ["carol"], "instructors are never missing");
    assert!(course.db.inspect_oopsies(&hw1).unwrap().is_empty());
    assert!(course.db.is_assignment("hw1").unwrap());
    assert!(!course.db.is_assignment("list").unwrap());
}

#[tokio::test]
async fn running_intake_processes_sessions_as_they_close() {
    let course = Course::new();
    let early = send_series(
        &course,
        "alice",
        EARLY,
        "RFC PATCH v1",
        &good_patches("alice"),
    );
    let intake = course.intake().await;
    let shutdown = CancellationToken::new();
    let running = tokio::spawn({
        let intake = intake.clone();
        let shutdown = shutdown.clone();
        async move { intake.run(shutdown).await }
    });
    let later = send_series(&course, "bob", EARLY, "RFC PATCH v1", &good_patches("bob"));
    // Waits for the outcome, however long the machine takes; the test runner's own timeout
    // catches a hang.
    while !(course.db.is_processed(&early).unwrap() && course.db.is_processed(&later).unwrap()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    running.await.unwrap().unwrap();
    assert_eq!(Outcome::load(&course, &later).severity(), Severity::Ok);
}
