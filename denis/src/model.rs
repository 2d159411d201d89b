//! The grader's vocabulary (SPEC §8, §9): assignment names and deadlines, components, kinds of
//! submission, statuses, findings and severities. Pure types with their text forms, which are
//! also how they are stored in `course.db`.

use std::fmt;
use std::str::FromStr;

use journal::Username;

/// Why a string is not one of the values of a stored enumeration (a damaged or newer database).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {what}; expected one of: {expected}")]
pub struct UnknownValue {
    /// Which enumeration was being parsed.
    pub what: &'static str,
    /// The text found.
    pub value: String,
    /// The accepted texts.
    pub expected: &'static str,
}

/// Declares a fieldless enum with a fixed text form used in the database and in messages.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored text form.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownValue {
                        what: $what,
                        value: other.to_string(),
                        expected: concat!($($text, " "),+),
                    }),
                }
            }
        }
    };
}

text_enum! {
    /// The part of an assignment a gradeable counts for (SPEC §9, §10).
    Component, "component" {
        /// The patchset sent before the initial deadline.
        Initial => "initial",
        /// The review of the first assigned reviewee.
        Review1 => "review1",
        /// The review of the second assigned reviewee.
        Review2 => "review2",
        /// The patchset sent after the initial and before the final deadline.
        Final => "final",
    }
}

impl Component {
    /// The review component of peer-review slot `slot` (1 or 2).
    pub fn review(slot: ReviewSlot) -> Component {
        match slot {
            ReviewSlot::First => Component::Review1,
            ReviewSlot::Second => Component::Review2,
        }
    }
}

text_enum! {
    /// One of the three deadlines of an assignment (SPEC §9), as `coursemail assignment trigger`
    /// names it and `deadline_runs.component` stores it. Ordered as they fall.
    Deadline, "deadline" {
        /// End of the initial submission phase: delinquents frozen, cycle drawn, initials released.
        Initial => "initial",
        /// End of the peer-review phase: reviews released.
        PeerReview => "peer-review",
        /// End of the final submission phase: oopsie users re-allowed, finals released.
        Final => "final",
    }
}

impl Deadline {
    /// When this deadline falls for an assignment with `deadlines` (`None`: not yet).
    pub fn at(self, deadlines: &Deadlines) -> Option<i64> {
        match self {
            Deadline::Initial => deadlines.initial,
            Deadline::PeerReview => deadlines.peer_review,
            Deadline::Final => deadlines.final_,
        }
    }

    /// The deadline that must have run before this one.
    pub fn previous(self) -> Option<Deadline> {
        match self {
            Deadline::Initial => None,
            Deadline::PeerReview => Some(Deadline::Initial),
            Deadline::Final => Some(Deadline::PeerReview),
        }
    }
}

text_enum! {
    /// How bad a finding is; the overall severity of a check is the worst of its findings.
    Severity, "severity" {
        /// The check passed.
        Ok => "ok",
        /// Reported to the student, does not stop grading.
        Warning => "warning",
        /// The submission cannot be graded as sent (it gets an automatic 0 at the deadline).
        Fatal => "fatal",
    }
}

text_enum! {
    /// What a submission turned out to be (SPEC §8).
    Kind, "submission kind" {
        /// A series sent to an assignment address.
        Patchset => "patchset",
        /// A reply to a student's series, addressed to a student.
        Review => "review",
        /// Mail to a list address, released at once.
        Discussion => "discussion",
        /// Anything else: recorded, never released.
        Other => "other",
    }
}

text_enum! {
    /// The outcome recorded for every processed session (`submissions.status`).
    Status, "submission status" {
        /// A patchset or review that became a gradeable (its findings say how good it is).
        Accepted => "accepted",
        /// Discussion released into the journal.
        Released => "released",
        /// A patchset sent after the final deadline.
        PastDue => "past due",
        /// The first recipient is no assignment, list or user.
        UnknownRecipient => "unknown recipient",
        /// Mail to a person that is not a review reply to a student; not delivered.
        Undeliverable => "not a review",
        /// A reply whose In-Reply-To names no submitted patchset message.
        ReviewOfUnknownMessage => "review of an unknown message",
        /// The sender is not assigned to review the author of the replied-to series.
        ReviewNotAssigned => "review not assigned",
        /// The replied-to series is not the reviewee's latest initial submission.
        ReviewOfWrongSubmission => "review of the wrong submission",
        /// Sent after the assignment's peer-review deadline.
        ReviewTooLate => "review too late",
    }
}

/// Peer-review slot: which of a reviewer's (at most two) reviewees (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReviewSlot {
    /// Slot 1: the review counts as `review1`.
    First,
    /// Slot 2: the review counts as `review2`.
    Second,
}

impl ReviewSlot {
    /// The slot stored as `n` (1 or 2).
    pub fn from_number(n: i64) -> Option<ReviewSlot> {
        match n {
            1 => Some(ReviewSlot::First),
            2 => Some(ReviewSlot::Second),
            _ => None,
        }
    }

    /// The stored number, 1 or 2.
    pub fn number(self) -> i64 {
        match self {
            ReviewSlot::First => 1,
            ReviewSlot::Second => 2,
        }
    }
}

text_enum! {
    /// Which of the grader's checks (SPEC §8) a finding comes from: what a student is told
    /// failed before the deadline, without the details.
    Check, "check" {
        /// The series as a whole: any messages, any patches, done in time.
        Series => "series",
        /// A cover letter first, and filled in.
        CoverLetter => "cover letter",
        /// Only paths under the student's own directory.
        OwnDirectory => "own directory",
        /// Every patch applies.
        Applies => "patches apply",
        /// No whitespace errors.
        Whitespace => "whitespace",
        /// `Signed-off-by` with the account's full name and address.
        SignOff => "sign-off",
        /// `[RFC PATCH vN i/n]` / `[PATCH vN i/n]` subject tags.
        SubjectTags => "subject tags",
        /// How the mail was taken in (recipient, deadline, review rules).
        Intake => "intake",
    }
}

/// One result of a check, as the student sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// What was found, in a sentence a student can act on.
    pub message: String,
    /// The check it comes from; `None` for findings recorded before checks were named.
    pub check: Option<Check>,
}

impl Finding {
    /// A passed check.
    pub fn ok(message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Ok,
            message: message.into(),
            check: None,
        }
    }

    /// A problem that does not stop grading.
    pub fn warning(message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Warning,
            message: message.into(),
            check: None,
        }
    }

    /// A problem that makes the submission ungradable.
    pub fn fatal(message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Fatal,
            message: message.into(),
            check: None,
        }
    }

    /// The same finding, named as coming from `check`.
    pub fn of(mut self, check: Check) -> Finding {
        self.check = Some(check);
        self
    }
}

/// What a student sees of `findings` before the deadline (SPEC §10): the checks that failed,
/// by name and severity, worst first, not their details (pure). Findings of unnamed checks
/// count as "other checks".
pub fn summarize(findings: &[Finding]) -> String {
    let mut failed: Vec<(Severity, &str)> = Vec::new();
    for f in findings.iter().filter(|f| f.severity != Severity::Ok) {
        let name = f.check.map_or("other checks", Check::as_str);
        match failed.iter_mut().find(|(_, n)| *n == name) {
            Some(entry) => entry.0 = entry.0.max(f.severity),
            None => failed.push((f.severity, name)),
        }
    }
    if failed.is_empty() {
        return "all checks passed".to_string();
    }
    failed.sort_by_key(|f| std::cmp::Reverse(f.0));
    let names: Vec<String> = failed
        .iter()
        .map(|(severity, name)| format!("{name} ({severity})"))
        .collect();
    let what = if failed.len() == 1 { "check" } else { "checks" };
    format!("{} {what} failed: {}", failed.len(), names.join(", "))
}

/// The worst severity among `findings` (`Ok` when there are none).
pub fn overall_severity(findings: &[Finding]) -> Severity {
    findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Ok)
}

/// Why a string cannot name an assignment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a valid assignment name: use 1 to 64 characters, a lowercase letter first, \
     then lowercase letters, digits, '.', '_' or '-' (it becomes an email local part)"
)]
pub struct AssignmentNameError(pub String);

/// A validated assignment name. It is an email local part (students send series to
/// `name@HOST`), so it follows the username rules of [`Username`]: the same characters keep it
/// safe in addresses, file names and git ref names.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AssignmentName(String);

impl AssignmentName {
    /// Validates `s` as an assignment name.
    pub fn parse(s: &str) -> Result<AssignmentName, AssignmentNameError> {
        Username::parse(s)
            .map(|u| AssignmentName(u.as_str().to_string()))
            .map_err(|_| AssignmentNameError(s.escape_debug().to_string()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AssignmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AssignmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl FromStr for AssignmentName {
    type Err = AssignmentNameError;
    fn from_str(s: &str) -> Result<Self, AssignmentNameError> {
        AssignmentName::parse(s)
    }
}

/// The three deadlines of an assignment, in Unix seconds.
///
/// `None` means "has not passed": a dummy assignment starts with all three `None`, and
/// triggering one of its deadlines (issue 6) sets it to the time of the trigger. So every
/// comparison treats dummy and scheduled assignments alike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deadlines {
    /// End of the initial submission phase.
    pub initial: Option<i64>,
    /// End of the peer-review phase.
    pub peer_review: Option<i64>,
    /// End of the final submission phase.
    pub final_: Option<i64>,
}

impl Deadlines {
    /// Whether the deadline `at` has passed for something that happened at `micros` (Unix
    /// microseconds). A deadline is exclusive: AUTH exactly at the deadline is late.
    pub fn passed(at: Option<i64>, micros: i64) -> bool {
        at.is_some_and(|secs| micros >= secs.saturating_mul(1_000_000))
    }

    /// The first set deadline that is already in the past at `now` (Unix seconds), by name:
    /// creating or moving an assignment there runs that deadline at once, which deserves a
    /// confirmation (a typo in the year froze a class in seconds).
    pub fn first_past(&self, now: i64) -> Option<&'static str> {
        [
            ("initial", self.initial),
            ("peer-review", self.peer_review),
            ("final", self.final_),
        ]
        .into_iter()
        .find(|(_, at)| at.is_some_and(|at| at <= now))
        .map(|(name, _)| name)
    }

    /// Checks initial ≤ peer review ≤ final among the deadlines that are set.
    pub fn check_order(&self) -> Result<(), DeadlineOrderError> {
        let set: Vec<(&'static str, i64)> = [
            ("initial", self.initial),
            ("peer-review", self.peer_review),
            ("final", self.final_),
        ]
        .into_iter()
        .filter_map(|(n, t)| t.map(|t| (n, t)))
        .collect();
        for pair in set.windows(2) {
            if pair[0].1 > pair[1].1 {
                return Err(DeadlineOrderError {
                    earlier: pair[0].0,
                    later: pair[1].0,
                });
            }
        }
        Ok(())
    }
}

/// Deadlines out of order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {earlier} deadline is after the {later} deadline; use initial ≤ peer review ≤ final")]
pub struct DeadlineOrderError {
    /// The deadline that should come first.
    pub earlier: &'static str,
    /// The deadline that should come later.
    pub later: &'static str,
}

/// An assignment as stored in `course.db`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Its name, also its email local part.
    pub name: AssignmentName,
    /// Its deadlines.
    pub deadlines: Deadlines,
    /// Dummy assignments have no scheduled deadlines; they run only when triggered.
    pub dummy: bool,
    /// When it was created, Unix seconds.
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        for c in Component::ALL {
            assert_eq!(c.as_str().parse::<Component>().unwrap(), *c);
        }
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), *s);
        }
        let err = "bogus".parse::<Severity>().unwrap_err();
        assert!(err.to_string().contains("ok warning fatal"), "{err}");
    }

    #[test]
    fn the_summary_names_failed_checks_worst_first_without_details() {
        let findings = [
            Finding::ok("cover letter present").of(Check::CoverLetter),
            Finding::warning("patch 2 has no Signed-off-by line").of(Check::SignOff),
            Finding::warning("patch 3 has no Signed-off-by line").of(Check::SignOff),
            Finding::fatal("patch 2 does not apply: ...").of(Check::Applies),
            Finding::warning("from an older version"),
        ];
        assert_eq!(
            summarize(&findings),
            "3 checks failed: patches apply (fatal), sign-off (warning), other checks (warning)"
        );
        assert_eq!(summarize(&findings[..1]), "all checks passed");
    }

    #[test]
    fn overall_severity_is_the_worst_finding() {
        assert_eq!(overall_severity(&[]), Severity::Ok);
        let findings = [Finding::ok("a"), Finding::fatal("b"), Finding::warning("c")];
        assert_eq!(overall_severity(&findings), Severity::Fatal);
    }

    #[test]
    fn assignment_names_follow_the_username_rules() {
        assert!(AssignmentName::parse("hw1").is_ok());
        assert!(AssignmentName::parse("HW1").is_err());
        assert!(AssignmentName::parse("1hw").is_err());
        assert!(AssignmentName::parse("hw/1").is_err());
        assert!(AssignmentName::parse("").is_err());
    }

    #[test]
    fn unset_deadline_never_passes_and_a_set_one_is_exclusive() {
        assert!(!Deadlines::passed(None, i64::MAX));
        assert!(!Deadlines::passed(Some(10), 9_999_999));
        assert!(Deadlines::passed(Some(10), 10_000_000));
    }

    #[test]
    fn the_first_past_deadline_is_named() {
        let d = Deadlines {
            initial: Some(100),
            peer_review: None,
            final_: Some(300),
        };
        assert_eq!(d.first_past(99), None);
        assert_eq!(d.first_past(100), Some("initial"));
        assert_eq!(
            Deadlines { initial: None, ..d }.first_past(500),
            Some("final")
        );
    }

    #[test]
    fn deadlines_must_be_in_order() {
        let ok = Deadlines {
            initial: Some(1),
            peer_review: None,
            final_: Some(3),
        };
        assert!(ok.check_order().is_ok());
        let bad = Deadlines {
            initial: Some(5),
            peer_review: Some(4),
            final_: None,
        };
        let err = bad.check_order().unwrap_err();
        assert_eq!(err.earlier, "initial");
        assert_eq!(err.later, "peer-review");
    }
}
