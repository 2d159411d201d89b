//! Exactly once across a crash: an intake process is SIGKILLed in the middle of a backlog, a
//! second run finishes it, and every session ends up recorded once, tagged, and released once.

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use common::*;
use denis::{Intake, IntakeConfig, Kind};
use journal::DataRoot;

/// Set in the child: the data root it processes.
const CHILD_ROOT: &str = "DENIS_CRASH_CHILD_ROOT";
/// Set in the child: its directory for temporary repositories.
const CHILD_WORK: &str = "DENIS_CRASH_CHILD_WORK";

/// The child half of the crash test (does nothing when run on its own).
#[tokio::test]
#[ignore = "run as a child process by intake_killed_mid_way_processes_every_session_exactly_once"]
async fn crash_child_processes_the_backlog() {
    let (Some(root), Some(work)) = (std::env::var_os(CHILD_ROOT), std::env::var_os(CHILD_WORK))
    else {
        return;
    };
    let mut config = IntakeConfig::new(HOST);
    config.work_dir = work.into();
    let intake = Intake::open(&DataRoot::new(root), config).await.unwrap();
    intake.process_all_pending().await.unwrap();
}

#[tokio::test]
async fn intake_killed_mid_way_processes_every_session_exactly_once() {
    let course = Course::new();
    let students = ["alice", "bob", "carol"];
    let series: Vec<Vec<Vec<u8>>> = students
        .iter()
        .map(|s| format_series(&course.scratch("s"), "RFC PATCH v1", &[], &good_patches(s)))
        .collect();
    let mut patchsets = Vec::new();
    let mut list_messages = Vec::new();
    for round in 0..8 {
        for (student, series) in students.iter().zip(&series) {
            patchsets.push(course.send(student, EARLY + round, "hw1", None, series).0);
        }
        let note = format!("Subject: note {round}\n\nround {round}\n").into_bytes();
        let (_, ids) = course.send("alice", EARLY + round, "list", None, &[note.clone(), note]);
        list_messages.extend(ids);
    }
    let total = patchsets.len() + 8;

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_processes_the_backlog",
            "--ignored",
            "--quiet",
        ])
        .env(CHILD_ROOT, course.root.root())
        .env(CHILD_WORK, course.scratch("child-work"))
        .spawn()
        .unwrap();
    let rows = || {
        course
            .db
            .inspect_submissions(&denis::Filter::default())
            .unwrap()
            .len()
    };
    // Kill as soon as a few sessions are recorded: the backlog is far from done then.
    while rows() < 3 && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = rows();
    assert!(
        (3..total).contains(&before),
        "killed mid-way: {before} of {total} recorded"
    );

    let report = course.intake().await.process_all_pending().await.unwrap();
    assert_eq!(report.failed, 0);
    assert_eq!(
        report.processed,
        total - before,
        "each remaining session once"
    );
    let recorded = course
        .db
        .inspect_submissions(&denis::Filter::default())
        .unwrap();
    assert_eq!(recorded.len(), total);
    let intake = course.intake().await;
    for sid in &patchsets {
        let s = course.db.submission(sid).unwrap().unwrap();
        assert_eq!(s.kind, Kind::Patchset);
        assert!(
            course.db.gradeable(sid).unwrap().is_some(),
            "{sid} has a gradeable"
        );
        assert!(
            intake.grading().resolve_tag(sid).await.unwrap().is_some(),
            "{sid} is tagged"
        );
    }
    let released = course.journal_names();
    let unique: HashSet<_> = released.iter().collect();
    assert_eq!(unique.len(), released.len(), "no message released twice");
    assert_eq!(released.len(), list_messages.len());
    assert_eq!(unique, list_messages.iter().collect());
}
