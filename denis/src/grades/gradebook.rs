//! The gradebook (SPEC §10, §11): one row per student and assignment with each component's
//! score and the total, and its CSV export (`coursemail grade export --csv`, the instructors'
//! download).

use std::collections::{HashMap, HashSet};
use std::io::Write;

use accounts::{Accounts, Role, User};
use journal::Username;

use super::GradeError;
use super::csv::{line, text_cell};
use super::total::{Applicable, ComponentScores, Total, total};
use crate::db::CourseDb;
use crate::db::grades::Grade;
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
    /// Every recorded grade.
    pub grades: Vec<Grade>,
    /// How many reviewees each (assignment, student) was assigned.
    pub reviewees: HashMap<(AssignmentName, Username), usize>,
    /// Who used an oopsie on what.
    pub oopsies: HashSet<(AssignmentName, Username)>,
}

/// The gradebook rows matching `filter` (students only), by student then assignment.
pub fn gradebook(
    db: &CourseDb,
    accounts: &Accounts,
    filter: &Filter,
) -> Result<Vec<GradebookRow>, GradeError> {
    let students = accounts
        .list_users()?
        .into_iter()
        .filter(|u| u.role == Role::Student)
        .filter(|u| filter.user.as_ref().is_none_or(|only| *only == u.username))
        .collect();
    let assignments: Vec<AssignmentName> = db
        .list_assignments()?
        .into_iter()
        .map(|a| a.name)
        .filter(|a| filter.assignment.as_ref().is_none_or(|only| only == a))
        .collect();
    let mut reviewees = HashMap::new();
    let mut oopsies = HashSet::new();
    for assignment in &assignments {
        for pair in db.peer_review_cycle(assignment)? {
            *reviewees
                .entry((assignment.clone(), pair.reviewer))
                .or_insert(0) += 1;
        }
        for user in db.oopsie_users(assignment)? {
            oopsies.insert((assignment.clone(), user));
        }
    }
    let inputs = GradebookInputs {
        students,
        grades: db.grades(filter)?,
        assignments,
        reviewees,
        oopsies,
    };
    Ok(build_rows(inputs))
}

/// The rows for every student and assignment of `inputs` (pure).
pub fn build_rows(inputs: GradebookInputs) -> Vec<GradebookRow> {
    let mut by_key: HashMap<(&str, &str, Component), &Grade> = HashMap::new();
    for g in &inputs.grades {
        by_key.insert((g.assignment.as_str(), g.username.as_str(), g.component), g);
    }
    let mut rows = Vec::with_capacity(inputs.students.len() * inputs.assignments.len());
    for student in &inputs.students {
        for assignment in &inputs.assignments {
            let grade = |c: Component| {
                by_key
                    .get(&(assignment.as_str(), student.username.as_str(), c))
                    .map(|g| (*g).clone())
            };
            let key = (assignment.clone(), student.username.clone());
            let oopsie = inputs.oopsies.contains(&key);
            let reviewees = inputs.reviewees.get(&key).copied().unwrap_or(0);
            let applicable = Applicable::for_student(reviewees, oopsie);
            let (review1, review2, final_) = (
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
                initial: grade(Component::Initial),
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
}
