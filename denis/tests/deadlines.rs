//! Deadlines, grades and oopsies end to end on a real data root (SPEC §9, §10): sessions as
//! smtp stores them, processed by the intake, then the three deadlines freezing, drawing the
//! cycle, releasing into the journal, re-allowing and giving automatic zeros; instructor
//! grades and the totals; runners at once, a crashed runner, and the scheduler's catch-up.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::*;
use denis::grades::{gradebook, write_csv};
use denis::{
    Assignment, Component, Deadline, DeadlineRun, DeadlineRunner, Filter, Grade, GradeEntry,
    Intake, NewAssignment, OopsieError, PeerReview, RequestAction, ReviewSlot, RunOutcome,
    Scheduler, Score,
};
use journal::{JournalWriter, MessageId, Snapshot, SubmissionId, Username};
use tokio_util::sync::CancellationToken;

/// Everything a deadline run may change: compared before and after running it again.
#[derive(Debug, PartialEq)]
struct State {
    assignments: Vec<Assignment>,
    runs: Vec<DeadlineRun>,
    grades: Vec<Grade>,
    cycles: Vec<PeerReview>,
    journal: Vec<MessageId>,
    caps: Vec<(Username, u64)>,
}

fn state(course: &Course) -> State {
    let assignments = course.db.list_assignments().unwrap();
    let cycles = assignments
        .iter()
        .flat_map(|a| course.db.peer_review_cycle(&a.name).unwrap())
        .collect();
    State {
        runs: course.db.deadline_runs(None).unwrap(),
        grades: course.db.grades(&Filter::default()).unwrap(),
        journal: course.journal_names(),
        caps: JournalWriter::open(&course.root.journal_file())
            .unwrap()
            .caps()
            .unwrap(),
        assignments,
        cycles,
    }
}

/// What `user` reads over POP3: their journal view.
fn view(course: &Course, name: &str) -> Vec<MessageId> {
    Snapshot::open(&course.root.journal_file(), &user(name))
        .unwrap()
        .iter()
        .map(|r| r.unwrap().name)
        .collect()
}

async fn process(intake: &Intake) {
    let report = intake.process_all_pending().await.unwrap();
    assert_eq!(report.failed, 0, "{report:?}");
}

fn series(course: &Course, user: &str, at: i64, to: &str, prefix: &str) -> SubmissionId {
    let mails = format_series(&course.scratch("student"), prefix, &[], &good_patches(user));
    course.send(user, at, to, None, &mails).0
}

/// A series without a cover letter: fatal.
fn fatal_series(course: &Course, user: &str, at: i64, to: &str) -> SubmissionId {
    let mails = format_series(
        &course.scratch("student"),
        "RFC PATCH v1",
        &[],
        &good_patches(user),
    );
    course.send(user, at, to, None, &mails[1..]).0
}

/// `reviewer` replies to `reviewee`'s latest initial of `assignment`.
fn review(
    course: &Course,
    reviewer: &str,
    reviewee: &str,
    assignment: &str,
    at: i64,
) -> SubmissionId {
    let reviewed = course
        .db
        .latest_gradeable(
            &common::assignment(assignment),
            Component::Initial,
            &user(reviewee),
        )
        .unwrap()
        .expect("the reviewee submitted");
    let mail = format!("Subject: Re: [RFC PATCH v1 0/3] series of {reviewee}\n\nLooks good.\n");
    let to_message = reviewed.submission_id.message(1).unwrap();
    course
        .send(
            reviewer,
            at,
            reviewee,
            Some(to_message),
            &[mail.into_bytes()],
        )
        .0
}

/// The message ids of session `sid`, as released (all of them, in order).
fn messages(course: &Course, sid: &SubmissionId) -> Vec<MessageId> {
    let count = course.db.submission(sid).unwrap().unwrap().message_count;
    (1..=count)
        .map(|i| sid.message(u16::try_from(i).unwrap()).unwrap())
        .collect()
}

fn grade(course: &Course, assignment: &str, component: Component, name: &str, score: u8) {
    course
        .db
        .set_grade(
            &course.accounts,
            &GradeEntry {
                assignment: common::assignment(assignment),
                component,
                username: user(name),
                score: Score::new(score).unwrap(),
                feedback: format!("graded {component}"),
            },
            FINAL + 500,
        )
        .unwrap();
}

fn stored_grade(
    course: &Course,
    assignment: &str,
    component: Component,
    name: &str,
) -> Option<Grade> {
    course
        .db
        .grade(&common::assignment(assignment), component, &user(name))
        .unwrap()
}

/// `(username, total)` of every gradebook row of `assignment`.
fn totals(course: &Course, assignment: &str) -> Vec<(String, String)> {
    let filter = Filter {
        assignment: Some(common::assignment(assignment)),
        user: None,
    };
    gradebook(&course.db, &course.accounts, &filter)
        .unwrap()
        .into_iter()
        .map(|r| (r.username.to_string(), r.total.to_string()))
        .collect()
}

fn pairs(owned: &[(String, String)]) -> Vec<(&str, &str)> {
    owned
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect()
}

fn ran(outcome: &[DeadlineRun]) -> Vec<(String, Deadline)> {
    outcome
        .iter()
        .map(|r| (r.assignment.to_string(), r.deadline))
        .collect()
}

#[tokio::test]
async fn a_term_with_three_submitters_a_delinquent_and_an_oopsie_follows_the_spec() {
    let course = Course::new();
    course.add_student("dave", "Dave Delinquent");
    course.add_student("erin", "Erin Oopsie");
    let intake = course.intake().await;
    let runner = DeadlineRunner::open(&course.root).unwrap();

    // Before the initial deadline: an instructor grade already there, an oopsie, an
    // announcement everyone reads, three initials (bob sends two, carol's is fatal).
    grade(&course, "hw1", Component::Initial, "dave", 40);
    course
        .db
        .use_oopsie(&user("erin"), &assignment("hw1"), EARLY, 1)
        .unwrap();
    let note = b"Subject: welcome\n\nHello.\n".to_vec();
    let (_, announcement) = course.send("prof", EARLY, "list", None, &[note]);
    let alice = series(&course, "alice", EARLY, "hw1", "RFC PATCH v1");
    let bob_v1 = series(&course, "bob", EARLY, "hw1", "RFC PATCH v1");
    let bob_v2 = series(&course, "bob", EARLY + 1, "hw1", "RFC PATCH v2");
    let carol = fatal_series(&course, "carol", EARLY, "hw1");
    process(&intake).await;
    assert_eq!(course.journal_names(), announcement);
    assert!(runner.run_due(INITIAL - 1).unwrap().ran.is_empty());

    // Initial deadline.
    let report = runner.run_due(INITIAL).unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(ran(&report.ran), [("hw1".into(), Deadline::Initial)]);
    let summary = report.ran[0].summary.unwrap();
    assert_eq!(
        (summary.delinquent, summary.released, summary.auto_zeroed),
        (2, 3, 1),
        "dave and erin delinquent; alice, bob and carol released; only carol's fatal initial \
         zeroed (dave has an instructor grade, erin an oopsie)"
    );
    let mut released = announcement.clone();
    for sid in [alice, bob_v2, carol] {
        released.extend(messages(&course, &sid));
    }
    assert_eq!(course.journal_names(), released, "latest initials, by id");
    assert!(
        messages(&course, &bob_v1)
            .iter()
            .all(|m| !course.journal_names().contains(m))
    );
    assert_eq!(
        view(&course, "dave"),
        announcement,
        "frozen before the release"
    );
    assert_eq!(view(&course, "erin"), announcement);
    assert_eq!(view(&course, "alice"), released);
    let dave_initial = stored_grade(&course, "hw1", Component::Initial, "dave").unwrap();
    assert_eq!(
        (dave_initial.score.get(), dave_initial.automatic),
        (40, false)
    );
    let carol_initial = stored_grade(&course, "hw1", Component::Initial, "carol").unwrap();
    assert!(carol_initial.automatic && carol_initial.score == Score::ZERO);
    assert!(
        carol_initial.feedback.contains("fatal"),
        "{}",
        carol_initial.feedback
    );
    assert!(stored_grade(&course, "hw1", Component::Initial, "erin").is_none());
    let cycle = course.db.peer_review_cycle(&assignment("hw1")).unwrap();
    assert_eq!(
        cycle.len(),
        6,
        "three submitters each review two: {cycle:?}"
    );
    for reviewer in ["alice", "bob", "carol"] {
        let reviewees: HashSet<&str> = cycle
            .iter()
            .filter(|p| p.reviewer.as_str() == reviewer)
            .map(|p| p.reviewee.as_str())
            .collect();
        let others: HashSet<&str> = ["alice", "bob", "carol"]
            .into_iter()
            .filter(|o| *o != reviewer)
            .collect();
        assert_eq!(reviewees, others, "{reviewer} reviews the other two");
    }
    let after_initial = state(&course);
    assert!(runner.run_due(INITIAL + 10).unwrap().ran.is_empty());
    let again = runner.trigger(&assignment("hw1"), Deadline::Initial, INITIAL + 20);
    assert!(matches!(again.unwrap(), RunOutcome::AlreadyDone(_)));
    assert_eq!(
        state(&course),
        after_initial,
        "running it again changes nothing"
    );

    // Reviews: every slot-1 review is sent, of the slot-2 reviews only alice's.
    let mut review_messages = Vec::new();
    for pair in &cycle {
        if pair.slot == ReviewSlot::First || pair.reviewer.as_str() == "alice" {
            let sid = review(
                &course,
                pair.reviewer.as_str(),
                pair.reviewee.as_str(),
                "hw1",
                INITIAL + 100,
            );
            review_messages.push(sid);
        }
    }
    process(&intake).await;
    for sid in &review_messages {
        assert!(
            course.db.gradeable(sid).unwrap().is_some(),
            "review {sid} accepted"
        );
    }
    let report = runner.run_due(PEER).unwrap();
    assert_eq!(ran(&report.ran), [("hw1".into(), Deadline::PeerReview)]);
    let summary = report.ran[0].summary.unwrap();
    assert_eq!((summary.released, summary.auto_zeroed), (4, 2));
    for sid in &review_messages {
        released.extend(messages(&course, sid));
    }
    assert_eq!(course.journal_names(), released, "reviews released by id");
    for name in ["bob", "carol"] {
        let zero = stored_grade(&course, "hw1", Component::Review2, name).unwrap();
        assert!(
            zero.automatic && zero.score == Score::ZERO,
            "{name}: {zero:?}"
        );
    }
    assert!(stored_grade(&course, "hw1", Component::Review2, "alice").is_none());
    let after_peer = state(&course);
    assert!(runner.run_due(PEER + 10).unwrap().ran.is_empty());
    assert_eq!(state(&course), after_peer);

    // Finals: everyone but carol; erin (oopsie) and dave (no oopsie) included.
    let finals: Vec<SubmissionId> = ["alice", "bob", "dave", "erin"]
        .into_iter()
        .map(|s| series(&course, s, PEER + 10, "hw1", "PATCH v2"))
        .collect();
    process(&intake).await;
    let report = runner.run_due(FINAL).unwrap();
    assert_eq!(ran(&report.ran), [("hw1".into(), Deadline::Final)]);
    let summary = report.ran[0].summary.unwrap();
    assert_eq!(
        (summary.allowed, summary.released, summary.auto_zeroed),
        (1, 4, 1)
    );
    for sid in &finals {
        released.extend(messages(&course, sid));
    }
    assert_eq!(course.journal_names(), released);
    assert_eq!(
        view(&course, "erin"),
        released,
        "the oopsie user is re-allowed"
    );
    assert_eq!(
        view(&course, "dave"),
        announcement,
        "the delinquent stays frozen"
    );
    assert_eq!(runner.restricted().unwrap(), [user("dave")]);
    assert!(
        stored_grade(&course, "hw1", Component::Final, "carol")
            .unwrap()
            .automatic
    );
    let after_final = state(&course);
    assert!(runner.run_due(FINAL + 10).unwrap().ran.is_empty());
    let again = runner.trigger(&assignment("hw1"), Deadline::Final, FINAL + 20);
    assert!(matches!(again.unwrap(), RunOutcome::AlreadyDone(_)));
    assert_eq!(state(&course), after_final);

    // The instructor lifts dave's restriction.
    runner.lift_restriction(&user("dave")).unwrap();
    assert_eq!(view(&course, "dave"), released);
    assert!(runner.restricted().unwrap().is_empty());

    // Grades and totals (SPEC §10).
    assert!(
        totals(&course, "hw1")
            .iter()
            .all(|(_, t)| t == "-" || t == "0.0")
    );
    grade(&course, "hw1", Component::Final, "alice", 90);
    grade(&course, "hw1", Component::Review1, "alice", 80);
    assert_eq!(
        totals(&course, "hw1")[0],
        ("alice".into(), "-".into()),
        "review2 missing"
    );
    grade(&course, "hw1", Component::Review2, "alice", 70);
    grade(&course, "hw1", Component::Final, "bob", 80);
    grade(&course, "hw1", Component::Review1, "bob", 100);
    grade(&course, "hw1", Component::Review2, "bob", 50); // over an automatic zero
    grade(&course, "hw1", Component::Review1, "carol", 60);
    grade(&course, "hw1", Component::Final, "dave", 70);
    grade(&course, "hw1", Component::Final, "erin", 85);
    let bob_review2 = stored_grade(&course, "hw1", Component::Review2, "bob").unwrap();
    assert_eq!(
        (bob_review2.score.get(), bob_review2.automatic),
        (50, false)
    );
    assert_eq!(
        pairs(&totals(&course, "hw1")),
        [
            ("alice", "87.0"), // .8·90 + .1·80 + .1·70
            ("bob", "79.0"),   // .8·80 + .1·100 + .1·50
            ("carol", "6.0"),  // .8·0 (automatic) + .1·60 + .1·0 (automatic)
            ("dave", "70.0"),  // no reviewees: final only
            ("erin", "85.0"),  // oopsie: final only
        ]
    );
    let rows = gradebook(&course.db, &course.accounts, &Filter::default()).unwrap();
    let mut csv = Vec::new();
    write_csv(&rows, &mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert!(
        csv.contains("alice,Alice Liddell,,hw1,,80,70,90,87.0\r\n"),
        "{csv}"
    );
    assert!(
        csv.contains("carol,Carol Danvers,,hw1,0,60,0,0,6.0\r\n"),
        "{csv}"
    );
    assert!(
        csv.contains("dave,Dave Delinquent,,hw1,40,n/a,n/a,70,70.0\r\n"),
        "{csv}"
    );
    assert!(
        csv.contains("erin,Erin Oopsie,,hw1,n/a,n/a,n/a,85,85.0\r\n"),
        "{csv}"
    );
}

#[tokio::test]
async fn two_submitters_review_each_other_and_a_lone_submitter_reviews_nobody() {
    let course = Course::new();
    let intake = course.intake().await;
    let runner = DeadlineRunner::open(&course.root).unwrap();
    let (hw2, hw3) = (assignment("hw2"), assignment("hw3"));
    course
        .db
        .create_assignment(&NewAssignment::dummy(hw2.clone()), &course.accounts, &[])
        .unwrap();
    let (h3_initial, h3_peer, h3_final) = (FINAL + 10_000, FINAL + 20_000, FINAL + 30_000);
    course
        .db
        .create_assignment(
            &NewAssignment::scheduled(hw3.clone(), h3_initial, h3_peer, h3_final),
            &course.accounts,
            &[],
        )
        .unwrap();

    // hw2 (dummy): alice and bob submit; its deadlines run only when triggered.
    let t = FINAL;
    series(&course, "alice", EARLY, "hw2", "RFC PATCH v1");
    series(&course, "bob", EARLY, "hw2", "RFC PATCH v1");
    series(&course, "alice", EARLY, "hw3", "RFC PATCH v1");
    process(&intake).await;
    // hw1 (scheduled, nobody submitted) runs by itself; a dummy's deadlines never do.
    let report = runner.run_due(t).unwrap();
    assert_eq!(
        ran(&report.ran),
        [
            ("hw1".into(), Deadline::Initial),
            ("hw1".into(), Deadline::PeerReview),
            ("hw1".into(), Deadline::Final),
        ]
    );
    let err = runner.trigger(&hw2, Deadline::Final, t).unwrap_err();
    assert!(
        err.to_string()
            .contains("initial deadline of hw2 has not run"),
        "{err}"
    );
    let outcome = runner.trigger(&hw2, Deadline::Initial, t).unwrap();
    assert!(matches!(outcome, RunOutcome::Ran { resumed: false, .. }));
    assert_eq!(outcome.run().summary.unwrap().delinquent, 1, "carol");
    assert_eq!(
        course
            .db
            .get_assignment("hw2")
            .unwrap()
            .unwrap()
            .deadlines
            .initial,
        Some(t),
        "triggering a dummy's deadline sets it"
    );
    let cycle: Vec<(String, String, ReviewSlot)> = course
        .db
        .peer_review_cycle(&hw2)
        .unwrap()
        .into_iter()
        .map(|p| (p.reviewer.to_string(), p.reviewee.to_string(), p.slot))
        .collect();
    assert_eq!(
        cycle,
        [
            ("alice".into(), "bob".into(), ReviewSlot::First),
            ("bob".into(), "alice".into(), ReviewSlot::First),
        ]
    );
    let err = course
        .db
        .use_oopsie(&user("bob"), &hw2, t + 1, 1)
        .unwrap_err();
    assert!(matches!(err, OopsieError::TooLate(_)), "{err}");

    // alice reviews bob; bob reviews nobody. Both send finals.
    review(&course, "alice", "bob", "hw2", t + 10);
    series(&course, "alice", t + 20, "hw2", "PATCH v2");
    series(&course, "bob", t + 20, "hw2", "PATCH v2");
    process(&intake).await;
    let peer = runner.trigger(&hw2, Deadline::PeerReview, t + 100).unwrap();
    let summary = peer.run().summary.unwrap();
    assert_eq!((summary.released, summary.auto_zeroed), (1, 1));
    assert!(
        stored_grade(&course, "hw2", Component::Review1, "bob")
            .unwrap()
            .automatic
    );
    let fin = runner.trigger(&hw2, Deadline::Final, t + 200).unwrap();
    let summary = fin.run().summary.unwrap();
    assert_eq!(
        (summary.released, summary.auto_zeroed),
        (2, 1),
        "carol's final zeroed"
    );
    let before = state(&course);
    for deadline in Deadline::ALL {
        let again = runner.trigger(&hw2, *deadline, t + 300).unwrap();
        assert!(matches!(again, RunOutcome::AlreadyDone(_)), "{deadline}");
    }
    assert_eq!(state(&course), before);

    // hw3 (scheduled): alice alone reviews nobody; peer review and final fall together.
    let report = runner.run_due(h3_initial).unwrap();
    assert_eq!(ran(&report.ran), [("hw3".into(), Deadline::Initial)]);
    assert!(course.db.peer_review_cycle(&hw3).unwrap().is_empty());
    series(&course, "alice", h3_initial + 10, "hw3", "PATCH v2");
    process(&intake).await;
    let report = runner.run_due(h3_final).unwrap();
    assert_eq!(
        ran(&report.ran),
        [
            ("hw3".into(), Deadline::PeerReview),
            ("hw3".into(), Deadline::Final)
        ]
    );
    assert_eq!(
        report.ran[0].summary.unwrap().auto_zeroed,
        0,
        "no review to miss"
    );
    let before = state(&course);
    assert!(runner.run_due(h3_final + 1).unwrap().ran.is_empty());
    assert_eq!(state(&course), before);

    grade(&course, "hw2", Component::Final, "alice", 90);
    grade(&course, "hw2", Component::Review1, "alice", 100);
    grade(&course, "hw2", Component::Final, "bob", 75);
    grade(&course, "hw3", Component::Final, "alice", 95);
    assert_eq!(
        pairs(&totals(&course, "hw2")),
        [
            ("alice", "91.1"), // (.8·90 + .1·100) / .9
            ("bob", "66.7"),   // (.8·75 + .1·0) / .9, the missing review zeroed
            ("carol", "0.0"),  // missing final zeroed
        ]
    );
    assert_eq!(
        pairs(&totals(&course, "hw3")),
        [("alice", "95.0"), ("bob", "0.0"), ("carol", "0.0")]
    );
}

#[tokio::test]
async fn two_runners_at_once_run_each_deadline_once() {
    let course = Course::new();
    let intake = course.intake().await;
    for s in ["alice", "bob", "carol"] {
        series(&course, s, EARLY, "hw1", "RFC PATCH v1");
    }
    process(&intake).await;
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let root = course.root.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let runner = DeadlineRunner::open(&root).unwrap();
                barrier.wait();
                let report = runner.run_due(FINAL).unwrap();
                assert!(report.failed.is_empty(), "{:?}", report.failed);
                ran(&report.ran)
            })
        })
        .collect();
    let mut all: Vec<(String, Deadline)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort();
    assert_eq!(
        all,
        [
            ("hw1".into(), Deadline::Initial),
            ("hw1".into(), Deadline::PeerReview),
            ("hw1".into(), Deadline::Final),
        ],
        "each deadline run by exactly one of the two"
    );
    let runs = course.db.deadline_runs(None).unwrap();
    assert!(
        runs.iter()
            .all(|r| r.attempts == 1 && r.finished_at.is_some()),
        "{runs:?}"
    );
    assert_eq!(
        course
            .db
            .peer_review_cycle(&assignment("hw1"))
            .unwrap()
            .len(),
        6
    );
    let names = course.journal_names();
    assert_eq!(
        names.len(),
        3 * 4,
        "three series of four messages, once each"
    );
}

#[tokio::test]
async fn a_run_left_unfinished_by_a_crashed_runner_is_resumed_once() {
    let course = Course::new();
    let intake = course.intake().await;
    let alice = series(&course, "alice", EARLY, "hw1", "RFC PATCH v1");
    let bob = series(&course, "bob", EARLY, "hw1", "RFC PATCH v1");
    process(&intake).await;
    // A runner claimed the initial deadline, froze carol, released alice's series and died.
    let conn = rusqlite::Connection::open(course.root.course_db()).unwrap();
    conn.execute(
        "INSERT INTO deadline_runs (assignment, component, started_at) VALUES ('hw1', 'initial', ?1)",
        [INITIAL],
    )
    .unwrap();
    drop(conn);
    let journal = JournalWriter::open(&course.root.journal_file()).unwrap();
    journal
        .restrict(&user("carol"), journal::Restriction::Deny)
        .unwrap();
    let store = journal::MailStore::new(course.root.mail_dir());
    let records: Vec<journal::Record> = messages(&course, &alice)
        .into_iter()
        .map(|id| journal::Record::new(id, store.meta(&id).unwrap()))
        .collect();
    journal.append(&records).unwrap();

    let runner = DeadlineRunner::open(&course.root).unwrap();
    let report = runner.run_due(INITIAL + 60).unwrap();
    assert_eq!(ran(&report.ran), [("hw1".into(), Deadline::Initial)]);
    let run = &report.ran[0];
    assert_eq!((run.started_at, run.attempts), (INITIAL, 2), "{run:?}");
    let mut expected = messages(&course, &alice);
    expected.extend(messages(&course, &bob));
    assert_eq!(
        course.journal_names(),
        expected,
        "alice's series once, then bob's"
    );
    assert!(
        view(&course, "carol").is_empty(),
        "the earlier freeze is kept"
    );
    assert_eq!(
        course
            .db
            .peer_review_cycle(&assignment("hw1"))
            .unwrap()
            .len(),
        2
    );
    assert!(runner.run_due(INITIAL + 120).unwrap().ran.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_stopped_across_deadlines_runs_them_once_when_started_again() {
    let course = Course::new();
    let intake = course.intake().await;
    series(&course, "alice", EARLY, "hw1", "RFC PATCH v1");
    process(&intake).await;
    let clock = Arc::new(AtomicI64::new(INITIAL - 50));

    // Runs the scheduler until it has completed `passes` passes, then stops it.
    let run_scheduler = |passes: u64| {
        let clock = Arc::clone(&clock);
        let scheduler = Scheduler::new(DeadlineRunner::open(&course.root).unwrap())
            .with_intake(intake.clone())
            .with_poll_interval(Duration::from_millis(20))
            .with_clock(move || clock.load(Ordering::SeqCst));
        async move {
            let mut seen = scheduler.passes();
            let shutdown = CancellationToken::new();
            let stop = shutdown.clone();
            let scheduler = Arc::new(scheduler);
            let task = tokio::spawn({
                let scheduler = Arc::clone(&scheduler);
                async move { scheduler.run(shutdown).await }
            });
            // A generous bound so a broken scheduler fails instead of hanging the suite.
            tokio::time::timeout(Duration::from_secs(120), seen.wait_for(|n| *n >= passes))
                .await
                .expect("the scheduler makes passes")
                .unwrap();
            stop.cancel();
            task.await.unwrap();
        }
    };

    run_scheduler(2).await;
    assert!(
        course.db.deadline_runs(None).unwrap().is_empty(),
        "nothing was due yet"
    );

    // Down across the initial and peer-review deadlines; bob's series closed before them but
    // was not processed yet: the scheduler lets the intake catch up before running them.
    let bob = series(&course, "bob", EARLY, "hw1", "RFC PATCH v1");
    clock.store(PEER + 5, Ordering::SeqCst);
    run_scheduler(2).await;
    let runs = course.db.deadline_runs(None).unwrap();
    assert_eq!(
        ran(&runs),
        [
            ("hw1".into(), Deadline::Initial),
            ("hw1".into(), Deadline::PeerReview)
        ]
    );
    assert!(
        runs.iter()
            .all(|r| r.started_at == PEER + 5 && r.finished_at.is_some())
    );
    assert!(
        course.journal_names().contains(&bob.message(1).unwrap()),
        "bob was released"
    );
    assert_eq!(
        course
            .db
            .peer_review_cycle(&assignment("hw1"))
            .unwrap()
            .len(),
        2
    );
    let caught_up = state(&course);

    run_scheduler(3).await;
    assert_eq!(
        state(&course),
        caught_up,
        "started again, it runs nothing twice"
    );
}

#[test]
fn web_requests_are_carried_out_once_with_their_outcome() {
    let course = Course::new();
    let runner = DeadlineRunner::open(&course.root).unwrap();
    let hw2 = assignment("hw2");
    course
        .db
        .create_assignment(&NewAssignment::dummy(hw2.clone()), &course.accounts, &[])
        .unwrap();
    let prof = user("prof");
    // Out of order on purpose: the final before its earlier deadlines fails with a reason.
    let early = RequestAction::Trigger(hw2.clone(), Deadline::Final);
    course.db.add_request(&early, &prof, 1).unwrap();
    let trigger = RequestAction::Trigger(hw2.clone(), Deadline::Initial);
    course.db.add_request(&trigger, &prof, 2).unwrap();
    assert_eq!(runner.carry_out_requests(10).unwrap(), 2);
    let done = course.db.recent_requests(10).unwrap();
    assert_eq!(done[0].outcome.as_deref(), Some("done"));
    assert_ne!(done[1].outcome.as_deref(), Some("done"));
    // Nobody submitted to hw2: every student is frozen by its initial deadline.
    assert_eq!(runner.restricted().unwrap().len(), 3);
    course
        .db
        .add_request(&RequestAction::Lift(user("bob")), &prof, 11)
        .unwrap();
    assert_eq!(runner.carry_out_requests(12).unwrap(), 1);
    assert_eq!(runner.restricted().unwrap(), [user("alice"), user("carol")]);
    assert_eq!(runner.carry_out_requests(13).unwrap(), 0);
}

/// An instructor runs hw1's initial deadline a day early: from that moment it has passed for
/// everything (SPEC §10), as if that had been its date.
#[tokio::test]
async fn a_deadline_run_early_counts_as_passed_everywhere() {
    let course = Course::new();
    let intake = course.intake().await;
    let runner = DeadlineRunner::open(&course.root).unwrap();
    let hw1 = assignment("hw1");
    let early = INITIAL - 86_400;
    series(&course, "alice", EARLY, "hw1", "RFC PATCH v1");
    process(&intake).await;

    let outcome = runner.trigger(&hw1, Deadline::Initial, early).unwrap();
    assert!(matches!(outcome, RunOutcome::Ran { .. }));
    assert_eq!(outcome.run().scheduled_at, Some(INITIAL), "the date it had");
    let moved = course.db.get_assignment("hw1").unwrap().unwrap();
    assert_eq!(
        moved.deadlines.initial,
        Some(early),
        "the deadline is when it ran"
    );
    assert_eq!(
        moved.deadlines.peer_review,
        Some(PEER),
        "later deadlines keep their dates"
    );

    // A series sent after the early run, before the old date, is a final, not an initial.
    let late = series(&course, "bob", early + 60, "hw1", "PATCH v2");
    process(&intake).await;
    let bob = course.db.submission(&late).unwrap().unwrap();
    assert_eq!(bob.component, Some(Component::Final), "{bob:?}");
    // The oopsie is no longer offered: its initial deadline has passed.
    let err = course
        .db
        .use_oopsie(&user("carol"), &hw1, early + 120, 1)
        .unwrap_err();
    assert!(matches!(err, OopsieError::TooLate(_)), "{err:?}");
    // The scheduler, reaching the old date, finds it done.
    let report = runner.run_due(INITIAL + 1).unwrap();
    assert!(ran(&report.ran).is_empty(), "{:?}", report.ran);
}

/// A deadline run from the web froze a student whose series was acknowledged before it but was
/// still waiting to be checked: the run must first take in every session closed before it.
#[tokio::test]
async fn a_deadline_requested_from_the_web_first_takes_in_closed_sessions() {
    let course = Course::new();
    let intake = course.intake().await;
    // alice's series is closed and acknowledged, but not processed yet.
    let alice = series(&course, "alice", EARLY, "hw1", "RFC PATCH v1");
    let prof = user("prof");
    course
        .db
        .add_request(
            &RequestAction::Trigger(assignment("hw1"), Deadline::Initial),
            &prof,
            EARLY,
        )
        .unwrap();
    let clock = Arc::new(AtomicI64::new(EARLY + 10));
    let scheduler = Scheduler::new(DeadlineRunner::open(&course.root).unwrap())
        .with_intake(intake.clone())
        .with_poll_interval(Duration::from_millis(20))
        .with_clock({
            let clock = Arc::clone(&clock);
            move || clock.load(Ordering::SeqCst)
        });
    let mut seen = scheduler.passes();
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let scheduler = Arc::new(scheduler);
    let task = tokio::spawn({
        let scheduler = Arc::clone(&scheduler);
        async move { scheduler.run(shutdown).await }
    });
    tokio::time::timeout(Duration::from_secs(120), seen.wait_for(|n| *n >= 1))
        .await
        .expect("the scheduler makes a pass")
        .unwrap();
    stop.cancel();
    task.await.unwrap();
    let run = course
        .db
        .deadline_run(&assignment("hw1"), Deadline::Initial)
        .unwrap()
        .expect("the requested deadline ran");
    assert!(run.finished_at.is_some());
    let gradeable = course
        .db
        .latest_gradeable(&assignment("hw1"), Component::Initial, &user("alice"))
        .unwrap();
    assert!(
        gradeable.is_some(),
        "alice's series was taken in before the run"
    );
    assert!(
        course.journal_names().contains(&alice.message(1).unwrap()),
        "alice's series was released"
    );
    assert!(
        view(&course, "alice").contains(&alice.message(1).unwrap()),
        "alice is not frozen"
    );
}
