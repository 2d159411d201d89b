//! Instructor requests (`requests`): what the web asks denis to do to the journal, which the
//! web itself may not write (SPEC §3). The scheduler carries out pending ones on every pass.

use journal::Username;
use rusqlite::{Row, params};

use super::{CourseDb, opt_text, text};
use crate::error::CourseDbError;
use crate::model::{AssignmentName, Deadline};

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestAction {
    /// Lift a student's journal restriction.
    Lift(Username),
    /// Run one deadline of an assignment now.
    Trigger(AssignmentName, Deadline),
}

/// One recorded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Its number.
    pub id: i64,
    /// What it asks for.
    pub action: RequestAction,
    /// The instructor who asked.
    pub requested_by: Username,
    /// When (Unix seconds).
    pub requested_at: i64,
    /// When denis carried it out; `None` while pending.
    pub done_at: Option<i64>,
    /// `done`, or the error that stopped it.
    pub outcome: Option<String>,
}

const COLUMNS: &str =
    "id, kind, username, assignment, deadline, requested_by, requested_at, done_at, outcome";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Request> {
    let kind: String = row.get(1)?;
    let action = if kind == "lift" {
        RequestAction::Lift(text(row, 2)?)
    } else {
        let deadline: Option<Deadline> = opt_text(row, 4)?;
        let deadline = deadline.ok_or(rusqlite::Error::InvalidColumnType(
            4,
            "deadline".into(),
            rusqlite::types::Type::Null,
        ))?;
        RequestAction::Trigger(text(row, 3)?, deadline)
    };
    Ok(Request {
        id: row.get(0)?,
        action,
        requested_by: text(row, 5)?,
        requested_at: row.get(6)?,
        done_at: row.get(7)?,
        outcome: row.get(8)?,
    })
}

impl CourseDb {
    /// Records a request by `by` at `now`; returns its number.
    pub fn add_request(
        &self,
        action: &RequestAction,
        by: &Username,
        now: i64,
    ) -> Result<i64, CourseDbError> {
        let (kind, user, assignment, deadline) = match action {
            RequestAction::Lift(user) => ("lift", Some(user.as_str()), None, None),
            RequestAction::Trigger(a, d) => ("trigger", None, Some(a.as_str()), Some(d.as_str())),
        };
        let id = self.with_conn(|conn| {
            conn.prepare_cached(
                "INSERT INTO requests (kind, username, assignment, deadline, requested_by, requested_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![kind, user, assignment, deadline, by.as_str(), now])?;
            Ok(conn.last_insert_rowid())
        })?;
        tracing::info!(id, kind, by = %by, "instructor request recorded");
        Ok(id)
    }

    /// Requests not yet carried out, oldest first.
    pub fn pending_requests(&self) -> Result<Vec<Request>, CourseDbError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM requests WHERE done_at IS NULL ORDER BY id"
            ))?;
            let rows = stmt.query_map([], from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// The `limit` most recent requests, newest first (what the web shows).
    pub fn recent_requests(&self, limit: u32) -> Result<Vec<Request>, CourseDbError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM requests ORDER BY id DESC LIMIT ?1"
            ))?;
            let rows = stmt.query_map([limit], from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Marks request `id` carried out at `now` with `outcome`.
    pub fn finish_request(&self, id: i64, outcome: &str, now: i64) -> Result<(), CourseDbError> {
        self.with_conn(|conn| {
            conn.prepare_cached(
                "UPDATE requests SET done_at = ?2, outcome = ?3 WHERE id = ?1 AND done_at IS NULL",
            )?
            .execute(params![id, now, outcome])?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_stay_pending_until_finished() {
        let dir = tempfile::tempdir().unwrap();
        let db = CourseDb::open(&dir.path().join("course.db")).unwrap();
        let teach = Username::parse("teach").unwrap();
        let lift = RequestAction::Lift(Username::parse("alice").unwrap());
        let trigger =
            RequestAction::Trigger(AssignmentName::parse("hw1").unwrap(), Deadline::Final);
        let first = db.add_request(&lift, &teach, 10).unwrap();
        db.add_request(&trigger, &teach, 11).unwrap();
        let pending = db.pending_requests().unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].action, lift);
        assert_eq!(pending[1].action, trigger);
        db.finish_request(first, "done", 12).unwrap();
        let pending = db.pending_requests().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].action, trigger);
        let recent = db.recent_requests(10).unwrap();
        assert_eq!(recent[1].outcome.as_deref(), Some("done"));
        assert_eq!(recent[1].done_at, Some(12));
    }
}
