//! Grades in `course.db` (SPEC §10): instructors' scores with feedback, and the automatic
//! zeros deadlines give for missing or fatal work, which never replace an instructor's grade.

use accounts::{Accounts, Role};
use journal::Username;
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::{CourseDb, text};
use crate::error::CourseDbError;
use crate::grades::{GradeError, Score};
use crate::model::{AssignmentName, Component};
use crate::query::Filter;

/// A recorded grade: a row of `grades`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grade {
    /// The assignment.
    pub assignment: AssignmentName,
    /// The component graded.
    pub component: Component,
    /// The student.
    pub username: Username,
    /// The score.
    pub score: Score,
    /// What the student is told (for automatic zeros: why).
    pub feedback: String,
    /// Given by a deadline, not an instructor.
    pub automatic: bool,
    /// When it was last written, Unix seconds.
    pub updated_at: i64,
}

/// What an instructor enters (`coursemail grade set`, the web's grade form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GradeEntry {
    /// The assignment.
    pub assignment: AssignmentName,
    /// The component graded.
    pub component: Component,
    /// The student.
    pub username: Username,
    /// The score.
    pub score: Score,
    /// Feedback for the student (may be empty).
    pub feedback: String,
}

const GRADE_COLUMNS: &str =
    "assignment, component, username, score, feedback, automatic, updated_at";

fn grade_from_row(row: &Row<'_>) -> rusqlite::Result<Grade> {
    let score: i64 = row.get(3)?;
    let score = u8::try_from(score)
        .ok()
        .and_then(|s| Score::new(s).ok())
        .ok_or(rusqlite::Error::IntegralValueOutOfRange(3, score))?;
    Ok(Grade {
        assignment: text(row, 0)?,
        component: text(row, 1)?,
        username: text(row, 2)?,
        score,
        feedback: row.get(4)?,
        automatic: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

impl CourseDb {
    /// Records an instructor's grade at `now`, replacing whatever was there (an automatic
    /// zero included). The assignment must exist and the user must be a student in
    /// `accounts`, so a typo cannot file a grade nobody sees.
    pub fn set_grade(
        &self,
        accounts: &Accounts,
        entry: &GradeEntry,
        now: i64,
    ) -> Result<Grade, GradeError> {
        if !self.is_assignment(entry.assignment.as_str())? {
            return Err(GradeError::UnknownAssignment(entry.assignment.clone()));
        }
        let is_student = accounts
            .get_user(&entry.username)?
            .is_some_and(|u| u.role == Role::Student);
        if !is_student {
            return Err(GradeError::NotAStudent(entry.username.clone()));
        }
        self.with_conn(|conn| {
            conn.execute(
                &format!(
                    "INSERT OR REPLACE INTO grades ({GRADE_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)"
                ),
                params![
                    entry.assignment.as_str(),
                    entry.component.as_str(),
                    entry.username.as_str(),
                    entry.score.get(),
                    entry.feedback,
                    now
                ],
            )?;
            Ok(())
        })?;
        tracing::info!(
            assignment = %entry.assignment,
            component = %entry.component,
            user = %entry.username,
            score = entry.score.get(),
            "grade set"
        );
        Ok(Grade {
            assignment: entry.assignment.clone(),
            component: entry.component,
            username: entry.username.clone(),
            score: entry.score,
            feedback: entry.feedback.clone(),
            automatic: false,
            updated_at: now,
        })
    }

    /// Gives each `(student, reason)` of `zeros` an automatic 0 for `component` of
    /// `assignment`, where no grade exists yet: never over an instructor's grade, and a second
    /// deadline run changes nothing. Returns how many were written.
    pub(crate) fn auto_zero(
        &self,
        assignment: &AssignmentName,
        component: Component,
        zeros: &[(Username, String)],
        now: i64,
    ) -> Result<u32, CourseDbError> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut written = 0u32;
            {
                let mut insert = tx.prepare_cached(&format!(
                    "INSERT OR IGNORE INTO grades ({GRADE_COLUMNS})
                     VALUES (?1, ?2, ?3, 0, ?4, 1, ?5)"
                ))?;
                for (user, reason) in zeros {
                    let n = insert.execute(params![
                        assignment.as_str(),
                        component.as_str(),
                        user.as_str(),
                        reason,
                        now
                    ])?;
                    written += u32::try_from(n).unwrap_or(0);
                }
            }
            tx.commit()?;
            Ok(written)
        })
    }

    /// The grade of `user` for `component` of `assignment`, if any.
    pub fn grade(
        &self,
        assignment: &AssignmentName,
        component: Component,
        user: &Username,
    ) -> Result<Option<Grade>, CourseDbError> {
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {GRADE_COLUMNS} FROM grades
                     WHERE assignment = ?1 AND component = ?2 AND username = ?3"
                ))?
                .query_row(
                    params![assignment.as_str(), component.as_str(), user.as_str()],
                    grade_from_row,
                )
                .optional()?)
        })
    }

    /// Grades matching `filter`, by assignment, student, then component.
    pub fn grades(&self, filter: &Filter) -> Result<Vec<Grade>, CourseDbError> {
        let (a, u) = (
            filter.assignment.as_ref().map(AssignmentName::as_str),
            filter.user.as_ref().map(Username::as_str),
        );
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {GRADE_COLUMNS} FROM grades
                 WHERE (?1 IS NULL OR assignment = ?1) AND (?2 IS NULL OR username = ?2)
                 ORDER BY assignment, username, component"
            ))?;
            let rows = stmt.query_map(params![a, u], grade_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::assignments::NewAssignment;
    use accounts::NewUser;

    fn course() -> (tempfile::TempDir, CourseDb, Accounts) {
        let dir = tempfile::tempdir().unwrap();
        let db = CourseDb::open(&dir.path().join("course.db")).unwrap();
        let accounts = Accounts::open(&dir.path().join("accounts.db")).unwrap();
        for (name, role) in [("alice", Role::Student), ("prof", Role::Instructor)] {
            accounts
                .add_user(&NewUser {
                    username: Username::parse(name).unwrap(),
                    full_name: name.into(),
                    student_id: None,
                    role,
                    password: None,
                })
                .unwrap();
        }
        db.create_assignment(&NewAssignment::dummy(hw1()), &accounts, &[])
            .unwrap();
        (dir, db, accounts)
    }

    fn hw1() -> AssignmentName {
        AssignmentName::parse("hw1").unwrap()
    }

    fn entry(user: &str, score: u8) -> GradeEntry {
        GradeEntry {
            assignment: hw1(),
            component: Component::Final,
            username: Username::parse(user).unwrap(),
            score: Score::new(score).unwrap(),
            feedback: "well done".into(),
        }
    }

    #[test]
    fn instructor_grade_replaces_an_automatic_zero_and_is_never_replaced_by_one() {
        let (_dir, db, accounts) = course();
        let alice = Username::parse("alice").unwrap();
        let zeros = [(alice.clone(), "no final".to_string())];
        assert_eq!(
            db.auto_zero(&hw1(), Component::Final, &zeros, 1).unwrap(),
            1
        );
        assert_eq!(
            db.auto_zero(&hw1(), Component::Final, &zeros, 2).unwrap(),
            0
        );
        let zero = db.grade(&hw1(), Component::Final, &alice).unwrap().unwrap();
        assert!(zero.automatic && zero.score == Score::ZERO && zero.updated_at == 1);
        db.set_grade(&accounts, &entry("alice", 77), 3).unwrap();
        assert_eq!(
            db.auto_zero(&hw1(), Component::Final, &zeros, 4).unwrap(),
            0
        );
        let graded = db.grade(&hw1(), Component::Final, &alice).unwrap().unwrap();
        assert_eq!((graded.score.get(), graded.automatic), (77, false));
        assert_eq!(graded.feedback, "well done");
    }

    #[test]
    fn grades_go_only_to_students_of_existing_assignments() {
        let (_dir, db, accounts) = course();
        let err = db.set_grade(&accounts, &entry("prof", 50), 1).unwrap_err();
        assert!(matches!(err, GradeError::NotAStudent(_)), "{err}");
        let err = db
            .set_grade(&accounts, &entry("nobody", 50), 1)
            .unwrap_err();
        assert!(matches!(err, GradeError::NotAStudent(_)), "{err}");
        let mut other = entry("alice", 50);
        other.assignment = AssignmentName::parse("hw9").unwrap();
        let err = db.set_grade(&accounts, &other, 1).unwrap_err();
        assert!(err.to_string().contains("no assignment hw9"), "{err}");
        assert!(db.grades(&Filter::default()).unwrap().is_empty());
    }
}
