//! `coursemail grade set|export` (SPEC §10, §12): instructors' scores, which replace automatic
//! zeros, and the gradebook with each student's total. The score rules and the total formula
//! are denis's; this module parses and prints.

use std::process::ExitCode;

use anyhow::Result;
use denis::grades::{Applicable, gradebook, write_csv};
use denis::{AssignmentName, Filter, Grade, GradeEntry, GradebookRow, Score};

use super::username;
use crate::cli::GradeCommand;
use crate::context::Context;
use crate::table::Table;
use crate::times;

/// Runs one `grade` subcommand.
pub fn run(ctx: &Context, cmd: GradeCommand) -> Result<ExitCode> {
    match cmd {
        GradeCommand::Set {
            assignment,
            component,
            user,
            score,
            feedback,
        } => {
            let entry = GradeEntry {
                assignment: AssignmentName::parse(&assignment)?,
                component: component.into(),
                username: username(&user)?,
                score: score.parse::<Score>()?,
                feedback,
            };
            set(ctx, &entry)?;
        }
        GradeCommand::Export { csv } => export(ctx, csv)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn set(ctx: &Context, entry: &GradeEntry) -> Result<()> {
    let accounts = ctx.accounts()?;
    let db = ctx.course_db()?;
    let before = db.grade(&entry.assignment, entry.component, &entry.username)?;
    let grade = db.set_grade(&accounts, entry, times::now())?;
    println!("{}", set_line(&grade, before.as_ref()));
    Ok(())
}

/// `alice hw1 final: 85 (replaces an automatic 0: no final submission by the deadline)`.
fn set_line(grade: &Grade, before: Option<&Grade>) -> String {
    let replaced = match before {
        None => String::new(),
        Some(b) if b.automatic => format!(" (replaces an automatic 0: {})", b.feedback),
        Some(b) => format!(" (was {})", b.score),
    };
    format!(
        "{} {} {}: {}{replaced}",
        grade.username, grade.assignment, grade.component, grade.score
    )
}

fn export(ctx: &Context, csv: bool) -> Result<()> {
    let accounts = ctx.accounts()?;
    let db = ctx.course_db()?;
    let rows = gradebook(&db, &accounts, &Filter::default())?;
    if csv {
        write_csv(&rows, &mut std::io::stdout().lock())?;
        return Ok(());
    }
    let mut table = Table::new(&[
        "USER",
        "ASSIGNMENT",
        "INITIAL",
        "REVIEW1",
        "REVIEW2",
        "FINAL",
        "TOTAL",
        "NAME",
    ]);
    for row in &rows {
        table.row(table_row(row));
    }
    for line in table.lines() {
        println!("{line}");
    }
    eprintln!(
        "{} row(s); 0* is an automatic zero, - a grade still to enter, n/a a component that \
         does not count",
        rows.len()
    );
    Ok(())
}

/// One gradebook row for people: the full name last (it may contain spaces).
fn table_row(row: &GradebookRow) -> Vec<String> {
    let Applicable { review1, review2 } = row.applicable;
    // An oopsie user's initial does not count (SPEC §10), so it is never "to enter".
    let initial = cell(row.initial.as_ref(), !row.oopsie);
    let assignment = if row.oopsie {
        format!("{} (oopsie)", row.assignment)
    } else {
        row.assignment.to_string()
    };
    vec![
        row.username.to_string(),
        assignment,
        initial,
        cell(row.review1.as_ref(), review1),
        cell(row.review2.as_ref(), review2),
        cell(row.final_.as_ref(), true),
        row.total.to_string(),
        row.full_name.clone(),
    ]
}

/// A component's score, `0*` for an automatic zero, `-` while missing, `n/a` if it does not
/// count and has no grade.
fn cell(grade: Option<&Grade>, counts: bool) -> String {
    match grade {
        Some(g) if g.automatic => format!("{}*", g.score),
        Some(g) => g.score.to_string(),
        None if counts => "-".to_string(),
        None => "n/a".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use denis::Component;
    use denis::grades::{ComponentScores, total};
    use journal::Username;

    fn grade(component: Component, score: u8, automatic: bool) -> Grade {
        Grade {
            assignment: AssignmentName::parse("hw1").unwrap(),
            component,
            username: Username::parse("alice").unwrap(),
            score: Score::new(score).unwrap(),
            feedback: "no final submission by the deadline".into(),
            automatic,
            updated_at: 0,
        }
    }

    #[test]
    fn setting_a_grade_says_what_it_replaced() {
        let new = grade(Component::Final, 85, false);
        let zero = grade(Component::Final, 0, true);
        assert_eq!(
            set_line(&new, Some(&zero)),
            "alice hw1 final: 85 (replaces an automatic 0: no final submission by the deadline)"
        );
        assert_eq!(
            set_line(&new, Some(&grade(Component::Final, 70, false))),
            "alice hw1 final: 85 (was 70)"
        );
        assert_eq!(set_line(&new, None), "alice hw1 final: 85");
    }

    #[test]
    fn table_marks_automatic_zeros_missing_grades_and_components_that_do_not_count() {
        let applicable = Applicable::for_student(1, false);
        let scores = ComponentScores {
            final_: Some(Score::new(75).unwrap()),
            review1: Some(Score::ZERO),
            review2: None,
        };
        let row = GradebookRow {
            username: Username::parse("alice").unwrap(),
            full_name: "Alice A".into(),
            student_id: None,
            assignment: AssignmentName::parse("hw1").unwrap(),
            initial: None,
            review1: Some(grade(Component::Review1, 0, true)),
            review2: None,
            final_: Some(grade(Component::Final, 75, false)),
            applicable,
            oopsie: false,
            total: total(applicable, &scores),
        };
        assert_eq!(
            table_row(&row),
            ["alice", "hw1", "-", "0*", "n/a", "75", "66.7", "Alice A"]
        );
        let oopsie = GradebookRow {
            oopsie: true,
            ..row
        };
        assert_eq!(table_row(&oopsie)[1..3], ["hw1 (oopsie)", "n/a"]);
    }
}
