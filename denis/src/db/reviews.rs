//! The peer-review cycle of an assignment in `course.db` (`peer_reviews`, SPEC §9): drawn
//! once at the initial deadline and never reshuffled, because reviewers start working on it
//! (and intake judges reviews by it) as soon as it exists.

use journal::Username;
use rusqlite::{TransactionBehavior, params};

use super::{CourseDb, text};
use crate::error::CourseDbError;
use crate::model::{AssignmentName, ReviewSlot};

/// One reviewer–reviewee pair of an assignment's cycle.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerReview {
    /// The assignment.
    pub assignment: AssignmentName,
    /// Who reviews.
    pub reviewer: Username,
    /// Whose initial series is reviewed.
    pub reviewee: Username,
    /// Which of the reviewer's grades (`review1`, `review2`) the review counts for.
    pub slot: ReviewSlot,
}

impl CourseDb {
    /// The cycle of `assignment`, by reviewer then slot (empty before its initial deadline).
    pub fn peer_review_cycle(
        &self,
        assignment: &AssignmentName,
    ) -> Result<Vec<PeerReview>, CourseDbError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT reviewer, reviewee, slot FROM peer_reviews
                 WHERE assignment = ?1 ORDER BY reviewer, slot",
            )?;
            let rows = stmt.query_map([assignment.as_str()], |r| {
                let slot: i64 = r.get(2)?;
                Ok(PeerReview {
                    assignment: assignment.clone(),
                    reviewer: text(r, 0)?,
                    reviewee: text(r, 1)?,
                    slot: ReviewSlot::from_number(slot)
                        .ok_or(rusqlite::Error::IntegralValueOutOfRange(2, slot))?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Stores the cycle `draw` returns, unless `assignment` already has one: then that one is
    /// kept and returned. One IMMEDIATE transaction, so a resumed or concurrent initial
    /// deadline can never mix two draws; `draw` is only called when a cycle is stored.
    pub(crate) fn record_cycle_once(
        &self,
        assignment: &AssignmentName,
        draw: impl FnOnce() -> Vec<(Username, Username, ReviewSlot)>,
    ) -> Result<Vec<PeerReview>, CourseDbError> {
        let stored = self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists = tx
                .prepare_cached("SELECT 1 FROM peer_reviews WHERE assignment = ?1")?
                .exists([assignment.as_str()])?;
            if exists {
                return Ok(false);
            }
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO peer_reviews (assignment, reviewer, reviewee, slot)
                     VALUES (?1, ?2, ?3, ?4)",
                )?;
                for (reviewer, reviewee, slot) in draw() {
                    insert.execute(params![
                        assignment.as_str(),
                        reviewer.as_str(),
                        reviewee.as_str(),
                        slot.number()
                    ])?;
                }
            }
            tx.commit()?;
            Ok(true)
        })?;
        if !stored {
            tracing::info!(%assignment, "keeping the peer-review cycle drawn earlier");
        }
        self.peer_review_cycle(assignment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_cycle_is_never_replaced_by_a_second_draw() {
        let dir = tempfile::tempdir().unwrap();
        let db = CourseDb::open(&dir.path().join("course.db")).unwrap();
        let hw1 = AssignmentName::parse("hw1").unwrap();
        let u = |s: &str| Username::parse(s).unwrap();
        let first = db
            .record_cycle_once(&hw1, || {
                vec![
                    (u("alice"), u("bob"), ReviewSlot::First),
                    (u("bob"), u("alice"), ReviewSlot::First),
                ]
            })
            .unwrap();
        assert_eq!(first.len(), 2);
        let second = db
            .record_cycle_once(&hw1, || panic!("must not draw again"))
            .unwrap();
        assert_eq!(second, first);
        assert_eq!(second[0].reviewer, u("alice"));
        assert_eq!(second[0].reviewee, u("bob"));
    }
}
