//! Which deadlines are due (pure): every deadline at or before `now` that has not finished,
//! in the order they fell, and when the next one falls.
//!
//! A deadline waits for the earlier ones of its assignment: the peer review needs the cycle
//! the initial deadline draws, and the final re-allows students the initial froze.

use std::collections::HashSet;

use crate::model::{Assignment, AssignmentName, Deadline};

/// One deadline to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The assignment.
    pub assignment: AssignmentName,
    /// Which deadline.
    pub deadline: Deadline,
    /// When it fell, Unix seconds.
    pub at: i64,
}

/// The deadlines of `assignments` due at `now` and not in `finished`, ordered by time, then
/// initial before peer review before final, then assignment name.
pub fn due(
    assignments: &[Assignment],
    finished: &HashSet<(AssignmentName, Deadline)>,
    now: i64,
) -> Vec<Due> {
    let mut due = Vec::new();
    for a in assignments {
        for &deadline in Deadline::ALL {
            if finished.contains(&(a.name.clone(), deadline)) {
                continue;
            }
            match deadline.at(&a.deadlines) {
                Some(at) if at <= now => due.push(Due {
                    assignment: a.name.clone(),
                    deadline,
                    at,
                }),
                // Not due yet (or never scheduled): later deadlines wait for it.
                _ => break,
            }
        }
    }
    due.sort_by(|x, y| (x.at, x.deadline, &x.assignment).cmp(&(y.at, y.deadline, &y.assignment)));
    due
}

/// The earliest unfinished deadline after `now`, if any: when the scheduler wakes next.
pub fn next_after(
    assignments: &[Assignment],
    finished: &HashSet<(AssignmentName, Deadline)>,
    now: i64,
) -> Option<i64> {
    assignments
        .iter()
        .flat_map(|a| {
            Deadline::ALL
                .iter()
                .filter(|d| !finished.contains(&(a.name.clone(), **d)))
                .filter_map(|d| d.at(&a.deadlines))
        })
        .filter(|&at| at > now)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Deadlines;

    fn assignment(
        name: &str,
        initial: Option<i64>,
        peer: Option<i64>,
        fin: Option<i64>,
    ) -> Assignment {
        Assignment {
            name: AssignmentName::parse(name).unwrap(),
            deadlines: Deadlines {
                initial,
                peer_review: peer,
                final_: fin,
            },
            dummy: initial.is_none(),
            created_at: 0,
        }
    }

    fn names(due: &[Due]) -> Vec<(String, Deadline)> {
        due.iter()
            .map(|d| (d.assignment.to_string(), d.deadline))
            .collect()
    }

    #[test]
    fn passed_unfinished_deadlines_are_due_in_the_order_they_fell() {
        let all = [
            assignment("hw2", Some(5), Some(15), Some(40)),
            assignment("hw1", Some(10), Some(10), Some(30)),
            assignment("dummy", None, None, None),
        ];
        let due = due(&all, &HashSet::new(), 30);
        assert_eq!(
            names(&due),
            [
                ("hw2".into(), Deadline::Initial),
                ("hw1".into(), Deadline::Initial),
                ("hw1".into(), Deadline::PeerReview),
                ("hw2".into(), Deadline::PeerReview),
                ("hw1".into(), Deadline::Final),
            ]
        );
        assert_eq!(next_after(&all, &HashSet::new(), 30), Some(40));
    }

    #[test]
    fn finished_deadlines_are_not_due_and_a_deadline_at_now_is() {
        let all = [assignment("hw1", Some(10), Some(20), Some(30))];
        let finished = HashSet::from([(all[0].name.clone(), Deadline::Initial)]);
        let due = due(&all, &finished, 20);
        assert_eq!(names(&due), [("hw1".into(), Deadline::PeerReview)]);
        assert_eq!(next_after(&all, &finished, 20), Some(30));
        let everything: HashSet<_> = Deadline::ALL
            .iter()
            .map(|d| (all[0].name.clone(), *d))
            .collect();
        assert_eq!(next_after(&all, &everything, 0), None);
    }

    #[test]
    fn a_later_deadline_waits_for_an_unscheduled_earlier_one() {
        // A triggered dummy final cannot jump an initial that never ran.
        let all = [assignment("dummy", None, None, Some(5))];
        assert!(due(&all, &HashSet::new(), 10).is_empty());
    }
}
