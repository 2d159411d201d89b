//! `coursemail oopsie USER ASSIGNMENT` (SPEC §10): an instructor uses an oopsie on a student's
//! behalf, under the same rules as the web (the `[course] oopsies_per_term` allowance, only
//! before the initial deadline), which denis enforces.

use std::process::ExitCode;

use accounts::Role;
use anyhow::{Result, bail};
use denis::{AssignmentName, OopsieError};
use journal::Username;

use super::username;
use crate::context::Context;
use crate::times;

/// Records the oopsie and says what it means for the student.
pub fn run(ctx: &Context, user: &str, assignment: &str) -> Result<ExitCode> {
    let user = username(user)?;
    let assignment = AssignmentName::parse(assignment)?;
    // denis leaves this check to the caller: the web only offers oopsies to students.
    let is_student = ctx
        .accounts()?
        .get_user(&user)?
        .is_some_and(|u| u.role == Role::Student);
    if !is_student {
        bail!("{user} is not a student of this course; `coursemail user list` shows the roster");
    }
    let per_term = ctx.config.course.oopsies_per_term;
    let db = ctx.course_db()?;
    match db.use_oopsie(&user, &assignment, times::now(), per_term) {
        Ok(_) => {}
        Err(e) => bail!(
            "cannot use an oopsie for {user} on {assignment}: {}",
            refusal(&user, &e)
        ),
    }
    let used = db.oopsies_used(&user)?;
    println!(
        "{user} used an oopsie on {assignment} ({used} of {per_term} this term): only the final \
         counts, and {user} is re-allowed at the final deadline after sending one"
    );
    Ok(ExitCode::SUCCESS)
}

/// Why the oopsie was refused, told to the instructor: denis words its errors for the student
/// on the web ("you ...", "ask an instructor").
fn refusal(user: &Username, error: &OopsieError) -> String {
    match error {
        OopsieError::TooLate(a) => format!(
            "the initial deadline of {a} has passed, and an oopsie only applies before it; to \
             excuse {user} instead, lift the restriction (`coursemail journal restrict allow \
             {user}`) and enter grades with `coursemail grade set`"
        ),
        OopsieError::AlreadyUsed(a) => format!("{user} already used an oopsie on {a}"),
        OopsieError::NoneLeft { allowance, used_on } => format!(
            "{user} has used all {allowance} oopsie(s) of this term (the last on {used_on}); \
             [course] oopsies_per_term sets the allowance"
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_speak_about_the_student_not_to_them() {
        let bob = Username::parse("bob").unwrap();
        let hw1 = AssignmentName::parse("hw1").unwrap();
        let used = refusal(&bob, &OopsieError::AlreadyUsed(hw1.clone()));
        assert_eq!(used, "bob already used an oopsie on hw1");
        let none = refusal(
            &bob,
            &OopsieError::NoneLeft {
                allowance: 1,
                used_on: hw1.clone(),
            },
        );
        assert!(none.starts_with("bob has used all 1 oopsie(s)"), "{none}");
        assert!(none.contains("oopsies_per_term"), "{none}");
        let late = refusal(&bob, &OopsieError::TooLate(hw1));
        assert!(late.contains("journal restrict allow bob"), "{late}");
        assert!(!late.contains("ask an instructor"), "{late}");
    }
}
