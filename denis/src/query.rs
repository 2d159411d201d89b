//! What `coursemail inspect submissions|gradeables|missing|oopsies [--assignment A] [--user U]`
//! shows (SPEC §12): row-returning queries with optional filters. Printing is the CLI's job.

use accounts::{Accounts, Role};
use journal::Username;
use rusqlite::params;

use crate::db::intake::{
    GRADEABLE_COLUMNS, Gradeable, SUBMISSION_COLUMNS, Submission, gradeable_from_row,
    submission_from_row,
};
use crate::db::{CourseDb, text};
use crate::error::CourseDbError;
use crate::model::{AssignmentName, Component, Finding};

/// The `--assignment` / `--user` filters; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this assignment.
    pub assignment: Option<AssignmentName>,
    /// Only this user.
    pub user: Option<Username>,
}

impl Filter {
    fn params(&self) -> (Option<&str>, Option<&str>) {
        (
            self.assignment.as_ref().map(AssignmentName::as_str),
            self.user.as_ref().map(Username::as_str),
        )
    }
}

/// A gradeable with the findings students see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GradeableRow {
    /// The gradeable.
    pub gradeable: Gradeable,
    /// Its findings, in order.
    pub findings: Vec<Finding>,
}

/// A student without an initial gradeable for an assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingRow {
    /// The assignment.
    pub assignment: AssignmentName,
    /// The student.
    pub username: Username,
}

/// A used oopsie (SPEC §10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OopsieRow {
    /// The student.
    pub username: Username,
    /// The assignment it applies to.
    pub assignment: AssignmentName,
    /// When it was used, Unix seconds.
    pub used_at: i64,
}

impl CourseDb {
    /// Processed sessions matching `filter`, oldest first. The assignment filter matches
    /// patchsets and reviews of that assignment only.
    pub fn inspect_submissions(&self, filter: &Filter) -> Result<Vec<Submission>, CourseDbError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {SUBMISSION_COLUMNS} FROM submissions
                 WHERE (?1 IS NULL OR assignment = ?1) AND (?2 IS NULL OR username = ?2)
                 ORDER BY submission_id"
            ))?;
            let (a, u) = filter.params();
            let rows = stmt.query_map(params![a, u], submission_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Gradeables matching `filter` with their findings, oldest first.
    pub fn inspect_gradeables(&self, filter: &Filter) -> Result<Vec<GradeableRow>, CourseDbError> {
        let gradeables: Vec<Gradeable> = self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {GRADEABLE_COLUMNS} FROM gradeables
                 WHERE (?1 IS NULL OR assignment = ?1) AND (?2 IS NULL OR username = ?2)
                 ORDER BY submission_id"
            ))?;
            let (a, u) = filter.params();
            let rows = stmt.query_map(params![a, u], gradeable_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        gradeables
            .into_iter()
            .map(|gradeable| {
                let findings = self.findings(&gradeable.submission_id)?;
                Ok(GradeableRow {
                    gradeable,
                    findings,
                })
            })
            .collect()
    }

    /// Students (role student, not instructors) with no initial gradeable, per assignment
    /// matching `filter`, by assignment then username.
    pub fn missing(
        &self,
        filter: &Filter,
        accounts: &Accounts,
    ) -> Result<Vec<MissingRow>, CourseDbError> {
        let students: Vec<Username> = accounts
            .list_users()?
            .into_iter()
            .filter(|u| u.role == Role::Student)
            .map(|u| u.username)
            .filter(|u| filter.user.as_ref().is_none_or(|only| only == u))
            .collect();
        let mut rows = Vec::new();
        for assignment in self.list_assignments()? {
            if filter
                .assignment
                .as_ref()
                .is_some_and(|only| *only != assignment.name)
            {
                continue;
            }
            for student in &students {
                let submitted = self
                    .latest_gradeable(&assignment.name, Component::Initial, student)?
                    .is_some();
                if !submitted {
                    rows.push(MissingRow {
                        assignment: assignment.name.clone(),
                        username: student.clone(),
                    });
                }
            }
        }
        Ok(rows)
    }

    /// Used oopsies matching `filter`, by time of use.
    pub fn inspect_oopsies(&self, filter: &Filter) -> Result<Vec<OopsieRow>, CourseDbError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT username, assignment, used_at FROM oopsies
                 WHERE (?1 IS NULL OR assignment = ?1) AND (?2 IS NULL OR username = ?2)
                 ORDER BY used_at, username",
            )?;
            let (a, u) = filter.params();
            let rows = stmt.query_map(params![a, u], |r| {
                Ok(OopsieRow {
                    username: text(r, 0)?,
                    assignment: text(r, 1)?,
                    used_at: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}
