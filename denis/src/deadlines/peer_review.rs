//! The peer-review deadline (SPEC §9): release the latest review of each assigned slot and
//! give an automatic zero for each assigned slot without one.

use journal::Username;

use super::error::DeadlineError;
use super::{DeadlineRunner, release};
use crate::db::deadlines::RunSummary;
use crate::model::{Assignment, Component, ReviewSlot};

/// Runs the peer-review deadline of `assignment` at `now`.
pub(super) fn run(
    runner: &DeadlineRunner,
    assignment: &Assignment,
    now: i64,
) -> Result<RunSummary, DeadlineError> {
    let name = &assignment.name;
    let db = &runner.db;
    let oopsies = db.oopsie_users(name)?;
    let mut latest = Vec::new();
    let (mut review1_zeros, mut review2_zeros) = (Vec::new(), Vec::new());
    for pair in db.peer_review_cycle(name)? {
        let component = Component::review(pair.slot);
        match db.latest_gradeable(name, component, &pair.reviewer)? {
            Some(g) => latest.push(g),
            // Only the final counts for an oopsie user (SPEC §10).
            None if oopsies.contains(&pair.reviewer) => {}
            None => {
                let why = format!("no review of {} by the peer-review deadline", pair.reviewee);
                let zeros: &mut Vec<(Username, String)> = match pair.slot {
                    ReviewSlot::First => &mut review1_zeros,
                    ReviewSlot::Second => &mut review2_zeros,
                };
                zeros.push((pair.reviewer, why));
            }
        }
    }
    let released = release::release(runner, &latest)?;
    let auto_zeroed = db.auto_zero(name, Component::Review1, &review1_zeros, now)?
        + db.auto_zero(name, Component::Review2, &review2_zeros, now)?;
    Ok(RunSummary {
        delinquent: 0,
        released,
        allowed: 0,
        auto_zeroed,
    })
}
