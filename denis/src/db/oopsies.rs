//! Oopsies in `course.db` (SPEC §10): a student's self-service extension, N per term, usable
//! only before an assignment's initial deadline. Its effects live in the deadlines (re-allow
//! at the final) and in the total (only the final counts).

use std::collections::BTreeSet;

use journal::Username;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{CourseDb, text};
use crate::error::CourseDbError;
use crate::grades::OopsieError;
use crate::model::{AssignmentName, Deadline};
use crate::query::OopsieRow;

/// Oopsies each student may use per term, unless configured otherwise.
pub const DEFAULT_OOPSIES_PER_TERM: u32 = 1;

impl CourseDb {
    /// Uses one of `user`'s `per_term` oopsies on `assignment` at `now` (the web asks for
    /// confirmation first; the caller makes sure `user` is a student).
    ///
    /// One IMMEDIATE transaction: the checks and the insert cannot interleave with another
    /// request of the same student or with the initial deadline's claim, which reads the
    /// oopsies right after.
    pub fn use_oopsie(
        &self,
        user: &Username,
        assignment: &AssignmentName,
        now: i64,
        per_term: u32,
    ) -> Result<OopsieRow, OopsieError> {
        let row = self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let initial_at: Option<Option<i64>> = tx
                .prepare_cached("SELECT initial_at FROM assignments WHERE name = ?1")?
                .query_row([assignment.as_str()], |r| r.get(0))
                .optional()?;
            let Some(initial_at) = initial_at else {
                return Ok(Err(OopsieError::UnknownAssignment(assignment.clone())));
            };
            // Triggered early, a scheduled initial deadline has run although its time is ahead.
            let initial_ran = tx
                .prepare_cached(
                    "SELECT 1 FROM deadline_runs WHERE assignment = ?1 AND component = ?2",
                )?
                .exists(params![assignment.as_str(), Deadline::Initial.as_str()])?;
            if initial_ran || initial_at.is_some_and(|at| now >= at) {
                return Ok(Err(OopsieError::TooLate(assignment.clone())));
            }
            let used: Vec<AssignmentName> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT assignment FROM oopsies WHERE username = ?1 ORDER BY used_at",
                )?;
                stmt.query_map([user.as_str()], |r| text(r, 0))?
                    .collect::<Result<_, _>>()?
            };
            if used.contains(assignment) {
                return Ok(Err(OopsieError::AlreadyUsed(assignment.clone())));
            }
            if used.len() >= usize::try_from(per_term).unwrap_or(usize::MAX) {
                return Ok(Err(OopsieError::NoneLeft {
                    allowance: per_term,
                    used_on: used.last().cloned().unwrap_or_else(|| assignment.clone()),
                }));
            }
            tx.execute(
                "INSERT INTO oopsies (username, assignment, used_at) VALUES (?1, ?2, ?3)",
                params![user.as_str(), assignment.as_str(), now],
            )?;
            tx.commit()?;
            Ok(Ok(OopsieRow {
                username: user.clone(),
                assignment: assignment.clone(),
                used_at: now,
            }))
        })??;
        tracing::info!(%user, %assignment, "oopsie used");
        Ok(row)
    }

    /// The students who used an oopsie on `assignment`.
    pub fn oopsie_users(
        &self,
        assignment: &AssignmentName,
    ) -> Result<BTreeSet<Username>, CourseDbError> {
        self.with_conn(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT username FROM oopsies WHERE assignment = ?1")?;
            let rows = stmt.query_map([assignment.as_str()], |r| text(r, 0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// How many oopsies `user` has used this term (the dashboard shows what is left).
    pub fn oopsies_used(&self, user: &Username) -> Result<u32, CourseDbError> {
        self.with_conn(|conn| {
            let n: i64 = conn
                .prepare_cached("SELECT count(*) FROM oopsies WHERE username = ?1")?
                .query_row([user.as_str()], |r| r.get(0))?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::assignments::NewAssignment;

    fn name(s: &str) -> AssignmentName {
        AssignmentName::parse(s).unwrap()
    }

    fn course() -> (tempfile::TempDir, CourseDb) {
        let dir = tempfile::tempdir().unwrap();
        let db = CourseDb::open(&dir.path().join("course.db")).unwrap();
        let accounts = accounts::Accounts::open(&dir.path().join("accounts.db")).unwrap();
        for (a, initial) in [("hw1", 100), ("hw2", 200), ("hw3", 300)] {
            db.create_assignment(
                &NewAssignment::scheduled(name(a), initial, initial + 10, initial + 20),
                &accounts,
                &[],
            )
            .unwrap();
        }
        (dir, db)
    }

    #[test]
    fn an_oopsie_is_used_before_the_initial_deadline_within_the_allowance() {
        let (_dir, db) = course();
        let alice = Username::parse("alice").unwrap();
        let row = db.use_oopsie(&alice, &name("hw1"), 50, 2).unwrap();
        assert_eq!(row.used_at, 50);
        let err = db.use_oopsie(&alice, &name("hw1"), 51, 2).unwrap_err();
        assert!(matches!(err, OopsieError::AlreadyUsed(_)), "{err}");
        let err = db.use_oopsie(&alice, &name("hw2"), 200, 2).unwrap_err();
        assert!(matches!(err, OopsieError::TooLate(_)), "{err}");
        assert!(err.to_string().contains("ask an instructor"), "{err}");
        db.use_oopsie(&alice, &name("hw2"), 199, 2).unwrap();
        let err = db.use_oopsie(&alice, &name("hw3"), 60, 2).unwrap_err();
        assert!(
            matches!(&err, OopsieError::NoneLeft { allowance: 2, used_on } if *used_on == name("hw2")),
            "{err}"
        );
        let err = db.use_oopsie(&alice, &name("nope"), 60, 2).unwrap_err();
        assert!(matches!(err, OopsieError::UnknownAssignment(_)), "{err}");
        assert_eq!(db.oopsies_used(&alice).unwrap(), 2);
        assert_eq!(
            db.oopsie_users(&name("hw1"))
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            vec![alice]
        );
    }
}
