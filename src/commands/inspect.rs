//! `coursemail inspect submissions|gradeables|missing|oopsies|runs|reviews [--assignment A]
//! [--user U]` (SPEC §12): what the grader recorded, as tables. Times are local RFC 3339.

use std::process::ExitCode;

use anyhow::{Result, bail};
use denis::model::overall_severity;
use denis::{AssignmentName, Component, CourseDb, Filter, Finding, Kind, Submission};

use super::username;
use crate::cli::{InspectArgs, InspectWhat};
use crate::context::Context;
use crate::schedule;
use crate::table::Table;

/// Rendered output: the lines for stdout and how many records they show.
struct Listing {
    lines: Vec<String>,
    count: usize,
}

/// Prints the table `args` asks for.
pub fn run(ctx: &Context, args: InspectArgs) -> Result<ExitCode> {
    let filter = Filter {
        assignment: args
            .assignment
            .as_deref()
            .map(AssignmentName::parse)
            .transpose()?,
        user: args.user.as_deref().map(username).transpose()?,
    };
    let Some(db) = ctx.existing_course_db()? else {
        eprintln!(
            "nothing recorded yet: there is no course database at {} (the grader creates it)",
            ctx.root.course_db().display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let (listing, what) = match args.what {
        InspectWhat::Submissions => (submissions(&db, &filter)?, "submission(s)"),
        InspectWhat::Gradeables => (gradeables(&db, &filter)?, "gradeable(s)"),
        InspectWhat::Missing => {
            let rows = db.missing(&filter, &ctx.accounts()?)?;
            let mut table = Table::new(&["ASSIGNMENT", "USER"]);
            for row in rows {
                table.row(vec![row.assignment.to_string(), row.username.to_string()]);
            }
            (listing(&table), "missing initial submission(s)")
        }
        InspectWhat::Oopsies => {
            let mut table = Table::new(&["USER", "ASSIGNMENT", "USED AT"]);
            for row in db.inspect_oopsies(&filter)? {
                table.row(vec![
                    row.username.to_string(),
                    row.assignment.to_string(),
                    local_time(row.used_at),
                ]);
            }
            (listing(&table), "oopsie(s)")
        }
        InspectWhat::Runs => {
            if filter.user.is_some() {
                bail!("deadline runs are per assignment: use --assignment, not --user");
            }
            (runs(&db, &filter)?, "deadline run(s)")
        }
        InspectWhat::Reviews => (reviews(&db, &filter)?, "peer review(s)"),
    };
    for line in &listing.lines {
        println!("{line}");
    }
    eprintln!("{} {what}", listing.count);
    Ok(ExitCode::SUCCESS)
}

/// When each deadline ran and what it did. The summary comes last: it has spaces.
fn runs(db: &CourseDb, filter: &Filter) -> Result<Listing> {
    let mut table = Table::new(&[
        "ASSIGNMENT",
        "DEADLINE",
        "STARTED",
        "FINISHED",
        "ATTEMPTS",
        "SUMMARY",
    ]);
    for run in db.deadline_runs(filter.assignment.as_ref())? {
        table.row(vec![
            run.assignment.to_string(),
            run.deadline.to_string(),
            local_time(run.started_at),
            or_dash(run.finished_at.map(local_time)),
            run.attempts.to_string(),
            schedule::summary(&run),
        ]);
    }
    Ok(listing(&table))
}

/// Who reviews whom, per assignment; `--user` matches either side.
fn reviews(db: &CourseDb, filter: &Filter) -> Result<Listing> {
    let assignments: Vec<AssignmentName> = match &filter.assignment {
        Some(a) => vec![a.clone()],
        None => db.list_assignments()?.into_iter().map(|a| a.name).collect(),
    };
    let mut table = Table::new(&["ASSIGNMENT", "REVIEWER", "REVIEWEE", "COMPONENT"]);
    for assignment in &assignments {
        for pair in db.peer_review_cycle(assignment)? {
            let involved = filter
                .user
                .as_ref()
                .is_none_or(|u| *u == pair.reviewer || *u == pair.reviewee);
            if involved {
                table.row(vec![
                    pair.assignment.to_string(),
                    pair.reviewer.to_string(),
                    pair.reviewee.to_string(),
                    Component::review(pair.slot).to_string(),
                ]);
            }
        }
    }
    Ok(listing(&table))
}

fn listing(table: &Table) -> Listing {
    Listing {
        lines: table.lines(),
        count: table.len(),
    }
}

/// Every processed session. The status comes last: it may contain spaces (`past due`).
fn submissions(db: &CourseDb, filter: &Filter) -> Result<Listing> {
    let mut table = Table::new(&[
        "SUBMISSION",
        "TIME",
        "USER",
        "TO",
        "KIND",
        "ASSIGNMENT",
        "COMPONENT",
        "SEVERITY",
        "STATUS",
    ]);
    for s in db.inspect_submissions(filter)? {
        let severity = match s.kind {
            // Only checked submissions have a severity worth showing; the rest are routed.
            Kind::Patchset | Kind::Review => {
                overall_severity(&db.findings(&s.submission_id)?).to_string()
            }
            Kind::Discussion | Kind::Other => "-".to_string(),
        };
        table.row(submission_row(&s, severity));
    }
    Ok(listing(&table))
}

fn submission_row(s: &Submission, severity: String) -> Vec<String> {
    vec![
        s.submission_id.to_string(),
        local_time(s.auth_time_us.div_euclid(1_000_000)),
        s.username.to_string(),
        s.first_recipient.clone(),
        s.kind.to_string(),
        or_dash(s.assignment.as_ref().map(ToString::to_string)),
        or_dash(s.component.map(|c| c.to_string())),
        severity,
        s.status.to_string(),
    ]
}

/// Gradeables, each followed by its findings, indented.
fn gradeables(db: &CourseDb, filter: &Filter) -> Result<Listing> {
    let rows = db.inspect_gradeables(filter)?;
    let mut table = Table::new(&[
        "SUBMISSION",
        "TIME",
        "USER",
        "ASSIGNMENT",
        "COMPONENT",
        "SEVERITY",
    ]);
    for row in &rows {
        let g = &row.gradeable;
        table.row(vec![
            g.submission_id.to_string(),
            local_time(g.submitted_at_us.div_euclid(1_000_000)),
            g.username.to_string(),
            g.assignment.to_string(),
            g.component.to_string(),
            g.severity.to_string(),
        ]);
    }
    let mut table_lines = table.lines().into_iter();
    let mut lines: Vec<String> = table_lines.next().into_iter().collect();
    for (line, row) in table_lines.zip(&rows) {
        lines.push(line);
        lines.extend(row.findings.iter().map(finding_line));
    }
    Ok(Listing {
        lines,
        count: rows.len(),
    })
}

/// `    warning  patch 2 has no Signed-off-by line; ...`
fn finding_line(f: &Finding) -> String {
    format!("    {:<7}  {}", f.severity.as_str(), f.message)
}

fn local_time(unix_secs: i64) -> String {
    schedule::local(unix_secs)
}

fn or_dash(value: Option<String>) -> String {
    value.unwrap_or_else(|| "-".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_indented_under_their_gradeable_with_the_severity_first() {
        let line = finding_line(&Finding::warning("patch 2 has no Signed-off-by line"));
        assert_eq!(line, "    warning  patch 2 has no Signed-off-by line");
        assert_eq!(finding_line(&Finding::ok("x")), "    ok       x");
    }
}
