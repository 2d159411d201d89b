//! Deadlines in words (SPEC §9): the line `coursemail denis` and `up` print at start (what is
//! due now, or when the next deadline falls) and the one line per deadline run that
//! `assignment trigger`, `deadlines run-due` and `inspect runs` show. Pure: the callers read
//! the course database and pass the time.

use std::collections::HashSet;

use denis::deadlines::due;
use denis::{Assignment, AssignmentName, Deadline, DeadlineRun, RunOutcome};

use crate::times;

/// The finished (assignment, deadline) pairs among `runs`.
pub fn finished(runs: &[DeadlineRun]) -> HashSet<(AssignmentName, Deadline)> {
    runs.iter()
        .filter(|r| r.finished_at.is_some())
        .map(|r| (r.assignment.clone(), r.deadline))
        .collect()
}

/// What the scheduler will do first, for the start-up message: the deadlines due at `now`
/// (they ran late because the grader was down, and run at once), else the next one.
pub fn outlook(
    assignments: &[Assignment],
    finished: &HashSet<(AssignmentName, Deadline)>,
    now: i64,
) -> String {
    let due = due::due(assignments, finished, now);
    if !due.is_empty() {
        let names: Vec<String> = due
            .iter()
            .map(|d| format!("{} {}", d.assignment, d.deadline))
            .collect();
        return format!(
            "{} deadline(s) passed while the grader was down, running them now: {}",
            due.len(),
            names.join(", ")
        );
    }
    let Some(at) = due::next_after(assignments, finished, now) else {
        return "no deadline scheduled (dummy assignments run when triggered)".to_string();
    };
    let falling: Vec<String> = assignments
        .iter()
        .flat_map(|a| Deadline::ALL.iter().map(move |d| (a, *d)))
        .filter(|(a, d)| {
            d.at(&a.deadlines) == Some(at) && !finished.contains(&(a.name.clone(), *d))
        })
        .map(|(a, d)| format!("{} {d}", a.name))
        .collect();
    format!(
        "next deadline: {} at {} ({})",
        falling.join(", "),
        times::rfc3339(at, times::local_offset_at(at)),
        times::relative(at, now)
    )
}

/// What one trigger did: `hw1 initial: ran: 2 delinquent, ...`, or that it was already done.
pub fn outcome_line(outcome: &RunOutcome) -> String {
    match outcome {
        RunOutcome::Ran { run, resumed } => {
            let how = if *resumed {
                "ran (finishing a run whose runner had stopped mid-way)"
            } else {
                "ran"
            };
            format!(
                "{} {}: {how}: {}",
                run.assignment,
                run.deadline,
                summary(run)
            )
        }
        RunOutcome::AlreadyDone(run) => format!(
            "{} {}: already done{}: {}; nothing changed",
            run.assignment,
            run.deadline,
            run.finished_at
                .map(|t| format!(" at {}", local(t)))
                .unwrap_or_default(),
            summary(run)
        ),
    }
}

/// A run `deadlines run-due` just made: `ran hw1 initial (due 2026-...): ...`.
pub fn ran_line(run: &DeadlineRun, due_at: Option<i64>) -> String {
    let due = due_at
        .map(|t| format!(" (due {})", local(t)))
        .unwrap_or_default();
    format!(
        "ran {} {}{due}: {}",
        run.assignment,
        run.deadline,
        summary(run)
    )
}

/// The counts of a run, or why there are none yet.
pub fn summary(run: &DeadlineRun) -> String {
    match run.summary {
        Some(s) => s.to_string(),
        None => "unfinished: its runner stopped; the next runner finishes it".to_string(),
    }
}

/// A time for people reading the output: local RFC 3339, which also parses back.
pub fn local(unix_secs: i64) -> String {
    times::rfc3339(unix_secs, times::local_offset_at(unix_secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use denis::{Deadlines, RunSummary};

    fn name(s: &str) -> AssignmentName {
        AssignmentName::parse(s).unwrap()
    }

    fn scheduled(n: &str, initial: i64, peer: i64, fin: i64) -> Assignment {
        Assignment {
            name: name(n),
            deadlines: Deadlines {
                initial: Some(initial),
                peer_review: Some(peer),
                final_: Some(fin),
            },
            dummy: false,
            created_at: 0,
        }
    }

    fn run(n: &str, deadline: Deadline, finished_at: Option<i64>) -> DeadlineRun {
        DeadlineRun {
            assignment: name(n),
            deadline,
            started_at: 0,
            finished_at,
            attempts: 1,
            summary: finished_at.map(|_| RunSummary {
                delinquent: 2,
                released: 3,
                allowed: 0,
                auto_zeroed: 1,
            }),
            scheduled_at: None,
        }
    }

    #[test]
    fn outlook_names_the_deadlines_that_fell_while_the_grader_was_down() {
        let all = [scheduled("hw1", 10, 20, 30)];
        let done = finished(&[run("hw1", Deadline::Initial, Some(11))]);
        let text = outlook(&all, &done, 25);
        assert_eq!(
            text,
            "1 deadline(s) passed while the grader was down, running them now: hw1 peer-review"
        );
    }

    #[test]
    fn outlook_names_the_next_deadline_and_every_assignment_it_falls_on() {
        const HOUR: i64 = 3_600;
        let all = [
            scheduled("hw1", HOUR, 5 * HOUR, 9 * HOUR),
            scheduled("hw2", 5 * HOUR, 6 * HOUR, 9 * HOUR),
        ];
        let done = finished(&[run("hw1", Deadline::Initial, Some(HOUR))]);
        let text = outlook(&all, &done, 2 * HOUR);
        assert!(
            text.starts_with("next deadline: hw1 peer-review, hw2 initial at 1970-01-01T"),
            "{text}"
        );
        assert!(text.ends_with("(in 3h 0m)"), "{text}");
        assert_eq!(
            outlook(&[], &HashSet::new(), 0),
            "no deadline scheduled (dummy assignments run when triggered)"
        );
    }

    #[test]
    fn a_trigger_says_whether_it_ran_or_had_already_run() {
        let done = run("hw1", Deadline::Initial, Some(0));
        let ran = RunOutcome::Ran {
            run: done.clone(),
            resumed: false,
        };
        assert_eq!(
            outcome_line(&ran),
            "hw1 initial: ran: 2 delinquent, 3 released, 0 re-allowed, 1 auto-zeroed"
        );
        let again = outcome_line(&RunOutcome::AlreadyDone(done));
        assert!(
            again.starts_with("hw1 initial: already done at 1970-01-01T"),
            "{again}"
        );
        assert!(again.ends_with("1 auto-zeroed; nothing changed"), "{again}");
    }

    #[test]
    fn an_unfinished_run_says_it_will_be_finished() {
        let crashed = run("hw1", Deadline::Final, None);
        assert!(summary(&crashed).contains("next runner finishes it"));
        assert!(
            ran_line(&run("hw1", Deadline::Final, Some(5)), None).starts_with("ran hw1 final: ")
        );
    }
}
