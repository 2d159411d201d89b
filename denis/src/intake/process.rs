//! One closed session, end to end: read its messages, classify, do what the class asks (check
//! and keep a patchset, keep a review, release discussion), then record it.
//!
//! Durability order, which makes "exactly once" hold across crashes: every side effect (tag in
//! `grading.git`, journal append) comes first and is idempotent (forced tag of a deterministic
//! commit; appending a released message is a no-op); the `submissions` row, with its gradeable
//! and findings, is written last in one transaction. A session with a row is never processed
//! again; one without is processed again from scratch, harmlessly.

use std::sync::Arc;

use journal::session_log::SessionRecord;
use journal::{MessageId, Record, Username};

use super::Shared;
use super::check::{Series, check_series, workspace::Workspace};
use super::classify::{Classification, Envelope, Facts, Replied, classify};
use super::message::StoredMessage;
use crate::db::intake::Submission;
use crate::error::IntakeError;
use crate::model::{Check, Component, Finding, Kind, Severity, Status, overall_severity};
use database::unix_now;

/// What the blocking first phase found out.
struct Prepared {
    record: SessionRecord,
    messages: Vec<StoredMessage>,
    envelope: Envelope,
    classification: Classification,
    /// `Full Name <user@HOST>` of the sender.
    identity: String,
    /// `N` of `vN` for a patchset.
    version: u32,
}

/// Runs `f` on the blocking pool (SQLite, file reads).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, IntakeError> + Send + 'static,
) -> Result<T, IntakeError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| IntakeError::Worker(e.to_string()))?
}

/// Processes one closed session; `None` if it had already been processed.
pub(crate) async fn process_session(
    shared: Arc<Shared>,
    record: SessionRecord,
) -> Result<Option<Submission>, IntakeError> {
    // Held until the outcome is recorded, so a second dispatcher of this process waits here and
    // then finds the session processed.
    let _claim = shared.in_flight.claim(record.submission).await;
    let sh = Arc::clone(&shared);
    let Some(prepared) = blocking(move || prepare(&sh, record)).await? else {
        return Ok(None);
    };
    shared
        .checked
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let findings = act(&shared, &prepared).await?;
    let sh = Arc::clone(&shared);
    blocking(move || record_outcome(&sh, &prepared, &findings)).await
}

/// Reads the session's messages and classifies it; `None` if it is already recorded.
fn prepare(shared: &Shared, record: SessionRecord) -> Result<Option<Prepared>, IntakeError> {
    if shared.db.is_processed(&record.submission)? {
        return Ok(None);
    }
    let mut messages = Vec::with_capacity(record.messages.len());
    for m in &record.messages {
        let path = shared.store.path(&m.id);
        let wire = std::fs::read(&path).map_err(IntakeError::io("read message", &path))?;
        messages.push(StoredMessage::parse(m.id, &wire, &shared.config.host));
    }
    let envelope = Envelope {
        sender: record.username.clone(),
        recipient: record
            .messages
            .first()
            .map(|m| m.first_recipient.clone())
            .unwrap_or_default(),
        auth_time_us: i64::try_from(record.auth_micros).unwrap_or(i64::MAX),
        in_reply_to: messages.first().and_then(|m| m.in_reply_to),
    };
    let facts = gather_facts(shared, &envelope)?;
    let classification = classify(&envelope, &facts);
    let (identity, version) = match &classification {
        Classification::Patchset { assignment, .. } => (
            identity(shared, &record.username)?,
            shared
                .db
                .patchsets_before(&record.username, assignment, &record.submission)?
                .saturating_add(1),
        ),
        _ => (String::new(), 0),
    };
    Ok(Some(Prepared {
        record,
        messages,
        envelope,
        classification,
        identity,
        version,
    }))
}

/// Looks up what [`classify`] needs about the recipient and the replied-to message.
fn gather_facts(shared: &Shared, envelope: &Envelope) -> Result<Facts, IntakeError> {
    let recipient = envelope.recipient.as_str();
    let is_list = shared.config.list_addresses.iter().any(|l| l == recipient);
    let assignment = if is_list {
        None
    } else {
        shared.db.get_assignment(recipient)?
    };
    let user = match Username::parse(recipient) {
        Ok(name) if !is_list && assignment.is_none() => shared.accounts.get_user(&name)?,
        _ => None,
    };
    let recipient_is_student = user
        .as_ref()
        .is_some_and(|u| u.role == accounts::Role::Student);
    let replied = match envelope.in_reply_to {
        Some(id) if recipient_is_student && shared.store.path(&id).exists() => {
            replied_facts(shared, &envelope.sender, &id)?
        }
        _ => None,
    };
    Ok(Facts {
        is_list,
        assignment,
        recipient_is_student,
        recipient_is_user: user.is_some(),
        replied,
    })
}

fn replied_facts(
    shared: &Shared,
    reviewer: &Username,
    id: &MessageId,
) -> Result<Option<Replied>, IntakeError> {
    let Some(gradeable) = shared.db.gradeable(&id.submission())? else {
        return Ok(None);
    };
    let db = &shared.db;
    let a = &gradeable.assignment;
    Ok(Some(Replied {
        assignment: db.get_assignment(a.as_str())?,
        slot: db.review_slot(a, reviewer, &gradeable.username)?,
        latest_initial: db
            .latest_gradeable(a, Component::Initial, &gradeable.username)?
            .map(|g| g.submission_id),
        gradeable,
    }))
}

/// `Full Name <user@HOST>`: commit author and expected sign-off. A sender whose account is
/// gone is named by username rather than holding up the queue.
fn identity(shared: &Shared, user: &Username) -> Result<String, IntakeError> {
    let name = match shared.accounts.get_user(user)? {
        Some(account) => account.full_name,
        None => {
            tracing::warn!(%user, "sender has no account; using the username as full name");
            user.to_string()
        }
    };
    Ok(format!("{name} <{user}@{}>", shared.config.host))
}

/// The side effects of a classified session; returns its findings.
async fn act(shared: &Arc<Shared>, p: &Prepared) -> Result<Vec<Finding>, IntakeError> {
    let id = p.record.submission;
    match &p.classification {
        Classification::Patchset { component, .. } => {
            let ws = workspace(shared, p)?;
            let series = Series {
                user: &p.record.username,
                identity: &p.identity,
                component: *component,
                version: p.version,
                messages: &p.messages,
            };
            let base = shared.base.is_dir().then_some(shared.base.as_path());
            let checked = check_series(&ws, base, &series).await?;
            // Its own time limit: the checks may have used all of theirs.
            let git = ws.git().renewed(shared.config.time_limit);
            match checked.repo {
                Some(repo) if overall_severity(&checked.findings) != Severity::Fatal => {
                    shared.grading.keep_series(&git, &repo, &id).await?;
                }
                _ => {
                    shared
                        .grading
                        .keep_raw(&git, &id, &contents(&p.messages))
                        .await?;
                }
            }
            let summary = format!(
                "submission {id} by {}: {} {component}, {}",
                p.record.username,
                p.envelope.recipient,
                crate::model::summarize(&checked.findings)
            );
            let at = p.envelope.auth_time_us / 1_000_000;
            shared
                .grading
                .annotate(&git.at(at), &id, &summary, &checked.findings)
                .await?;
            Ok(checked.findings)
        }
        Classification::Review {
            reviewee,
            reviewed,
            component,
            ..
        } => {
            let ws = workspace(shared, p)?;
            shared
                .grading
                .keep_review(ws.git(), &id, reviewed, &contents(&p.messages))
                .await?;
            Ok(vec![
                Finding::ok(format!(
                    "review of {reviewee}'s submission {reviewed}, counted as {component}"
                ))
                .of(Check::Intake),
            ])
        }
        Classification::Discussion => {
            let ids: Vec<MessageId> = p.messages.iter().map(|m| m.id).collect();
            let sh = Arc::clone(shared);
            blocking(move || {
                let records = ids
                    .iter()
                    .map(|id| Ok(Record::new(*id, sh.store.meta(id)?)))
                    .collect::<Result<Vec<_>, IntakeError>>()?;
                // In session order; already released messages are skipped (idempotent).
                sh.journal.append(&records)?;
                Ok(())
            })
            .await?;
            Ok(vec![
                Finding::ok("released to everyone reading the list").of(Check::Intake),
            ])
        }
        Classification::Refused { status, .. } => {
            Ok(vec![explain(*status, &p.envelope).of(Check::Intake)])
        }
    }
}

fn workspace(shared: &Shared, p: &Prepared) -> Result<Workspace, IntakeError> {
    let deadline = tokio::time::Instant::now() + shared.config.time_limit;
    Workspace::new(
        &shared.config.work_dir,
        shared.committer.clone(),
        p.envelope.auth_time_us / 1_000_000,
        deadline,
    )
}

fn contents(messages: &[StoredMessage]) -> Vec<(MessageId, Vec<u8>)> {
    messages.iter().map(|m| (m.id, m.content.clone())).collect()
}

/// The one finding of a refused session: what happened and what to do.
fn explain(status: Status, envelope: &Envelope) -> Finding {
    let to = &envelope.recipient;
    Finding::fatal(match status {
        Status::PastDue => {
            format!("sent to {to} after its final deadline; it is kept but not graded")
        }
        Status::UnknownRecipient => format!(
            "{to} is no assignment, list or user here; send series to an assignment address"
        ),
        Status::Undeliverable => format!(
            "mail to {to} is not delivered: only replies to a student's series (reviews) go \
             to a person; use the list for discussion"
        ),
        Status::ReviewOfUnknownMessage => {
            "the message this replies to is not part of a submitted series; reply to the series \
             you were assigned to review"
                .to_string()
        }
        Status::ReviewNotAssigned => format!(
            "you are not assigned to review this series of {to}; your assignments are on the \
             dashboard"
        ),
        Status::ReviewOfWrongSubmission => format!(
            "this replies to a series that is not {to}'s latest initial submission; reply to \
             that one"
        ),
        Status::ReviewTooLate => "sent after the peer-review deadline".to_string(),
        Status::Accepted | Status::Released => format!("{status}"),
    })
}

/// Writes the `submissions` row, findings and gradeable in one transaction.
fn record_outcome(
    shared: &Shared,
    p: &Prepared,
    findings: &[Finding],
) -> Result<Option<Submission>, IntakeError> {
    let c = &p.classification;
    let submission = Submission {
        submission_id: p.record.submission,
        username: p.record.username.clone(),
        auth_time_us: p.envelope.auth_time_us,
        kind: c.kind(),
        assignment: c.assignment().cloned(),
        component: c.component(),
        status: c.status(),
        first_recipient: p.envelope.recipient.clone(),
        message_count: i64::try_from(p.messages.len()).unwrap_or(i64::MAX),
        in_reply_to: p.envelope.in_reply_to,
        processed_at: unix_now(),
    };
    if !shared.db.record_submission(&submission, findings)? {
        return Ok(None);
    }
    let severity = match submission.kind {
        Kind::Patchset | Kind::Review => overall_severity(findings).as_str(),
        _ => "-",
    };
    tracing::info!(
        submission = %submission.submission_id,
        user = %submission.username,
        kind = %submission.kind,
        status = %submission.status,
        severity,
        "processed session"
    );
    Ok(Some(submission))
}
