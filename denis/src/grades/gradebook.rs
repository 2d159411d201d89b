//! The gradebook (SPEC §10, §11): one row per student and assignment with each component's
//! score and the total, and its CSV export (`coursemail grade export --csv`, the instructors'
//! download).
//!
//! The whole gradebook ([`gradebook()`]) is for the export; the instructors' page shows one
//! [`gradebook_page`] at a time. Either way the rows come from three queries whatever the
//! number of students (assignments, then grades and standing by username range), and
//! [`build_rows`] computes the totals, purely.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::ops::Range;

use accounts::{Accounts, Role, User};
use journal::Username;

use super::GradeError;
use super::csv::{line, text_cell};
use super::total::{Applicable, ComponentScores, Total, total};
use crate::db::CourseDb;
use crate::db::grades::{Grade, Standing};
use crate::model::{AssignmentName, Component};
use crate::query::Filter;

/// The CSV header; [`write_csv`] writes the columns in this order.
pub const CSV_HEADER: [&str; 9] = [
    "username",
    "full_name",
    "student_id",
    "assignment",
    "initial",
    "review1",
    "review2",
    "final",
    "total",
];

/// One student's grades for one assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GradebookRow {
    /// The student.
    pub username: Username,
    /// Their display name.
    pub full_name: String,
    /// Their university id, if known.
    pub student_id: Option<String>,
    /// The assignment.
    pub assignment: AssignmentName,
    /// The initial's grade (recorded, not part of the total).
    pub initial: Option<Grade>,
    /// The first review's grade.
    pub review1: Option<Grade>,
    /// The second review's grade.
    pub review2: Option<Grade>,
    /// The final's grade.
    pub final_: Option<Grade>,
    /// Which components count for the total.
    pub applicable: Applicable,
    /// Whether the student used an oopsie on this assignment.
    pub oopsie: bool,
    /// The total (SPEC §10).
    pub total: Total,
}

/// What the rows are computed from: everything read from the databases, so that
/// [`build_rows`] is pure.
#[derive(Debug, Default)]
pub struct GradebookInputs {
    /// The students, in output order.
    pub students: Vec<User>,
    /// The assignments, in output order.
    pub assignments: Vec<AssignmentName>,
    /// The recorded grades (of other students too: only those of `students` are used).
    pub grades: Vec<Grade>,
    /// How many reviewees each (assignment, student) was assigned.
    pub reviewees: HashMap<(AssignmentName, Username), usize>,
    /// Who used an oopsie on what.
    pub oopsies: HashSet<(AssignmentName, Username)>,
}

/// Which students one page of the gradebook shows: pages of `per_page` students in username
/// order, numbered from 1. An empty roster still has its first page, empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    /// This page's number, from 1.
    pub number: usize,
    /// How many pages there are.
    pub pages: usize,
    /// The positions of this page's students among all the students shown.
    pub students: Range<usize>,
}

impl Paging {
    /// Page `number` of `count` students, `per_page` at a time (at least 1); a page past the
    /// last, or page 0, is [`GradeError::NoSuchPage`] (pure).
    pub fn new(count: usize, per_page: usize, number: usize) -> Result<Paging, GradeError> {
        let per_page = per_page.max(1);
        let pages = count.div_ceil(per_page).max(1);
        if number == 0 || number > pages {
            return Err(GradeError::NoSuchPage {
                page: number,
                pages,
            });
        }
        let start = (number - 1) * per_page;
        Ok(Paging {
            number,
            pages,
            students: start..count.min(start + per_page),
        })
    }
}

/// One page of the gradebook.
#[derive(Debug)]
pub struct GradebookPage {
    /// The rows of this page's students, by student then assignment.
    pub rows: Vec<GradebookRow>,
    /// This page's students, by username (also those without a row: no assignment yet).
    pub students: Vec<User>,
    /// Where this page is among all of them.
    pub paging: Paging,
    /// How many students the filter matches, on every page together.
    pub matching: usize,
}

/// The course's students, by username: everyone the gradebook has rows for. One read of the
/// roster in accounts.db, shared by a page and the grade distribution.
pub fn roster(accounts: &Accounts) -> Result<Vec<User>, GradeError> {
    Ok(accounts
        .list_users()?
        .into_iter()
        .filter(|u| u.role == Role::Student)
        .collect())
}

/// The gradebook rows matching `filter` (students only), by student then assignment.
pub fn gradebook(
    db: &CourseDb,
    accounts: &Accounts,
    filter: &Filter,
) -> Result<Vec<GradebookRow>, GradeError> {
    let students = roster(accounts)?
        .into_iter()
        .filter(|u| filter.user.as_ref().is_none_or(|only| *only == u.username))
        .collect();
    rows_of(db, students, filter)
}

/// Page `number` (from 1) of the gradebook of `roster` (as [`roster`] returns it) matching
/// `filter`, `per_page` students a page. The queries read this page's students' grades and
/// standing only, so a page costs the same in a course of any size.
pub fn gradebook_page(
    db: &CourseDb,
    roster: &[User],
    filter: &Filter,
    number: usize,
    per_page: usize,
) -> Result<GradebookPage, GradeError> {
    let matching: Vec<&User> = roster
        .iter()
        .filter(|u| filter.user.as_ref().is_none_or(|only| *only == u.username))
        .collect();
    let paging = Paging::new(matching.len(), per_page, number)?;
    let students: Vec<User> = matching[paging.students.clone()]
        .iter()
        .map(|u| (*u).clone())
        .collect();
    let rows = rows_of(db, students.clone(), filter)?;
    Ok(GradebookPage {
        rows,
        students,
        paging,
        matching: matching.len(),
    })
}

/// The rows of `students` for the assignments `filter` names (or all): grades and standing
/// are read for the username range the students span, one query each, so the cost follows
/// the number of students asked for, not the size of the course.
fn rows_of(
    db: &CourseDb,
    students: Vec<User>,
    filter: &Filter,
) -> Result<Vec<GradebookRow>, GradeError> {
    let assignments: Vec<AssignmentName> = db
        .list_assignments()?
        .into_iter()
        .map(|a| a.name)
        .filter(|a| filter.assignment.as_ref().is_none_or(|only| only == a))
        .collect();
    let span = (
        students.iter().map(|u| &u.username).min(),
        students.iter().map(|u| &u.username).max(),
    );
    let (grades, standing) = match span {
        (Some(first), Some(last)) if !assignments.is_empty() => {
            let only = filter.assignment.as_ref();
            (
                db.grades_in_range(first, last, only)?,
                db.standing_in_range(first, last, only)?,
            )
        }
        _ => (Vec::new(), Standing::default()),
    };
    Ok(build_rows(GradebookInputs {
        students,
        assignments,
        grades,
        reviewees: standing.reviewees,
        oopsies: standing.oopsies,
    }))
}

/// The rows for every student and assignment of `inputs` (pure).
pub fn build_rows(inputs: GradebookInputs) -> Vec<GradebookRow> {
    let GradebookInputs {
        students,
        assignments,
        grades,
        reviewees,
        oopsies,
    } = inputs;
    let student_at: HashMap<&str, usize> = students
        .iter()
        .enumerate()
        .map(|(i, u)| (u.username.as_str(), i))
        .collect();
    let assignment_at: HashMap<&str, usize> = assignments
        .iter()
        .enumerate()
        .map(|(i, a)| (a.as_str(), i))
        .collect();
    // One cell per (student, assignment, component), in row order; each grade moves into its
    // cell and then into its row, never copied.
    let components = Component::ALL.len();
    let cell_of = |s: usize, a: usize, c: Component| {
        let c = Component::ALL.iter().position(|x| *x == c).unwrap_or(0);
        (s * assignments.len() + a) * components + c
    };
    let mut cells: Vec<Option<Grade>> = Vec::new();
    cells.resize_with(students.len() * assignments.len() * components, || None);
    for g in grades {
        let s = student_at.get(g.username.as_str()).copied();
        let a = assignment_at.get(g.assignment.as_str()).copied();
        if let (Some(s), Some(a)) = (s, a) {
            let at = cell_of(s, a, g.component);
            cells[at] = Some(g);
        }
    }
    let reviewees: HashMap<(&str, &str), usize> = reviewees
        .iter()
        .map(|((a, u), n)| ((a.as_str(), u.as_str()), *n))
        .collect();
    let oopsies: HashSet<(&str, &str)> = oopsies
        .iter()
        .map(|(a, u)| (a.as_str(), u.as_str()))
        .collect();
    let mut rows = Vec::with_capacity(students.len() * assignments.len());
    for (s, student) in students.iter().enumerate() {
        for (a, assignment) in assignments.iter().enumerate() {
            let mut grade = |c: Component| cells[cell_of(s, a, c)].take();
            let key = (assignment.as_str(), student.username.as_str());
            let oopsie = oopsies.contains(&key);
            let applicable =
                Applicable::for_student(reviewees.get(&key).copied().unwrap_or(0), oopsie);
            let (initial, review1, review2, final_) = (
                grade(Component::Initial),
                grade(Component::Review1),
                grade(Component::Review2),
                grade(Component::Final),
            );
            let scores = ComponentScores {
                final_: final_.as_ref().map(|g| g.score),
                review1: review1.as_ref().map(|g| g.score),
                review2: review2.as_ref().map(|g| g.score),
            };
            rows.push(GradebookRow {
                username: student.username.clone(),
                full_name: student.full_name.clone(),
                student_id: student.student_id.clone(),
                assignment: assignment.clone(),
                initial,
                total: total(applicable, &scores),
                review1,
                review2,
                final_,
                applicable,
                oopsie,
            });
        }
    }
    rows
}

/// A component's cell: its score, empty while missing, `n/a` when it does not apply to the
/// student and has no grade.
fn cell(grade: Option<&Grade>, applies: bool) -> String {
    match grade {
        Some(g) => g.score.to_string(),
        None if applies => String::new(),
        None => "n/a".to_string(),
    }
}

/// Writes `rows` as CSV (header first, RFC 4180 quoting, CRLF) to `out`.
pub fn write_csv(rows: &[GradebookRow], out: &mut impl Write) -> Result<(), GradeError> {
    out.write_all(line(&CSV_HEADER).as_bytes())
        .map_err(GradeError::Write)?;
    for row in rows {
        let fields = [
            row.username.to_string(),
            text_cell(&row.full_name).into_owned(),
            text_cell(row.student_id.as_deref().unwrap_or("")).into_owned(),
            row.assignment.to_string(),
            // An oopsie user's initial does not matter (SPEC §10), so it has no automatic zero.
            cell(row.initial.as_ref(), !row.oopsie),
            cell(row.review1.as_ref(), row.applicable.review1),
            cell(row.review2.as_ref(), row.applicable.review2),
            cell(row.final_.as_ref(), true),
            row.total.to_string(),
        ];
        out.write_all(line(&fields).as_bytes())
            .map_err(GradeError::Write)?;
    }
    out.flush().map_err(GradeError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grades::Score;

    fn student(name: &str, full: &str) -> User {
        User {
            username: Username::parse(name).unwrap(),
            full_name: full.to_string(),
            student_id: Some("s1".to_string()),
            role: Role::Student,
            has_password: true,
            created_at: 0,
        }
    }

    fn grade(user: &str, component: Component, score: u8) -> Grade {
        Grade {
            assignment: AssignmentName::parse("hw1").unwrap(),
            component,
            username: Username::parse(user).unwrap(),
            score: Score::new(score).unwrap(),
            feedback: String::new(),
            automatic: false,
            updated_at: 0,
        }
    }

    #[test]
    fn rows_cover_every_student_and_assignment_with_their_totals_as_csv() {
        let hw1 = AssignmentName::parse("hw1").unwrap();
        let alice = Username::parse("alice").unwrap();
        let inputs = GradebookInputs {
            students: vec![student("alice", "Liddell, Alice"), student("bob", "=cmd")],
            assignments: vec![hw1.clone()],
            grades: vec![
                grade("alice", Component::Final, 90),
                grade("alice", Component::Review1, 100),
                grade("bob", Component::Final, 70),
            ],
            reviewees: HashMap::from([((hw1.clone(), alice), 1)]),
            oopsies: HashSet::new(),
        };
        let rows = build_rows(inputs);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].total.to_string(), "91.1");
        assert_eq!(rows[1].total.to_string(), "70.0");
        let mut out = Vec::new();
        write_csv(&rows, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "username,full_name,student_id,assignment,initial,review1,review2,final,total\r\n\
             alice,\"Liddell, Alice\",s1,hw1,,100,n/a,90,91.1\r\n\
             bob,'=cmd,s1,hw1,,n/a,n/a,70,70.0\r\n"
        );
    }

    #[test]
    fn pages_split_the_students_in_order_and_the_last_one_holds_the_rest() {
        let first = Paging::new(250, 100, 1).unwrap();
        assert_eq!((first.students, first.pages), (0..100, 3));
        assert_eq!(Paging::new(250, 100, 3).unwrap().students, 200..250);
        assert_eq!(Paging::new(200, 100, 2).unwrap().students, 100..200);
        let empty = Paging::new(0, 100, 1).unwrap();
        assert_eq!((empty.students, empty.pages), (0..0, 1));
    }

    #[test]
    fn a_page_past_the_last_or_page_zero_does_not_exist() {
        for (count, number) in [(250, 4), (250, 0), (0, 2), (200, 3)] {
            let err = Paging::new(count, 100, number).unwrap_err();
            assert!(
                matches!(err, GradeError::NoSuchPage { page, .. } if page == number),
                "{err}"
            );
        }
        let err = Paging::new(250, 100, 9).unwrap_err();
        assert_eq!(
            err.to_string(),
            "there is no page 9 of the gradebook: it has 3 pages, numbered from 1"
        );
    }
}
