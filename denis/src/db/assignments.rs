//! Assignments and peer-review assignments in `course.db` (SPEC §9): create, get, list, the
//! cheap recipient check smtp uses, and the reviewer table the initial deadline fills.

use accounts::Accounts;
use journal::Username;
use rusqlite::{OptionalExtension, Row, params};

use super::{CourseDb, text, unix_now};
use crate::error::CourseDbError;
use crate::model::{Assignment, AssignmentName, Deadlines, ReviewSlot};

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
