//! What one student's dashboard reads from `course.db` (SPEC §10): their submissions,
//! gradeables with findings, grades, the reviewees they were assigned and their oopsies, all
//! searched by username in one read transaction.
//!
//! The dashboard is the most visited page, so it must cost one student's rows whatever the
//! size of the course: every statement here searches an index by username (see the test of
//! the plans below) rather than reading an assignment's whole cycle or the course's grades.
//! Use it as `db.student_record(&user)?`.

use std::collections::{BTreeSet, HashMap};

use journal::{SubmissionId, Username};
use rusqlite::Transaction;

use super::grades::{GRADE_COLUMNS, Grade, grade_from_row};
use super::intake::{
    GRADEABLE_COLUMNS, Gradeable, SUBMISSION_COLUMNS, Submission, gradeable_from_row,
    submission_from_row,
};
use super::reviews::PeerReview;
use super::{CourseDb, text};
use crate::error::CourseDbError;
use crate::model::{AssignmentName, Finding, ReviewSlot};
use crate::query::GradeableRow;

/// Everything of one student that their dashboard shows, read at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StudentRecord {
    /// Their sessions that concern an assignment (patchsets, reviews), by submission id.
    pub submissions: Vec<Submission>,
    /// Their gradeables of existing assignments with findings, by submission id.
    pub gradeables: Vec<GradeableRow>,
    /// Their grades, by assignment then component.
    pub grades: Vec<Grade>,
    /// The reviews they were assigned, by assignment then slot.
    pub reviews: Vec<PeerReview>,
    /// The assignments they used an oopsie on.
    pub oopsies: BTreeSet<AssignmentName>,
}

/// `submissions_by_user` holds (username, assignment): `IS NOT NULL` keeps it one range.
const SUBMISSIONS_SQL: &str = "submissions WHERE username = ?1 AND assignment IS NOT NULL \
     ORDER BY submission_id";

/// `gradeables_by_assignment` starts with (assignment, component, username): naming every
/// assignment and component turns it into one index search per pair instead of a scan of the
/// course's gradeables, without an index of its own.
const MY_GRADEABLES: &str = "assignment IN (SELECT name FROM assignments)
     AND component IN ('initial', 'review1', 'review2', 'final') AND username = ?1";

fn gradeables_sql() -> String {
    format!(
        "SELECT {GRADEABLE_COLUMNS} FROM gradeables WHERE {MY_GRADEABLES} ORDER BY submission_id"
    )
}

fn findings_sql() -> String {
    format!(
        "SELECT f.submission_id, f.severity, f.message, f.check_name FROM findings f
         WHERE f.submission_id IN (SELECT submission_id FROM gradeables WHERE {MY_GRADEABLES})
         ORDER BY f.submission_id, f.seq"
    )
}

/// `grades_by_user` starts with the username.
fn grades_sql() -> String {
    format!("SELECT {GRADE_COLUMNS} FROM grades WHERE username = ?1 ORDER BY assignment, component")
}

/// `peer_reviews_by_reviewer` starts with the reviewer.
const REVIEWS_SQL: &str = "SELECT assignment, reviewee, slot FROM peer_reviews
     WHERE reviewer = ?1 ORDER BY assignment, slot";

/// The primary key of `oopsies` starts with the username.
const OOPSIES_SQL: &str = "SELECT assignment FROM oopsies WHERE username = ?1";

impl CourseDb {
    /// The [`StudentRecord`] of `user`: six index searches by username, in one read
    /// transaction so that a total never mixes grades from before a write with reviews from
    /// after it.
    pub fn student_record(&self, user: &Username) -> Result<StudentRecord, CourseDbError> {
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            let record = read_record(&tx, user)?;
            tx.commit()?;
            Ok(record)
        })
    }
}

fn read_record(tx: &Transaction<'_>, user: &Username) -> Result<StudentRecord, CourseDbError> {
    let me = [user.as_str()];
    let submissions = tx
        .prepare_cached(&format!(
            "SELECT {SUBMISSION_COLUMNS} FROM {SUBMISSIONS_SQL}"
        ))?
        .query_map(me, submission_from_row)?
        .collect::<Result<_, _>>()?;
    let mut findings: HashMap<SubmissionId, Vec<Finding>> = HashMap::new();
    {
        let mut stmt = tx.prepare_cached(&findings_sql())?;
        let rows = stmt.query_map(me, |r| {
            let id: SubmissionId = text(r, 0)?;
            let finding = Finding {
                severity: text(r, 1)?,
                message: r.get(2)?,
                check: super::intake::check_name(r, 3),
            };
            Ok((id, finding))
        })?;
        for row in rows {
            let (id, finding) = row?;
            findings.entry(id).or_default().push(finding);
        }
    }
    let gradeables: Vec<Gradeable> = tx
        .prepare_cached(&gradeables_sql())?
        .query_map(me, gradeable_from_row)?
        .collect::<Result<_, _>>()?;
    let gradeables = gradeables
        .into_iter()
        .map(|gradeable| GradeableRow {
            findings: findings
                .remove(&gradeable.submission_id)
                .unwrap_or_default(),
            gradeable,
        })
        .collect();
    let grades = tx
        .prepare_cached(&grades_sql())?
        .query_map(me, grade_from_row)?
        .collect::<Result<_, _>>()?;
    let reviews = tx
        .prepare_cached(REVIEWS_SQL)?
        .query_map(me, |r| {
            let slot: i64 = r.get(2)?;
            Ok(PeerReview {
                assignment: text(r, 0)?,
                reviewer: user.clone(),
                reviewee: text(r, 1)?,
                slot: ReviewSlot::from_number(slot)
                    .ok_or(rusqlite::Error::IntegralValueOutOfRange(2, slot))?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let oopsies = tx
        .prepare_cached(OOPSIES_SQL)?
        .query_map(me, |r| text(r, 0))?
        .collect::<Result<_, _>>()?;
    Ok(StudentRecord {
        submissions,
        gradeables,
        grades,
        reviews,
        oopsies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each statement's plan, one line per step.
    fn plans(db: &CourseDb) -> Vec<String> {
        let statements = [
            format!("SELECT {SUBMISSION_COLUMNS} FROM {SUBMISSIONS_SQL}"),
            gradeables_sql(),
            findings_sql(),
            grades_sql(),
            REVIEWS_SQL.to_string(),
            OOPSIES_SQL.to_string(),
        ];
        statements
            .iter()
            .map(|sql| {
                db.with_conn(|conn| {
                    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                    let steps = stmt.query_map(["alice"], |r| r.get::<_, String>(3))?;
                    Ok(steps.collect::<Result<Vec<_>, _>>()?.join("\n"))
                })
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn every_statement_searches_by_username_and_none_scans_a_table() {
        let dir = tempfile::tempdir().unwrap();
        let db = CourseDb::open(&dir.path().join("course.db")).unwrap();
        let plans = plans(&db);
        let expected = [
            "SEARCH submissions USING INDEX submissions_by_user (username=? AND assignment>?)",
            "SEARCH gradeables USING INDEX gradeables_by_assignment \
             (assignment=? AND component=? AND username=?)",
            "SEARCH gradeables USING COVERING INDEX gradeables_by_assignment \
             (assignment=? AND component=? AND username=?)",
            "SEARCH grades USING INDEX grades_by_user (username=?)",
            "SEARCH peer_reviews USING INDEX peer_reviews_by_reviewer (reviewer=?)",
            "SEARCH oopsies USING COVERING INDEX sqlite_autoindex_oopsies_1 (username=?)",
        ];
        for (plan, step) in plans.iter().zip(expected) {
            assert!(plan.contains(step), "wanted {step} in:\n{plan}");
            assert!(!plan.contains("SCAN"), "a scan in:\n{plan}");
        }
    }
}
