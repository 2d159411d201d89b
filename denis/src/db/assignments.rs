//! Assignments and peer-review assignments in `course.db` (SPEC §9): create, get, list, the
//! cheap recipient check smtp uses, and the reviewer table the initial deadline fills.

use accounts::Accounts;
use journal::Username;
use rusqlite::{OptionalExtension, Row, params};

use super::{CourseDb, text};
use crate::error::CourseDbError;
use crate::model::{Assignment, AssignmentName, Deadlines, ReviewSlot};
use database::unix_now;

/// What `coursemail assignment create|dummy` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAssignment {
    /// The name, also the address students send series to.
    pub name: AssignmentName,
    /// Scheduled deadlines; all `None` for a dummy assignment.
    pub deadlines: Deadlines,
    /// A dummy assignment's deadlines run only when triggered.
    pub dummy: bool,
}

impl NewAssignment {
    /// A scheduled assignment with all three deadlines (Unix seconds).
    pub fn scheduled(name: AssignmentName, initial: i64, peer_review: i64, final_: i64) -> Self {
        NewAssignment {
            name,
            deadlines: Deadlines {
                initial: Some(initial),
                peer_review: Some(peer_review),
                final_: Some(final_),
            },
            dummy: false,
        }
    }

    /// A dummy assignment: no deadline has passed until one is triggered.
    pub fn dummy(name: AssignmentName) -> Self {
        NewAssignment {
            name,
            deadlines: Deadlines::default(),
            dummy: true,
        }
    }
}

const ASSIGNMENT_COLUMNS: &str = "name, initial_at, peer_review_at, final_at, dummy, created_at";

fn assignment_from_row(row: &Row<'_>) -> rusqlite::Result<Assignment> {
    Ok(Assignment {
        name: text(row, 0)?,
        deadlines: Deadlines {
            initial: row.get(1)?,
            peer_review: row.get(2)?,
            final_: row.get(3)?,
        },
        dummy: row.get(4)?,
        created_at: row.get(5)?,
    })
}

impl CourseDb {
    /// Creates an assignment. Its name must not be a username (in `accounts`) nor one of the
    /// `reserved` addresses (the configured list addresses): all of them share one namespace of
    /// local parts, and smtp routes by it.
    pub fn create_assignment(
        &self,
        new: &NewAssignment,
        accounts: &Accounts,
        reserved: &[String],
    ) -> Result<Assignment, CourseDbError> {
        new.deadlines.check_order()?;
        let name = &new.name;
        if reserved.iter().any(|r| r == name.as_str()) {
            return Err(CourseDbError::NameTaken {
                name: name.clone(),
                taken_by: "a list address",
            });
        }
        // Valid as an assignment name means valid as a username: the rules are the same.
        if let Ok(user) = Username::parse(name.as_str())
            && accounts.get_user(&user)?.is_some()
        {
            return Err(CourseDbError::NameTaken {
                name: name.clone(),
                taken_by: "a username",
            });
        }
        let created_at = unix_now();
        self.with_conn(|conn| {
            let inserted = conn.execute(
                "INSERT OR IGNORE INTO assignments
                     (name, initial_at, peer_review_at, final_at, dummy, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    name.as_str(),
                    new.deadlines.initial,
                    new.deadlines.peer_review,
                    new.deadlines.final_,
                    new.dummy,
                    created_at
                ],
            )?;
            if inserted == 0 {
                return Err(CourseDbError::AssignmentExists(name.clone()));
            }
            Ok(())
        })?;
        tracing::info!(assignment = %name, dummy = new.dummy, "created assignment");
        Ok(Assignment {
            name: name.clone(),
            deadlines: new.deadlines,
            dummy: new.dummy,
            created_at,
        })
    }

    /// The assignment called `name`, if any.
    pub fn get_assignment(&self, name: &str) -> Result<Option<Assignment>, CourseDbError> {
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE name = ?1"
                ))?
                .query_row([name], assignment_from_row)
                .optional()?)
        })
    }

    /// Every assignment, by name.
    pub fn list_assignments(&self) -> Result<Vec<Assignment>, CourseDbError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {ASSIGNMENT_COLUMNS} FROM assignments ORDER BY name"
            ))?;
            let rows = stmt.query_map([], assignment_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Whether `local_part` names an assignment: the recipient check smtp runs at RCPT (one
    /// primary-key lookup).
    pub fn is_assignment(&self, local_part: &str) -> Result<bool, CourseDbError> {
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached("SELECT 1 FROM assignments WHERE name = ?1")?
                .exists([local_part])?)
        })
    }

    /// Records that `reviewer` reviews `reviewee` in `slot` for `assignment` (the initial
    /// deadline does this for the whole cycle). Idempotent for the same triple.
    pub fn assign_reviewer(
        &self,
        assignment: &AssignmentName,
        reviewer: &Username,
        reviewee: &Username,
        slot: ReviewSlot,
    ) -> Result<(), CourseDbError> {
        self.with_conn(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO peer_reviews (assignment, reviewer, reviewee, slot)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    assignment.as_str(),
                    reviewer.as_str(),
                    reviewee.as_str(),
                    slot.number()
                ],
            )?;
            Ok(())
        })
    }

    /// The slot in which `reviewer` reviews `reviewee` for `assignment`, if assigned.
    pub fn review_slot(
        &self,
        assignment: &AssignmentName,
        reviewer: &Username,
        reviewee: &Username,
    ) -> Result<Option<ReviewSlot>, CourseDbError> {
        self.with_conn(|conn| {
            let slot: Option<i64> = conn
                .prepare_cached(
                    "SELECT slot FROM peer_reviews
                     WHERE assignment = ?1 AND reviewer = ?2 AND reviewee = ?3",
                )?
                .query_row(
                    params![assignment.as_str(), reviewer.as_str(), reviewee.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(slot.and_then(ReviewSlot::from_number))
        })
    }
}

/// What [`CourseDb::remove_assignment`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The assignment is gone, with its reviewer table, oopsies and deadline runs.
    Removed,
    /// No assignment has that name.
    NotFound,
    /// Work or grades count for it, so it stays: removing it would orphan them.
    InUse {
        /// How many processed sessions name the assignment.
        submissions: u64,
        /// How many grades (automatic zeros included) were recorded for it.
        grades: u64,
    },
}

impl CourseDb {
    /// Changes the deadlines of assignment `name`: each deadline set in `changes` replaces the
    /// stored one, the others stay. The result must still be in order (initial ≤ peer review ≤
    /// final). Returns the updated assignment, or `None` if no assignment has that name.
    ///
    /// A dummy assignment's deadlines are the times its deadlines were triggered, not a
    /// schedule; callers refuse to alter those (`coursemail assignment alter` does).
    pub fn alter_assignment(
        &self,
        name: &AssignmentName,
        changes: &Deadlines,
    ) -> Result<Option<Assignment>, CourseDbError> {
        let altered = self.with_conn(|conn| {
            // IMMEDIATE: the read and the order check hold for the row that is written.
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let found = tx
                .prepare_cached(&format!(
                    "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE name = ?1"
                ))?
                .query_row([name.as_str()], assignment_from_row)
                .optional()?;
            let Some(mut assignment) = found else {
                return Ok(None);
            };
            let d = &mut assignment.deadlines;
            d.initial = changes.initial.or(d.initial);
            d.peer_review = changes.peer_review.or(d.peer_review);
            d.final_ = changes.final_.or(d.final_);
            d.check_order()?;
            tx.execute(
                "UPDATE assignments SET initial_at = ?2, peer_review_at = ?3, final_at = ?4
                 WHERE name = ?1",
                params![name.as_str(), d.initial, d.peer_review, d.final_],
            )?;
            tx.commit()?;
            Ok(Some(assignment))
        })?;
        if altered.is_some() {
            tracing::info!(assignment = %name, "altered assignment deadlines");
        }
        Ok(altered)
    }

    /// Removes assignment `name` if nothing was submitted to it and no grade was recorded for
    /// it (a mistaken creation), together with its peer-review table, oopsies and deadline runs;
    /// otherwise it is kept.
    pub fn remove_assignment(&self, name: &AssignmentName) -> Result<Removal, CourseDbError> {
        let removal = self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let count = |sql: &str| -> Result<u64, CourseDbError> {
                let n: i64 = tx
                    .prepare_cached(sql)?
                    .query_row([name.as_str()], |r| r.get(0))?;
                Ok(u64::try_from(n).unwrap_or(0))
            };
            let submissions = count("SELECT count(*) FROM submissions WHERE assignment = ?1")?;
            let grades = count("SELECT count(*) FROM grades WHERE assignment = ?1")?;
            if submissions > 0 || grades > 0 {
                return Ok(Removal::InUse {
                    submissions,
                    grades,
                });
            }
            for table in ["peer_reviews", "oopsies", "deadline_runs"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE assignment = ?1"),
                    [name.as_str()],
                )?;
            }
            let deleted = tx.execute("DELETE FROM assignments WHERE name = ?1", [name.as_str()])?;
            tx.commit()?;
            Ok(if deleted == 0 {
                Removal::NotFound
            } else {
                Removal::Removed
            })
        })?;
        if removal == Removal::Removed {
            tracing::info!(assignment = %name, "removed assignment");
        }
        Ok(removal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn course() -> (tempfile::TempDir, CourseDb, Accounts) {
        let dir = tempfile::tempdir().unwrap();
        let db = CourseDb::open(&dir.path().join("course.db")).unwrap();
        let accounts = Accounts::open(&dir.path().join("accounts.db")).unwrap();
        (dir, db, accounts)
    }

    fn name(s: &str) -> AssignmentName {
        AssignmentName::parse(s).unwrap()
    }

    #[test]
    fn alter_replaces_only_the_given_deadlines_and_keeps_them_in_order() {
        let (_dir, db, accounts) = course();
        db.create_assignment(
            &NewAssignment::scheduled(name("hw1"), 10, 20, 30),
            &accounts,
            &[],
        )
        .unwrap();
        let only_final = Deadlines {
            final_: Some(40),
            ..Deadlines::default()
        };
        let altered = db.alter_assignment(&name("hw1"), &only_final).unwrap();
        let expected = Deadlines {
            initial: Some(10),
            peer_review: Some(20),
            final_: Some(40),
        };
        assert_eq!(altered.unwrap().deadlines, expected);
        let too_late = Deadlines {
            initial: Some(50),
            ..Deadlines::default()
        };
        let err = db.alter_assignment(&name("hw1"), &too_late).unwrap_err();
        assert!(matches!(err, CourseDbError::DeadlineOrder(_)), "{err}");
        let stored = db.get_assignment("hw1").unwrap().unwrap();
        assert_eq!(
            stored.deadlines, expected,
            "a refused change writes nothing"
        );
        assert!(
            db.alter_assignment(&name("nope"), &only_final)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn remove_deletes_an_unused_assignment_and_reports_a_missing_one() {
        let (_dir, db, accounts) = course();
        db.create_assignment(&NewAssignment::dummy(name("hw1")), &accounts, &[])
            .unwrap();
        assert_eq!(
            db.remove_assignment(&name("hw1")).unwrap(),
            Removal::Removed
        );
        assert!(!db.is_assignment("hw1").unwrap());
        assert_eq!(
            db.remove_assignment(&name("hw1")).unwrap(),
            Removal::NotFound
        );
    }

    #[test]
    fn remove_keeps_an_assignment_that_has_submissions() {
        use crate::db::intake::Submission;
        use crate::model::{Kind, Status};
        let (_dir, db, accounts) = course();
        db.create_assignment(&NewAssignment::dummy(name("hw1")), &accounts, &[])
            .unwrap();
        let submission = Submission {
            submission_id: journal::SubmissionId::parse("0123456789abcdef01234567890000").unwrap(),
            username: Username::parse("alice").unwrap(),
            auth_time_us: 1,
            kind: Kind::Patchset,
            assignment: Some(name("hw1")),
            component: None,
            status: Status::PastDue,
            first_recipient: "hw1".into(),
            message_count: 1,
            in_reply_to: None,
            processed_at: 1,
        };
        assert!(db.record_submission(&submission, &[]).unwrap());
        assert_eq!(
            db.remove_assignment(&name("hw1")).unwrap(),
            Removal::InUse {
                submissions: 1,
                grades: 0
            }
        );
        assert!(db.is_assignment("hw1").unwrap());
    }

    #[test]
    fn remove_keeps_an_assignment_that_has_grades() {
        let (_dir, db, accounts) = course();
        db.create_assignment(&NewAssignment::dummy(name("hw1")), &accounts, &[])
            .unwrap();
        // An automatic zero from a deadline run, without any submission.
        db.with_conn(|conn| {
            conn.execute(
                "INSERT INTO grades (assignment, component, username, score, feedback, automatic,
                                     updated_at)
                 VALUES ('hw1', 'initial', 'alice', 0, '', 1, 0)",
                [],
            )?;
            Ok(())
        })
        .unwrap();
        assert_eq!(
            db.remove_assignment(&name("hw1")).unwrap(),
            Removal::InUse {
                submissions: 0,
                grades: 1
            }
        );
    }
}
