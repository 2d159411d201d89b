//! The initial deadline (SPEC §9): freeze the delinquent, draw the peer-review cycle, release
//! the latest initial of each submitter, give automatic zeros for missing or fatal initials.
//!
//! Order matters for privacy: delinquents are frozen before anything of this deadline is
//! released, so their view ends before their peers' work. Each step is idempotent (deny keeps
//! an existing cap, the cycle is stored once, appends skip released messages, zeros never
//! overwrite), so a run resumed after a crash repeats them harmlessly.

use journal::{Restriction, Username};

use super::error::DeadlineError;
use super::{DeadlineRunner, count, cycle, release};
use crate::db::deadlines::RunSummary;
use crate::model::{Assignment, Component, Severity};

/// Runs the initial deadline of `assignment` at `now`.
pub(super) fn run(
    runner: &DeadlineRunner,
    assignment: &Assignment,
    now: i64,
) -> Result<RunSummary, DeadlineError> {
    let name = &assignment.name;
    let db = &runner.db;
    let students = runner.students()?;
    let oopsies = db.oopsie_users(name)?;
    let mut latest = Vec::new();
    let mut delinquent = Vec::new();
    for student in &students {
        match db.latest_gradeable(name, Component::Initial, student)? {
            Some(g) => latest.push(g),
            None => delinquent.push(student.clone()),
        }
    }
    // Every delinquent frozen in one step (one caps file written), before anything of this
    // deadline is released (SPEC §9).
    let freeze: Vec<(Username, Restriction)> = delinquent
        .iter()
        .map(|s| (s.clone(), Restriction::Deny))
        .collect();
    runner.journal.restrict_many(&freeze)?;
    let submitters: Vec<Username> = latest.iter().map(|g| g.username.clone()).collect();
    let pairs = db.record_cycle_once(name, || cycle::draw(&submitters, cycle::random_seed()))?;
    tracing::debug!(assignment = %name, reviews = pairs.len(), "peer-review cycle");
    let released = release::release(runner, &latest)?;
    // Only the final counts for an oopsie user (SPEC §10): a zero here would only alarm them.
    let mut zeros: Vec<(Username, String)> = Vec::new();
    for student in delinquent.iter().filter(|s| !oopsies.contains(*s)) {
        let why = "no initial submission by the deadline".to_string();
        zeros.push((student.clone(), why));
    }
    for g in latest.iter().filter(|g| g.severity == Severity::Fatal) {
        if !oopsies.contains(&g.username) {
            let why = format!(
                "the latest initial submission ({}) has fatal findings",
                g.submission_id
            );
            zeros.push((g.username.clone(), why));
        }
    }
    let auto_zeroed = db.auto_zero(name, Component::Initial, &zeros, now)?;
    Ok(RunSummary {
        delinquent: count(delinquent.len()),
        released,
        allowed: 0,
        auto_zeroed,
    })
}
