//! What `coursemail inspect submissions|gradeables|missing|oopsies [--assignment A] [--user U]`
//! shows (SPEC §12): row-returning queries with optional filters. Printing is the CLI's job.

use accounts::{Accounts, Role};
use journal::Username;
use rusqlite::params_from_iter;

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
    /// The `WHERE` clause for a table with `assignment` and `username` columns, naming only the
    /// conditions this filter has, and its parameters. (The single-statement form
    /// `(?1 IS NULL OR username = ?1)` keeps SQLite off every index, so one student's rows would
    /// cost a scan of the whole course.)
    pub(crate) fn where_clause(&self) -> (String, Vec<&str>) {
        let mut conditions = Vec::new();
        let mut values = Vec::new();
        for (column, value) in [
            (
                "assignment",
                self.assignment.as_ref().map(AssignmentName::as_str),
            ),
            ("username", self.user.as_ref().map(Username::as_str)),
        ] {
            if let Some(value) = value {
                values.push(value);
                conditions.push(format!("{column} = ?{}", values.len()));
            }
        }
        if conditions.is_empty() {
            (String::new(), values)
        } else {
            (format!("WHERE {}", conditions.join(" AND ")), values)
        }
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
        let (clause, values) = filter.where_clause();
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {SUBMISSION_COLUMNS} FROM submissions {clause} ORDER BY submission_id"
            ))?;
            let rows = stmt.query_map(params_from_iter(&values), submission_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Gradeables matching `filter` with their findings, oldest first.
    pub fn inspect_gradeables(&self, filter: &Filter) -> Result<Vec<GradeableRow>, CourseDbError> {
        let (clause, values) = filter.where_clause();
        let gradeables: Vec<Gradeable> = self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {GRADEABLE_COLUMNS} FROM gradeables {clause} ORDER BY submission_id"
            ))?;
            let rows = stmt.query_map(params_from_iter(&values), gradeable_from_row)?;
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
        let (clause, values) = filter.where_clause();
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT username, assignment, used_at FROM oopsies {clause}
                 ORDER BY used_at, username"
            ))?;
            let rows = stmt.query_map(params_from_iter(&values), |r| {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(assignment: Option<&str>, user: Option<&str>) -> Filter {
        Filter {
            assignment: assignment.map(|a| AssignmentName::parse(a).unwrap()),
            user: user.map(|u| Username::parse(u).unwrap()),
        }
    }

    #[test]
    fn a_filter_names_only_its_own_conditions() {
        assert_eq!(filter(None, None).where_clause(), (String::new(), vec![]));
        assert_eq!(
            filter(None, Some("alice")).where_clause(),
            ("WHERE username = ?1".to_string(), vec!["alice"])
        );
        assert_eq!(
            filter(Some("hw1"), Some("alice")).where_clause(),
            (
                "WHERE assignment = ?1 AND username = ?2".to_string(),
                vec!["hw1", "alice"]
            )
        );
    }

    #[test]
    fn one_students_rows_are_an_index_search_not_a_scan_of_the_course() {
        let dir = tempfile::tempdir().unwrap();
        let db = CourseDb::open(&dir.path().join("course.db")).unwrap();
        let alice = filter(None, Some("alice"));
        let (clause, values) = alice.where_clause();
        for (table, index) in [
            ("submissions", "submissions_by_user"),
            ("grades", "grades_by_user"),
        ] {
            let plan = db
                .with_conn(|conn| {
                    let sql = format!("EXPLAIN QUERY PLAN SELECT * FROM {table} {clause}");
                    let mut stmt = conn.prepare(&sql)?;
                    let steps = stmt.query_map(params_from_iter(&values), |r| r.get(3))?;
                    Ok(steps.collect::<Result<Vec<String>, _>>()?.join("\n"))
                })
                .unwrap();
            assert!(
                plan.contains(&format!("USING INDEX {index}")),
                "{table}: {plan}"
            );
        }
    }
}
