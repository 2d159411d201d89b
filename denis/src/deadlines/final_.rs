//! The final deadline (SPEC §9, §10): re-allow oopsie users who sent a final, release the
//! latest final of each student, give automatic zeros for missing or fatal finals.
//!
//! Everyone else frozen at the initial deadline stays frozen until an instructor lifts it.

use journal::{Restriction, Username};

use super::error::DeadlineError;
use super::{DeadlineRunner, count, release};
use crate::db::deadlines::RunSummary;
use crate::model::{Assignment, Component, Severity};

/// Runs the final deadline of `assignment` at `now`.
pub(super) fn run(
    runner: &DeadlineRunner,
    assignment: &Assignment,
    now: i64,
) -> Result<RunSummary, DeadlineError> {
    let name = &assignment.name;
    let db = &runner.db;
    let oopsies = db.oopsie_users(name)?;
    let mut latest = Vec::new();
    let mut zeros: Vec<(Username, String)> = Vec::new();
    for student in runner.students()? {
        match db.latest_gradeable(name, Component::Final, &student)? {
            Some(g) => {
                if g.severity == Severity::Fatal {
                    let why = format!(
                        "the latest final submission ({}) has fatal findings",
                        g.submission_id
                    );
                    zeros.push((student.clone(), why));
                }
                latest.push(g);
            }
            None => zeros.push((student, "no final submission by the deadline".to_string())),
        }
    }
    let allow: Vec<&Username> = latest
        .iter()
        .map(|g| &g.username)
        .filter(|u| oopsies.contains(*u))
        .collect();
    let lift: Vec<(Username, Restriction)> = allow
        .iter()
        .map(|u| ((*u).clone(), Restriction::Allow))
        .collect();
    runner.journal.restrict_many(&lift)?;
    let released = release::release(runner, &latest)?;
    let auto_zeroed = db.auto_zero(name, Component::Final, &zeros, now)?;
    Ok(RunSummary {
        delinquent: 0,
        released,
        allowed: count(allow.len()),
        auto_zeroed,
    })
}
