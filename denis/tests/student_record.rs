//! What a student's dashboard reads (`CourseDb::student_record`, SPEC §10) equals what the
//! course-wide reads give for that student: submissions, gradeables with their findings,
//! grades, reviewees, oopsies, and the totals the gradebook computes from them.
//!
//! The course-wide reads (`inspect_*`, `grades`, `peer_review_cycle`, `oopsie_users`,
//! `gradebook`) are the reference: the dashboard used to be built from them, and every figure
//! it shows must stay the same now that it reads one student's rows. The fixture is written
//! with SQL in one transaction, with several students so that a record leaking someone else's
//! rows fails.

use std::collections::HashMap;

use accounts::{Accounts, NewUser, Role};
use denis::grades::gradebook::{GradebookInputs, build_rows, gradebook};
use denis::query::Filter;
use denis::{AssignmentName, CourseDb, NewAssignment};
use journal::Username;
use rusqlite::params;

const STUDENTS: usize = 6;
const ASSIGNMENTS: [&str; 3] = ["hw1", "hw2", "hw3"];
const COMPONENTS: [&str; 4] = ["initial", "review1", "review2", "final"];

fn name(i: usize) -> String {
    format!("s{i}")
}

fn user(name: &str) -> Username {
    Username::parse(name).unwrap()
}

fn assignment(name: &str) -> AssignmentName {
    AssignmentName::parse(name).unwrap()
}

/// A submission id: hex, ending in `0000`, ordered by `n`.
fn sid(n: usize) -> String {
    format!("{n:026x}0000")
}

/// Students with submissions (some without an assignment), gradeables with findings, grades
/// with gaps, two reviewees on hw1, one on hw2 for some, none on hw3, and oopsies on hw1 and
/// hw2.
fn course() -> (tempfile::TempDir, Accounts, CourseDb) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let accounts = Accounts::open(&dir.path().join("accounts.db")).unwrap();
    let db = CourseDb::open(&dir.path().join("course.db")).unwrap();
    for i in 0..STUDENTS {
        accounts
            .add_user(&NewUser {
                username: user(&name(i)),
                full_name: format!("Student {i}"),
                student_id: None,
                role: Role::Student,
                password: None,
            })
            .unwrap();
    }
    for a in ASSIGNMENTS {
        db.create_assignment(&NewAssignment::dummy(assignment(a)), &accounts, &[])
            .unwrap();
    }
    db.use_oopsie(&user("s1"), &assignment("hw1"), 1, 2)
        .unwrap();
    db.use_oopsie(&user("s1"), &assignment("hw2"), 1, 2)
        .unwrap();
    db.use_oopsie(&user("s4"), &assignment("hw2"), 1, 2)
        .unwrap();

    let mut conn = rusqlite::Connection::open(db.path()).unwrap();
    let tx = conn.transaction().unwrap();
    let mut n = 0;
    for i in 0..STUDENTS {
        let me = name(i);
        for (a, hw) in ASSIGNMENTS.iter().enumerate() {
            for (c, component) in COMPONENTS.iter().enumerate() {
                // Some grades missing, so some totals stay pending.
                if (i + a + c) % 5 != 0 {
                    tx.execute(
                        "INSERT INTO grades (assignment, component, username, score, \
                         feedback, automatic, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)",
                        params![
                            hw,
                            component,
                            me,
                            (i * 31 + a * 7 + c * 13) % 101,
                            "fb",
                            c == 3
                        ],
                    )
                    .unwrap();
                }
                if (i + c) % 3 == 0 {
                    continue;
                }
                // Sessions of several students interleave, as they do in a real course.
                n += 1;
                let id = sid(n * 7 % 97 + 100 * i);
                tx.execute(
                    "INSERT INTO submissions (submission_id, username, auth_time_us, kind, \
                     assignment, component, status, first_recipient, message_count, \
                     in_reply_to, processed_at) \
                     VALUES (?1, ?2, ?3, 'patchset', ?4, ?5, 'accepted', ?4, 3, NULL, 1)",
                    params![id, me, n, hw, component],
                )
                .unwrap();
                let severity = ["ok", "warning", "fatal"][(i + a + c) % 3];
                tx.execute(
                    "INSERT INTO gradeables (submission_id, username, assignment, component, \
                     submitted_at, severity) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![id, me, hw, component, n, severity],
                )
                .unwrap();
                for seq in 0..(n % 3) {
                    tx.execute(
                        "INSERT INTO findings (submission_id, seq, severity, message) \
                         VALUES (?1, ?2, ?3, ?4)",
                        params![id, seq, severity, format!("finding {seq} of {id}")],
                    )
                    .unwrap();
                }
            }
        }
        // A discussion: no assignment, so not on the dashboard.
        tx.execute(
            "INSERT INTO submissions (submission_id, username, auth_time_us, kind, \
             assignment, component, status, first_recipient, message_count, in_reply_to, \
             processed_at) VALUES (?1, ?2, 0, 'discussion', NULL, NULL, 'released', \
             'list', 1, NULL, 1)",
            params![sid(10_000 + i), me],
        )
        .unwrap();
        for slot in 1..=2 {
            let review = "INSERT INTO peer_reviews (assignment, reviewer, reviewee, slot) \
                          VALUES (?1, ?2, ?3, ?4)";
            tx.execute(
                review,
                params!["hw1", me, name((i + slot) % STUDENTS), slot],
            )
            .unwrap();
            if slot == 1 && i % 2 == 0 {
                tx.execute(review, params!["hw2", me, name((i + 3) % STUDENTS), slot])
                    .unwrap();
            }
        }
    }
    tx.commit().unwrap();
    drop(conn);
    (dir, accounts, db)
}

#[test]
fn a_students_record_is_their_share_of_the_course_wide_reads() {
    let (_dir, accounts, db) = course();
    let assignments: Vec<AssignmentName> = db
        .list_assignments()
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    let mut seen_findings = 0;
    for i in 0..STUDENTS {
        let me = user(&name(i));
        let filter = Filter {
            assignment: None,
            user: Some(me.clone()),
        };
        let record = db.student_record(&me).unwrap();

        let submissions: Vec<_> = db
            .inspect_submissions(&filter)
            .unwrap()
            .into_iter()
            .filter(|s| s.assignment.is_some())
            .collect();
        assert!(!submissions.is_empty());
        assert_eq!(record.submissions, submissions, "submissions of {me}");
        let gradeables = db.inspect_gradeables(&filter).unwrap();
        seen_findings += gradeables.iter().map(|g| g.findings.len()).sum::<usize>();
        assert_eq!(record.gradeables, gradeables, "gradeables of {me}");
        assert_eq!(record.grades, db.grades(&filter).unwrap(), "grades of {me}");

        let mut reviewees = HashMap::new();
        for a in &assignments {
            let theirs: Vec<_> = db
                .peer_review_cycle(a)
                .unwrap()
                .into_iter()
                .filter(|p| p.reviewer == me)
                .collect();
            let mine: Vec<_> = record
                .reviews
                .iter()
                .filter(|p| p.assignment == *a)
                .cloned()
                .collect();
            assert_eq!(mine, theirs, "reviews of {me} on {a}");
            reviewees.insert((a.clone(), me.clone()), mine.len());
            let used = db.oopsie_users(a).unwrap().contains(&me);
            assert_eq!(record.oopsies.contains(a), used, "oopsie of {me} on {a}");
        }
        assert_eq!(record.oopsies.len(), db.oopsies_used(&me).unwrap() as usize);

        // The totals the dashboard computes from the record are the gradebook's.
        let student = accounts.get_user(&me).unwrap().unwrap();
        let rows = build_rows(GradebookInputs {
            students: vec![student],
            assignments: assignments.clone(),
            grades: record.grades.clone(),
            reviewees,
            oopsies: record
                .oopsies
                .iter()
                .map(|a| (a.clone(), me.clone()))
                .collect(),
        });
        assert_eq!(rows, gradebook(&db, &accounts, &filter).unwrap(), "{me}");
    }
    assert!(
        seen_findings > 0,
        "the fixture must have findings to compare"
    );
}

#[test]
fn a_student_with_nothing_recorded_has_an_empty_record() {
    let (_dir, _accounts, db) = course();
    let record = db.student_record(&user("nobody")).unwrap();
    assert_eq!(record, denis::db::student::StudentRecord::default());
}
