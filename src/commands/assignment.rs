//! `coursemail assignment create|dummy|list|alter|remove|trigger` (SPEC §9, §12). Validation
//! (name rules, clashes with users and lists, deadline order) is the grader's; this module
//! parses times and prints. `trigger` runs a deadline, see [`super::deadlines`].

use std::process::ExitCode;

use anyhow::{Result, bail};
use denis::db::assignments::Removal;
use denis::{Assignment, AssignmentName, Deadlines, NewAssignment};

use super::deadlines;
use crate::cli::AssignmentCommand;
use crate::context::Context;
use crate::table::Table;
use crate::times;

/// Runs one `assignment` subcommand against the course database.
pub fn run(ctx: &Context, cmd: AssignmentCommand) -> Result<ExitCode> {
    match cmd {
        AssignmentCommand::Create {
            name,
            initial,
            peer_review,
            final_,
            allow_past,
        } => {
            let new = NewAssignment::scheduled(
                AssignmentName::parse(&name)?,
                times::parse_time(&initial)?,
                times::parse_time(&peer_review)?,
                times::parse_time(&final_)?,
            );
            refuse_past(&new.deadlines, allow_past)?;
            create(ctx, &new)?;
        }
        AssignmentCommand::Dummy { name } => {
            create(ctx, &NewAssignment::dummy(AssignmentName::parse(&name)?))?;
        }
        AssignmentCommand::List { iso } => list(ctx, iso)?,
        AssignmentCommand::Alter {
            name,
            initial,
            peer_review,
            final_,
            allow_past,
        } => {
            let parse = |t: Option<String>| t.as_deref().map(times::parse_time).transpose();
            let changes = Deadlines {
                initial: parse(initial)?,
                peer_review: parse(peer_review)?,
                final_: parse(final_)?,
            };
            refuse_past(&changes, allow_past)?;
            alter(ctx, &AssignmentName::parse(&name)?, &changes)?;
        }
        AssignmentCommand::Trigger { name, deadline } => {
            return deadlines::trigger(ctx, &AssignmentName::parse(&name)?, deadline.into());
        }
        AssignmentCommand::Remove { name } => {
            let name = AssignmentName::parse(&name)?;
            match ctx.course_db()?.remove_assignment(&name)? {
                Removal::Removed => println!("removed assignment {name}"),
                Removal::NotFound => bail!(no_such_assignment(&name)),
                Removal::InUse {
                    submissions,
                    grades,
                } => bail!(
                    "assignment {name} is kept: {submissions} submission(s) and {grades} \
                     grade(s) count for it and would be orphaned; move its deadlines with \
                     `coursemail assignment alter` instead"
                ),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A deadline in the past runs at once, freezing and zeroing students: a typo in a year must
/// not do that silently, so it takes `--allow-past`.
fn refuse_past(deadlines: &Deadlines, allowed: bool) -> Result<()> {
    match deadlines.first_past(times::now()) {
        Some(which) if !allowed => bail!(
            "the {which} deadline is in the past: it would run at once, freezing and zeroing \
             students who have not submitted; check the date, or add --allow-past to mean it"
        ),
        _ => Ok(()),
    }
}

fn create(ctx: &Context, new: &NewAssignment) -> Result<()> {
    let lists = ctx.config.course.addresses()?;
    let accounts = ctx.accounts()?;
    let assignment = ctx.course_db()?.create_assignment(new, &accounts, &lists)?;
    let name = &assignment.name;
    if assignment.dummy {
        println!(
            "created dummy assignment {name}: its deadlines run only when triggered; students \
             send series to {name}@{}",
            ctx.config.hostname
        );
    } else {
        println!(
            "created assignment {name}: {}; students send series to {name}@{}",
            describe_deadlines(&assignment.deadlines),
            ctx.config.hostname
        );
    }
    Ok(())
}

fn alter(ctx: &Context, name: &AssignmentName, changes: &Deadlines) -> Result<()> {
    if changes == &Deadlines::default() {
        bail!("nothing to change: give at least one of --initial, --peer-review and --final");
    }
    let db = ctx.course_db()?;
    match db.get_assignment(name.as_str())? {
        None => bail!(no_such_assignment(name)),
        Some(a) if a.dummy => bail!(
            "{name} is a dummy assignment: it has no schedule to move, its deadlines run only \
             when triggered"
        ),
        Some(_) => {}
    }
    let Some(altered) = db.alter_assignment(name, changes)? else {
        bail!(no_such_assignment(name));
    };
    println!(
        "altered assignment {name}: {}",
        describe_deadlines(&altered.deadlines)
    );
    Ok(())
}

fn list(ctx: &Context, iso: bool) -> Result<()> {
    let assignments = match ctx.existing_course_db()? {
        Some(db) => db.list_assignments()?,
        None => Vec::new(),
    };
    let now = times::now();
    let show = |t: Option<i64>| match t {
        None => "-".to_string(),
        Some(t) if iso => times::rfc3339(t, times::local_offset_at(t)),
        Some(t) => times::readable(t, times::local_offset_at(t)),
    };
    let mut table = Table::new(&["NAME", "INITIAL", "PEER REVIEW", "FINAL", "DUMMY", "NEXT"]);
    for a in &assignments {
        let d = &a.deadlines;
        table.row(vec![
            a.name.to_string(),
            show(d.initial),
            show(d.peer_review),
            show(d.final_),
            if a.dummy { "yes" } else { "no" }.to_string(),
            next_deadline(a, now),
        ]);
    }
    for line in table.lines() {
        println!("{line}");
    }
    eprintln!("{} assignment(s)", assignments.len());
    Ok(())
}

/// The next deadline of `a` after `now`, relative: `initial in 3d 4h`, or why there is none.
fn next_deadline(a: &Assignment, now: i64) -> String {
    let d = &a.deadlines;
    let upcoming = [
        ("initial", d.initial),
        ("peer review", d.peer_review),
        ("final", d.final_),
    ]
    .into_iter()
    .find_map(|(what, t)| t.filter(|&t| t > now).map(|t| (what, t)));
    match upcoming {
        Some((what, t)) => format!("{what} {}", times::relative(t, now)),
        None if a.dummy => "when triggered".to_string(),
        None => "all passed".to_string(),
    }
}

/// `initial 2026-12-01 23:59 +01:00, peer review ..., final ...`.
fn describe_deadlines(d: &Deadlines) -> String {
    let show = |t: Option<i64>| match t {
        Some(t) => times::rfc3339(t, times::local_offset_at(t)),
        None => "not scheduled".to_string(),
    };
    format!(
        "initial {}, peer review {}, final {}",
        show(d.initial),
        show(d.peer_review),
        show(d.final_)
    )
}

fn no_such_assignment(name: &AssignmentName) -> String {
    format!("there is no assignment {name}; `coursemail assignment list` shows them")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(deadlines: Deadlines, dummy: bool) -> Assignment {
        Assignment {
            name: AssignmentName::parse("hw1").unwrap(),
            deadlines,
            dummy,
            created_at: 0,
        }
    }

    #[test]
    fn next_deadline_is_the_first_one_still_ahead() {
        const DAY: i64 = 86_400;
        let d = Deadlines {
            initial: Some(10 * DAY),
            peer_review: Some(20 * DAY),
            final_: Some(30 * DAY),
        };
        let a = assignment(d, false);
        assert_eq!(next_deadline(&a, 8 * DAY), "initial in 2d 0h");
        assert_eq!(next_deadline(&a, 10 * DAY), "peer review in 10d 0h");
        assert_eq!(next_deadline(&a, 29 * DAY), "final in 1d 0h");
        assert_eq!(next_deadline(&a, 30 * DAY), "all passed");
        let dummy = assignment(Deadlines::default(), true);
        assert_eq!(next_deadline(&dummy, 0), "when triggered");
    }
}
