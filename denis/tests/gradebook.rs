//! The gradebook of a course larger than one page (SPEC §10, §11): its pages together are the
//! whole gradebook, filters and paging combine, and the grade distribution counted in the
//! database agrees with the totals of the rows, every student of every page counted.
//!
//! The bulk of the course (grades, the peer-review cycles) is written with SQL in one
//! transaction: thousands of `set_grade` calls would make the test slow and prove nothing more.

use std::collections::BTreeMap;
use std::sync::Arc;

use accounts::{Accounts, NewUser, Role};
use denis::grades::{
    Distribution, DistributionCache, GradebookRow, distribution, gradebook, gradebook_page, roster,
};
use denis::query::Filter;
use denis::{AssignmentName, Component, CourseDb, GradeEntry, GradeError, NewAssignment, Score};
use journal::Username;
use rusqlite::params;
use tempfile::TempDir;

/// Students in the course; with [`PER_PAGE`] that is three pages, the last one partly full.
const STUDENTS: usize = 230;
const PER_PAGE: usize = 100;
const ASSIGNMENTS: [&str; 3] = ["hw1", "hw2", "hw3"];
/// A withdrawn student whose name sorts inside page 2 (between `s100` and `s101`); their
/// grades stay in course.db but belong to no page and to no chart.
const WITHDRAWN: &str = "s1005";

struct Course {
    _dir: TempDir,
    accounts: Accounts,
    db: CourseDb,
}

fn name(i: usize) -> String {
    format!("s{i:03}")
}

fn user(name: &str) -> Username {
    Username::parse(name).unwrap()
}

fn assignment(name: &str) -> AssignmentName {
    AssignmentName::parse(name).unwrap()
}

/// [`STUDENTS`] students with grades, missing grades (pending totals), automatic zeros, a
/// two-reviewee cycle on hw1, a one-reviewee cycle for some on hw2, oopsies on hw1, and a
/// withdrawn student.
fn course() -> Course {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let accounts = Accounts::open(&dir.path().join("accounts.db")).unwrap();
    let db = CourseDb::open(&dir.path().join("course.db")).unwrap();
    let mut people: Vec<(String, Role)> = (0..STUDENTS).map(|i| (name(i), Role::Student)).collect();
    people.push((WITHDRAWN.to_string(), Role::Student));
    people.push(("prof".to_string(), Role::Instructor));
    for (username, role) in &people {
        accounts
            .add_user(&NewUser {
                username: user(username),
                full_name: format!("Student {username}"),
                student_id: None,
                role: *role,
                password: None,
            })
            .unwrap();
    }
    for a in ASSIGNMENTS {
        db.create_assignment(&NewAssignment::dummy(assignment(a)), &accounts, &[])
            .unwrap();
    }
    for i in (0..STUDENTS).step_by(10) {
        db.use_oopsie(&user(&name(i)), &assignment("hw1"), 1, 1)
            .unwrap();
    }

    let mut conn = rusqlite::Connection::open(db.path()).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut grade = tx
            .prepare(
                "INSERT INTO grades (assignment, component, username, score, feedback, \
                 automatic, updated_at) VALUES (?1, ?2, ?3, ?4, '', ?5, 1)",
            )
            .unwrap();
        let mut everyone: Vec<String> = (0..STUDENTS).map(name).collect();
        everyone.push(WITHDRAWN.to_string());
        for (i, student) in everyone.iter().enumerate() {
            for (a, hw) in ASSIGNMENTS.iter().enumerate() {
                for (c, component) in ["initial", "review1", "review2", "final"]
                    .iter()
                    .enumerate()
                {
                    // Some grades are missing, so some totals stay pending.
                    if (*component == "final" && (i + a) % 9 == 0)
                        || (*component == "review1" && i % 13 == 0)
                    {
                        continue;
                    }
                    let score = (i * 37 + a * 11 + c * 7) % 101;
                    let automatic = score % 17 == 0;
                    grade
                        .execute(params![hw, component, student, score, automatic])
                        .unwrap();
                }
            }
        }
        let mut review = tx
            .prepare(
                "INSERT INTO peer_reviews (assignment, reviewer, reviewee, slot) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .unwrap();
        for i in 0..STUDENTS {
            for slot in 1..=2 {
                let reviewee = name((i + slot) % STUDENTS);
                review
                    .execute(params!["hw1", name(i), reviewee, slot])
                    .unwrap();
            }
            if i % 3 == 0 {
                review
                    .execute(params!["hw2", name(i), name((i + 1) % STUDENTS), 1])
                    .unwrap();
            }
        }
    }
    tx.commit().unwrap();
    drop(conn);
    accounts.remove_user(&user(WITHDRAWN)).unwrap();
    Course {
        _dir: dir,
        accounts,
        db,
    }
}

fn filter(assignment_name: Option<&str>, username: Option<&str>) -> Filter {
    Filter {
        assignment: assignment_name.map(assignment),
        user: username.map(user),
    }
}

/// Every page of the gradebook matching `filter`, in order, until the one past the last.
fn all_pages(course: &Course, filter: &Filter) -> Vec<Vec<GradebookRow>> {
    let roster = roster(&course.accounts).unwrap();
    let mut pages = Vec::new();
    for number in 1.. {
        match gradebook_page(&course.db, &roster, filter, number, PER_PAGE) {
            Ok(page) => {
                assert_eq!(page.paging.number, number);
                pages.push(page.rows);
            }
            Err(GradeError::NoSuchPage { page, pages: count }) => {
                assert_eq!((page, count), (number, pages.len()));
                break;
            }
            Err(e) => panic!("page {number}: {e}"),
        }
    }
    pages
}

#[test]
fn the_pages_together_are_the_whole_gradebook_in_order() {
    let course = course();
    let whole = gradebook(&course.db, &course.accounts, &Filter::default()).unwrap();
    assert_eq!(whole.len(), STUDENTS * ASSIGNMENTS.len());
    let pages = all_pages(&course, &Filter::default());
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [300, 300, 90],
        "100 students a page, 3 assignments each"
    );
    assert_eq!(pages.concat(), whole);
    // Page 2 starts where page 1 ends, with the next student.
    assert_eq!(pages[0].last().unwrap().username.as_str(), "s099");
    assert_eq!(pages[1][0].username.as_str(), "s100");
    assert!(whole.iter().all(|r| r.username.as_str() != WITHDRAWN));
}

#[test]
fn a_page_has_the_same_totals_as_the_whole_gradebook() {
    let course = course();
    let whole = gradebook(&course.db, &course.accounts, &Filter::default()).unwrap();
    let page = &all_pages(&course, &Filter::default())[1];
    let oopsie = page
        .iter()
        .find(|r| r.username.as_str() == "s110" && r.assignment.as_str() == "hw1")
        .unwrap();
    assert!(oopsie.oopsie && !oopsie.applicable.review1);
    let reviewer = page
        .iter()
        .find(|r| r.username.as_str() == "s111" && r.assignment.as_str() == "hw1")
        .unwrap();
    assert!(reviewer.applicable.review2 && !reviewer.oopsie);
    for row in page {
        assert!(whole.contains(row), "{row:?}");
    }
}

#[test]
fn filters_and_paging_combine() {
    let course = course();
    let hw2 = filter(Some("hw2"), None);
    let pages = all_pages(&course, &hw2);
    assert_eq!(pages.len(), 3);
    assert!(
        pages
            .concat()
            .iter()
            .all(|r| r.assignment.as_str() == "hw2")
    );
    assert_eq!(
        pages.concat(),
        gradebook(&course.db, &course.accounts, &hw2).unwrap()
    );
    assert_eq!(pages[2].len(), STUDENTS - 2 * PER_PAGE);

    let one = filter(Some("hw1"), Some("s150"));
    let pages = all_pages(&course, &one);
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].len(), 1);
    assert_eq!(pages[0][0].username.as_str(), "s150");

    // Nobody matches: one empty page, and no second one.
    let roster = roster(&course.accounts).unwrap();
    let nobody = filter(None, Some(WITHDRAWN));
    let page = gradebook_page(&course.db, &roster, &nobody, 1, PER_PAGE).unwrap();
    assert!(page.rows.is_empty() && page.students.is_empty());
    assert_eq!((page.paging.pages, page.matching), (1, 0));
    let err = gradebook_page(&course.db, &roster, &nobody, 2, PER_PAGE).unwrap_err();
    assert!(
        matches!(err, GradeError::NoSuchPage { page: 2, pages: 1 }),
        "{err}"
    );
}

/// How many rows of `rows` have each total, per assignment: the distribution from the rows.
fn counted(rows: &[GradebookRow]) -> BTreeMap<String, BTreeMap<String, u32>> {
    let mut out: BTreeMap<String, BTreeMap<String, u32>> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.total.value().is_some()) {
        *out.entry(row.assignment.to_string())
            .or_default()
            .entry(row.total.to_string())
            .or_default() += 1;
    }
    out
}

#[test]
fn the_distribution_counts_every_student_of_the_course_once() {
    let course = course();
    let roster = roster(&course.accounts).unwrap();
    let whole = gradebook(&course.db, &course.accounts, &Filter::default()).unwrap();
    let expected = counted(&whole);
    let d = distribution(&course.db, &roster).unwrap();
    for a in ASSIGNMENTS {
        let name = assignment(a);
        let got: BTreeMap<String, u32> = d
            .counts(&name)
            .iter()
            .map(|(total, n)| (total.to_string(), *n))
            .collect();
        assert_eq!(got, expected[a], "{a}");
        let with_total = whole
            .iter()
            .filter(|r| r.assignment == name && r.total.value().is_some())
            .count();
        assert_eq!(d.students(&name) as usize, with_total, "{a}");
        assert_eq!(d.values(&name).len(), with_total, "{a}");
        // Some totals are pending, and every student with a total is counted, on any page.
        assert!(
            with_total < STUDENTS && with_total > STUDENTS / 2,
            "{a}: {with_total}"
        );
    }
    // The withdrawn student's grades are still stored, and still not counted.
    let theirs = course.db.grades(&filter(None, Some(WITHDRAWN))).unwrap();
    assert!(!theirs.is_empty());
}

#[test]
fn the_kept_distribution_is_counted_again_after_any_change_it_depends_on() {
    let course = course();
    let cache = DistributionCache::default();
    let (hw1, hw2) = (assignment("hw1"), assignment("hw2"));
    let roster = roster(&course.accounts).unwrap();
    let first = cache.get(&course.db, &roster).unwrap();
    let again = cache.get(&course.db, &roster).unwrap();
    assert!(
        Arc::ptr_eq(&first, &again),
        "nothing changed: the kept count"
    );
    // Counted again, and the same as a count from scratch.
    let fresh = |roster: &[accounts::User], previous: &Arc<Distribution>| {
        let kept = cache.get(&course.db, roster).unwrap();
        assert!(!Arc::ptr_eq(&kept, previous));
        assert_eq!(*kept, distribution(&course.db, roster).unwrap());
        kept
    };

    // An instructor's grade through the API: s008 had no final for hw2 (see `course`) and
    // reviews nobody there, so one more total counts.
    let before = first.students(&hw2);
    course
        .db
        .set_grade(
            &course.accounts,
            &GradeEntry {
                assignment: hw2.clone(),
                component: Component::Final,
                username: user("s008"),
                score: Score::new(100).unwrap(),
                feedback: String::new(),
            },
            2,
        )
        .unwrap();
    let after_grade = fresh(&roster, &first);
    assert_eq!(after_grade.students(&hw2), before + 1);

    // An oopsie changes which components count.
    course.db.use_oopsie(&user("s003"), &hw2, 3, 2).unwrap();
    let after_oopsie = fresh(&roster, &after_grade);

    // Another process (the CLI, denis, an operator) writing the database directly.
    let conn = rusqlite::Connection::open(course.db.path()).unwrap();
    conn.execute("DELETE FROM peer_reviews WHERE assignment = 'hw2'", [])
        .unwrap();
    drop(conn);
    let after_cycle = fresh(&roster, &after_oopsie);

    // A student withdrawn from the roster (in accounts.db, which has no stamp) is no longer
    // counted.
    course.accounts.remove_user(&user("s002")).unwrap();
    let smaller = denis::grades::roster(&course.accounts).unwrap();
    let after_withdrawal = fresh(&smaller, &after_cycle);
    assert_eq!(
        after_withdrawal.students(&hw1) + 1,
        after_cycle.students(&hw1)
    );
}
