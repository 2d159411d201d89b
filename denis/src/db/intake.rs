//! What the intake reads from and writes to `course.db` (SPEC §8): the one-transaction record
//! of a processed session, and the lookups classification and the subject-tag check need.

use std::collections::HashSet;

use journal::{MessageId, SubmissionId, Username};
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::{CourseDb, opt_text, text};
use crate::error::CourseDbError;
use crate::model::{
    AssignmentName, Check, Component, Finding, Kind, Severity, Status, overall_severity,
};

/// One processed SMTP session: a row of `submissions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The session's id.
    pub submission_id: SubmissionId,
    /// Who sent it.
    pub username: Username,
    /// When the session authenticated, Unix microseconds; deadlines are judged by it.
    pub auth_time_us: i64,
    /// What it was classified as.
    pub kind: Kind,
    /// The assignment it counts for (patchsets and reviews).
    pub assignment: Option<AssignmentName>,
    /// The component it counts for (accepted patchsets and reviews).
    pub component: Option<Component>,
    /// The outcome.
    pub status: Status,
    /// Local part of the first recipient of its first message.
    pub first_recipient: String,
    /// How many messages the session stored.
    pub message_count: i64,
    /// The stored message the first message replies to, if it names one.
    pub in_reply_to: Option<MessageId>,
    /// When it was processed, Unix seconds.
    pub processed_at: i64,
}

/// The check named in column `idx`; unknown or missing names (older rows) are `None`.
pub(crate) fn check_name(row: &rusqlite::Row<'_>, idx: usize) -> Option<Check> {
    row.get::<_, Option<String>>(idx)
        .ok()
        .flatten()
        .and_then(|name| name.parse().ok())
}

impl Submission {
    /// The gradeable this submission creates: accepted patchsets and reviews do, with the
    /// worst of `findings` as severity.
    pub fn gradeable(&self, findings: &[Finding]) -> Option<Gradeable> {
        if self.status != Status::Accepted {
            return None;
        }
        Some(Gradeable {
            submission_id: self.submission_id,
            username: self.username.clone(),
            assignment: self.assignment.clone()?,
            component: self.component?,
            submitted_at_us: self.auth_time_us,
            severity: overall_severity(findings),
        })
    }
}

/// A submission that counts for a grade: a row of `gradeables`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gradeable {
    /// The submission.
    pub submission_id: SubmissionId,
    /// Its author (the reviewer, for a review).
    pub username: Username,
    /// The assignment.
    pub assignment: AssignmentName,
    /// The component.
    pub component: Component,
    /// The session's AUTH time, Unix microseconds.
    pub submitted_at_us: i64,
    /// The worst finding.
    pub severity: Severity,
}

pub(crate) const SUBMISSION_COLUMNS: &str = "submission_id, username, auth_time_us, kind, \
     assignment, component, status, first_recipient, message_count, in_reply_to, processed_at";

pub(crate) fn submission_from_row(row: &Row<'_>) -> rusqlite::Result<Submission> {
    Ok(Submission {
        submission_id: text(row, 0)?,
        username: text(row, 1)?,
        auth_time_us: row.get(2)?,
        kind: text(row, 3)?,
        assignment: opt_text(row, 4)?,
        component: opt_text(row, 5)?,
        status: text(row, 6)?,
        first_recipient: row.get(7)?,
        message_count: row.get(8)?,
        in_reply_to: opt_text(row, 9)?,
        processed_at: row.get(10)?,
    })
}

pub(crate) const GRADEABLE_COLUMNS: &str =
    "submission_id, username, assignment, component, submitted_at, severity";

pub(crate) fn gradeable_from_row(row: &Row<'_>) -> rusqlite::Result<Gradeable> {
    Ok(Gradeable {
        submission_id: text(row, 0)?,
        username: text(row, 1)?,
        assignment: text(row, 2)?,
        component: text(row, 3)?,
        submitted_at_us: row.get(4)?,
        severity: text(row, 5)?,
    })
}

impl CourseDb {
    /// Records a processed session with its findings and, if it has one, its gradeable, in one
    /// transaction. Returns `false` (and changes nothing) if the session was already recorded:
    /// the row is the intake's proof of "processed", so it is written last, after the git and
    /// journal work, and exactly once.
    pub fn record_submission(
        &self,
        submission: &Submission,
        findings: &[Finding],
    ) -> Result<bool, CourseDbError> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let inserted = tx.execute(
                &format!(
                    "INSERT OR IGNORE INTO submissions ({SUBMISSION_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                ),
                params![
                    submission.submission_id.as_str(),
                    submission.username.as_str(),
                    submission.auth_time_us,
                    submission.kind.as_str(),
                    submission.assignment.as_ref().map(AssignmentName::as_str),
                    submission.component.map(Component::as_str),
                    submission.status.as_str(),
                    submission.first_recipient,
                    submission.message_count,
                    submission.in_reply_to.as_ref().map(MessageId::as_str),
                    submission.processed_at,
                ],
            )?;
            if inserted == 0 {
                return Ok(false);
            }
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO findings (submission_id, seq, severity, message, check_name)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for (seq, finding) in findings.iter().enumerate() {
                    insert.execute(params![
                        submission.submission_id.as_str(),
                        i64::try_from(seq).unwrap_or(i64::MAX),
                        finding.severity.as_str(),
                        finding.message,
                        finding.check.map(Check::as_str),
                    ])?;
                }
            }
            if let Some(g) = submission.gradeable(findings) {
                tx.execute(
                    &format!("INSERT INTO gradeables ({GRADEABLE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                    params![
                        g.submission_id.as_str(),
                        g.username.as_str(),
                        g.assignment.as_str(),
                        g.component.as_str(),
                        g.submitted_at_us,
                        g.severity.as_str(),
                    ],
                )?;
            }
            tx.commit()?;
            Ok(true)
        })
    }

    /// Whether session `id` has been processed.
    pub fn is_processed(&self, id: &SubmissionId) -> Result<bool, CourseDbError> {
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached("SELECT 1 FROM submissions WHERE submission_id = ?1")?
                .exists([id.as_str()])?)
        })
    }

    /// Every processed session id, for the intake's catch-up scan.
    pub fn processed_ids(&self) -> Result<HashSet<SubmissionId>, CourseDbError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached("SELECT submission_id FROM submissions")?;
            let rows = stmt.query_map([], |r| text::<SubmissionId>(r, 0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// The recorded submission `id`, if processed.
    pub fn submission(&self, id: &SubmissionId) -> Result<Option<Submission>, CourseDbError> {
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE submission_id = ?1"
                ))?
                .query_row([id.as_str()], submission_from_row)
                .optional()?)
        })
    }

    /// The gradeable of submission `id`, if it has one.
    pub fn gradeable(&self, id: &SubmissionId) -> Result<Option<Gradeable>, CourseDbError> {
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {GRADEABLE_COLUMNS} FROM gradeables WHERE submission_id = ?1"
                ))?
                .query_row([id.as_str()], gradeable_from_row)
                .optional()?)
        })
    }

    /// The findings of submission `id`, in order.
    pub fn findings(&self, id: &SubmissionId) -> Result<Vec<Finding>, CourseDbError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT severity, message, check_name FROM findings WHERE submission_id = ?1
                 ORDER BY seq",
            )?;
            let rows = stmt.query_map([id.as_str()], |r| {
                Ok(Finding {
                    severity: text(r, 0)?,
                    message: r.get(1)?,
                    check: check_name(r, 2),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// The latest (highest id, i.e. last sent) gradeable of `user` for `assignment` and
    /// `component`.
    pub fn latest_gradeable(
        &self,
        assignment: &AssignmentName,
        component: Component,
        user: &Username,
    ) -> Result<Option<Gradeable>, CourseDbError> {
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {GRADEABLE_COLUMNS} FROM gradeables
                     WHERE assignment = ?1 AND component = ?2 AND username = ?3
                     ORDER BY submission_id DESC LIMIT 1"
                ))?
                .query_row(
                    params![assignment.as_str(), component.as_str(), user.as_str()],
                    gradeable_from_row,
                )
                .optional()?)
        })
    }

    /// How many patchsets `user` sent to `assignment` in sessions before `before` (whatever
    /// became of them): the subject tag of the next one must say `v<count + 1>`.
    pub fn patchsets_before(
        &self,
        user: &Username,
        assignment: &AssignmentName,
        before: &SubmissionId,
    ) -> Result<u32, CourseDbError> {
        self.with_conn(|conn| {
            let count: i64 = conn
                .prepare_cached(
                    "SELECT count(*) FROM submissions
                     WHERE username = ?1 AND assignment = ?2 AND kind = 'patchset'
                       AND submission_id < ?3",
                )?
                .query_row(
                    params![user.as_str(), assignment.as_str(), before.as_str()],
                    |r| r.get(0),
                )?;
            Ok(u32::try_from(count).unwrap_or(u32::MAX))
        })
    }
}
