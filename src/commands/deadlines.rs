//! `coursemail deadlines run-due` and `coursemail assignment trigger NAME DEADLINE` (SPEC §9,
//! §12): deadlines run from the command line, next to (or instead of) the daemon's scheduler.
//!
//! Both go through denis's [`DeadlineRunner`], whose lock and `deadline_runs` claims make the
//! daemon and cron take turns: a deadline is never processed twice, whoever runs it. Both take
//! in closed sessions first, as the scheduler does, so a series whose session closed just
//! before the deadline is recorded (and released) by it rather than its sender frozen.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use denis::{AssignmentName, Deadline, DeadlineRunner, IntakeReport};

use super::serve::runtime;
use crate::context::Context;
use crate::schedule;
use crate::services;
use crate::times;

/// `deadlines run-due`: one line per deadline run; non-zero exit if one failed.
pub fn run_due(ctx: &Context) -> Result<ExitCode> {
    let intake = take_in_pending(ctx)?;
    let runner = open_runner(ctx)?;
    let now = times::now();
    let due = runner.due(now)?;
    let report = runner.run_due(now)?;
    for run in &report.ran {
        let at = due
            .iter()
            .find(|d| d.assignment == run.assignment && d.deadline == run.deadline)
            .map(|d| d.at);
        println!("{}", schedule::ran_line(run, at));
    }
    for (assignment, deadline, error) in &report.failed {
        eprintln!(
            "coursemail: the {deadline} deadline of {assignment} failed: {error}; it is retried \
             at the next run"
        );
    }
    if report.ran.is_empty() && report.failed.is_empty() && std::io::stdout().is_terminal() {
        // Silent under cron (which mails any output); a person running it gets an answer.
        println!("nothing due");
    }
    let ok = report.failed.is_empty() && intake.failed == 0;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `assignment trigger NAME DEADLINE`: runs it now and says what it did, or that it had run.
pub fn trigger(ctx: &Context, name: &AssignmentName, deadline: Deadline) -> Result<ExitCode> {
    let intake = take_in_pending(ctx)?;
    let runner = open_runner(ctx)?;
    let outcome = runner
        .trigger(name, deadline, times::now())
        .with_context(|| format!("cannot run the {deadline} deadline of {name}"))?;
    println!("{}", schedule::outcome_line(&outcome));
    Ok(if intake.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn open_runner(ctx: &Context) -> Result<DeadlineRunner> {
    DeadlineRunner::open(&ctx.root).with_context(|| {
        format!(
            "cannot open the course for running deadlines in {}",
            ctx.root.root().display()
        )
    })
}

/// Processes every closed session the grader has not recorded yet. Failures are reported on
/// stderr (the deadline still runs, as in the daemon) and make the command exit non-zero.
fn take_in_pending(ctx: &Context) -> Result<IntakeReport> {
    let report = runtime()?.block_on(async {
        let intake = services::denis(ctx).await?;
        intake
            .process_all_pending()
            .await
            .context("cannot take in the sessions closed since the grader last ran")
    })?;
    if report.failed > 0 {
        eprintln!(
            "coursemail: {} session(s) could not be taken in (the log above says why); they \
             are retried by the grader and the next run",
            report.failed
        );
    }
    Ok(report)
}
