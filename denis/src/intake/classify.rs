//! Classification of a session (SPEC §8): by the first recipient and the headers of the first
//! message, a patchset, a peer review, discussion, or something recorded and never released.
//!
//! Pure: the caller looks up the [`Facts`] (assignment, recipient, the replied-to submission)
//! and [`classify`] decides. Every branch has a unit test below.

use journal::{MessageId, SubmissionId, Username};

use crate::db::intake::Gradeable;
use crate::model::{Assignment, AssignmentName, Component, Deadlines, Kind, ReviewSlot, Status};

/// What the session record and the first message say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The authenticated sender.
    pub sender: Username,
    /// Local part of the first recipient of the first message.
    pub recipient: String,
    /// When the session authenticated, Unix microseconds.
    pub auth_time_us: i64,
    /// The stored message the first message replies to.
    pub in_reply_to: Option<MessageId>,
}

/// What the course knows about the envelope's recipient and replied-to message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The recipient is a configured list address.
    pub is_list: bool,
    /// The recipient's assignment, if it names one.
    pub assignment: Option<Assignment>,
    /// The recipient is a user with role student.
    pub recipient_is_student: bool,
    /// The recipient is a user (any role).
    pub recipient_is_user: bool,
    /// The gradeable the replied-to message belongs to, with what judging a review needs.
    pub replied: Option<Replied>,
}

/// The submission a reply answers, and the reviewer's relation to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replied {
    /// The replied-to gradeable (its author is the reviewee).
    pub gradeable: Gradeable,
    /// Its assignment (for the peer-review deadline); `None` if since removed.
    pub assignment: Option<Assignment>,
    /// The sender's review slot for the gradeable's author, if assigned.
    pub slot: Option<ReviewSlot>,
    /// The reviewee's latest initial gradeable for that assignment.
    pub latest_initial: Option<SubmissionId>,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classification {
    /// A series to check.
    Patchset {
        /// The assignment.
        assignment: AssignmentName,
        /// `initial` or `final`, by the session's AUTH time.
        component: Component,
    },
    /// A valid peer review.
    Review {
        /// The assignment.
        assignment: AssignmentName,
        /// `review1` or `review2`, by the reviewer's slot.
        component: Component,
        /// The student reviewed.
        reviewee: Username,
        /// The reviewed submission.
        reviewed: SubmissionId,
    },
    /// Mail to a list address: released at once.
    Discussion,
    /// Recorded with `status`, never released.
    Refused {
        /// What it tried to be.
        kind: Kind,
        /// The assignment concerned, when known.
        assignment: Option<AssignmentName>,
        /// Why it is refused.
        status: Status,
    },
}

impl Classification {
    /// The kind stored in `submissions.kind`.
    pub fn kind(&self) -> Kind {
        match self {
            Classification::Patchset { .. } => Kind::Patchset,
            Classification::Review { .. } => Kind::Review,
            Classification::Discussion => Kind::Discussion,
            Classification::Refused { kind, .. } => *kind,
        }
    }

    /// The status stored in `submissions.status`.
    pub fn status(&self) -> Status {
        match self {
            Classification::Patchset { .. } | Classification::Review { .. } => Status::Accepted,
            Classification::Discussion => Status::Released,
            Classification::Refused { status, .. } => *status,
        }
    }

    /// The assignment it concerns.
    pub fn assignment(&self) -> Option<&AssignmentName> {
        match self {
            Classification::Patchset { assignment, .. }
            | Classification::Review { assignment, .. } => Some(assignment),
            Classification::Discussion => None,
            Classification::Refused { assignment, .. } => assignment.as_ref(),
        }
    }

    /// The component it counts for.
    pub fn component(&self) -> Option<Component> {
        match self {
            Classification::Patchset { component, .. }
            | Classification::Review { component, .. } => Some(*component),
            _ => None,
        }
    }
}

/// Classifies a session (SPEC §8). List addresses come first, then assignments, then people;
/// a deadline that is not set has not passed.
pub fn classify(envelope: &Envelope, facts: &Facts) -> Classification {
    if facts.is_list {
        return Classification::Discussion;
    }
    if let Some(assignment) = &facts.assignment {
        let at = envelope.auth_time_us;
        let d = &assignment.deadlines;
        let component = if !Deadlines::passed(d.initial, at) {
            Component::Initial
        } else if !Deadlines::passed(d.final_, at) {
            Component::Final
        } else {
            return Classification::Refused {
                kind: Kind::Patchset,
                assignment: Some(assignment.name.clone()),
                status: Status::PastDue,
            };
        };
        return Classification::Patchset {
            assignment: assignment.name.clone(),
            component,
        };
    }
    if facts.recipient_is_student && envelope.in_reply_to.is_some() {
        return classify_review(envelope, facts.replied.as_ref());
    }
    let status = if facts.recipient_is_user {
        Status::Undeliverable
    } else {
        Status::UnknownRecipient
    };
    Classification::Refused {
        kind: Kind::Other,
        assignment: None,
        status,
    }
}

fn classify_review(envelope: &Envelope, replied: Option<&Replied>) -> Classification {
    let refuse = |assignment: Option<&AssignmentName>, status| Classification::Refused {
        kind: Kind::Review,
        assignment: assignment.cloned(),
        status,
    };
    let Some((replied, assignment)) = replied.and_then(|r| Some((r, r.assignment.as_ref()?)))
    else {
        return refuse(None, Status::ReviewOfUnknownMessage);
    };
    let name = &assignment.name;
    let Some(slot) = replied.slot else {
        return refuse(Some(name), Status::ReviewNotAssigned);
    };
    let reviewed = replied.gradeable.submission_id;
    if replied.gradeable.component != Component::Initial || replied.latest_initial != Some(reviewed)
    {
        return refuse(Some(name), Status::ReviewOfWrongSubmission);
    }
    if Deadlines::passed(assignment.deadlines.peer_review, envelope.auth_time_us) {
        return refuse(Some(name), Status::ReviewTooLate);
    }
    Classification::Review {
        assignment: name.clone(),
        component: Component::review(slot),
        reviewee: replied.gradeable.username.clone(),
        reviewed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;

    const SEC: i64 = 1_000_000;

    fn user(s: &str) -> Username {
        Username::parse(s).unwrap()
    }

    fn hw1(initial: Option<i64>, peer: Option<i64>, final_: Option<i64>) -> Assignment {
        Assignment {
            name: AssignmentName::parse("hw1").unwrap(),
            deadlines: Deadlines {
                initial,
                peer_review: peer,
                final_,
            },
            dummy: false,
            created_at: 0,
        }
    }

    fn envelope(to: &str, at_secs: i64, reply: Option<MessageId>) -> Envelope {
        Envelope {
            sender: user("bob"),
            recipient: to.to_string(),
            auth_time_us: at_secs * SEC,
            in_reply_to: reply,
        }
    }

    fn patchset_at(at: i64, a: Assignment) -> Classification {
        let facts = Facts {
            assignment: Some(a),
            ..Facts::default()
        };
        classify(&envelope("hw1", at, None), &facts)
    }

    #[test]
    fn series_before_the_initial_deadline_is_initial() {
        let c = patchset_at(99, hw1(Some(100), Some(200), Some(300)));
        assert_eq!(c.component(), Some(Component::Initial));
        assert_eq!(c.status(), Status::Accepted);
        assert_eq!(c.kind(), Kind::Patchset);
    }

    #[test]
    fn series_between_initial_and_final_deadline_is_final() {
        let c = patchset_at(100, hw1(Some(100), Some(200), Some(300)));
        assert_eq!(c.component(), Some(Component::Final));
    }

    #[test]
    fn series_after_the_final_deadline_is_past_due() {
        let c = patchset_at(300, hw1(Some(100), Some(200), Some(300)));
        assert_eq!(c.status(), Status::PastDue);
        assert_eq!(c.kind(), Kind::Patchset);
        assert_eq!(c.assignment().map(AssignmentName::as_str), Some("hw1"));
    }

    #[test]
    fn dummy_assignment_without_deadlines_takes_initials_forever() {
        let c = patchset_at(i64::MAX / SEC, hw1(None, None, None));
        assert_eq!(c.component(), Some(Component::Initial));
        let c = patchset_at(500, hw1(Some(100), None, None));
        assert_eq!(c.component(), Some(Component::Final));
    }

    #[test]
    fn list_address_is_discussion_even_when_replying() {
        let facts = Facts {
            is_list: true,
            ..Facts::default()
        };
        let reply = journal::IdGenerator::new()
            .next_submission()
            .message(1)
            .ok();
        let c = classify(&envelope("list", 5, reply), &facts);
        assert_eq!(c, Classification::Discussion);
        assert_eq!(c.status(), Status::Released);
    }

    #[test]
    fn unknown_recipient_and_direct_mail_to_a_person_are_refused() {
        let c = classify(&envelope("nobody", 5, None), &Facts::default());
        assert_eq!(c.status(), Status::UnknownRecipient);
        let facts = Facts {
            recipient_is_user: true,
            recipient_is_student: true,
            ..Facts::default()
        };
        let c = classify(&envelope("alice", 5, None), &facts);
        assert_eq!(c.status(), Status::Undeliverable);
        assert_eq!(c.kind(), Kind::Other);
    }

    struct ReviewCase {
        replied: Replied,
        facts: Facts,
        reply_to: MessageId,
    }

    fn review_case() -> ReviewCase {
        let sub = journal::IdGenerator::new().next_submission();
        let replied = Replied {
            gradeable: Gradeable {
                submission_id: sub,
                username: user("alice"),
                assignment: AssignmentName::parse("hw1").unwrap(),
                component: Component::Initial,
                submitted_at_us: 50 * SEC,
                severity: Severity::Ok,
            },
            assignment: Some(hw1(Some(100), Some(200), Some(300))),
            slot: Some(ReviewSlot::Second),
            latest_initial: Some(sub),
        };
        ReviewCase {
            facts: Facts {
                recipient_is_student: true,
                recipient_is_user: true,
                replied: Some(replied.clone()),
                ..Facts::default()
            },
            reply_to: sub.message(2).unwrap(),
            replied,
        }
    }

    fn review_with(change: impl FnOnce(&mut Replied), at: i64) -> Classification {
        let mut case = review_case();
        change(&mut case.replied);
        case.facts.replied = Some(case.replied);
        classify(&envelope("alice", at, Some(case.reply_to)), &case.facts)
    }

    #[test]
    fn assigned_review_of_the_latest_initial_in_time_counts_for_its_slot() {
        let case = review_case();
        let c = classify(&envelope("alice", 150, Some(case.reply_to)), &case.facts);
        assert_eq!(
            c,
            Classification::Review {
                assignment: AssignmentName::parse("hw1").unwrap(),
                component: Component::Review2,
                reviewee: user("alice"),
                reviewed: case.replied.gradeable.submission_id,
            }
        );
    }

    #[test]
    fn review_from_an_unassigned_reviewer_is_refused() {
        let c = review_with(|r| r.slot = None, 150);
        assert_eq!(c.status(), Status::ReviewNotAssigned);
        assert_eq!(c.kind(), Kind::Review);
    }

    #[test]
    fn review_of_an_older_initial_is_of_the_wrong_submission() {
        let newer = journal::IdGenerator::new().next_submission();
        let c = review_with(|r| r.latest_initial = Some(newer), 150);
        assert_eq!(c.status(), Status::ReviewOfWrongSubmission);
        let c = review_with(|r| r.gradeable.component = Component::Final, 150);
        assert_eq!(c.status(), Status::ReviewOfWrongSubmission);
    }

    #[test]
    fn review_at_or_after_the_peer_review_deadline_is_too_late() {
        let c = review_with(|_| {}, 200);
        assert_eq!(c.status(), Status::ReviewTooLate);
    }

    #[test]
    fn reply_to_a_message_that_is_no_submission_is_refused() {
        let mut case = review_case();
        case.facts.replied = None;
        let c = classify(&envelope("alice", 150, Some(case.reply_to)), &case.facts);
        assert_eq!(c.status(), Status::ReviewOfUnknownMessage);
    }
}
