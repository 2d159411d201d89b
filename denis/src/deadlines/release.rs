//! Releasing submissions into the journal at a deadline (SPEC §5, §9): every message of each
//! submission, in session order, submissions by id, all in one append so that a deadline's
//! release is committed whole or not at all. Appending a released message is a no-op, which
//! makes a resumed run safe.

use journal::{Record, SubmissionId};

use super::DeadlineRunner;
use super::error::DeadlineError;
use crate::db::intake::Gradeable;

/// Releases the submissions of `gradeables` (sorted here by submission id); returns how many
/// submissions that is.
pub(super) fn release(
    runner: &DeadlineRunner,
    gradeables: &[Gradeable],
) -> Result<u32, DeadlineError> {
    let mut ids: Vec<SubmissionId> = gradeables.iter().map(|g| g.submission_id).collect();
    ids.sort();
    ids.dedup();
    let mut records = Vec::new();
    for sid in &ids {
        let submission = runner
            .db
            .submission(sid)?
            .ok_or(DeadlineError::DamagedSubmission(*sid))?;
        let count = u16::try_from(submission.message_count)
            .map_err(|_| DeadlineError::DamagedSubmission(*sid))?;
        for index in 1..=count {
            let id = sid
                .message(index)
                .map_err(|_| DeadlineError::DamagedSubmission(*sid))?;
            records.push(Record::new(id, runner.store.meta(&id)?));
        }
    }
    if !records.is_empty() {
        let outcome = runner.journal.append(&records)?;
        tracing::debug!(?outcome, submissions = ids.len(), "released");
    }
    Ok(u32::try_from(ids.len()).unwrap_or(u32::MAX))
}
