//! `coursemail user add|list|passwd|clear-password|remove` (SPEC §12).

use std::process::ExitCode;

use accounts::{NewUser, Role};
use anyhow::{Result, bail};

use super::{read_password_stdin, username};
use crate::cli::UserCommand;
use crate::context::Context;
use crate::table::Table;
use crate::times;

/// Runs one `user` subcommand against the accounts database.
pub fn run(ctx: &Context, cmd: UserCommand) -> Result<ExitCode> {
    let accounts = ctx.accounts()?;
    match cmd {
        UserCommand::Add {
            name,
            full_name,
            student_id,
            password_stdin,
            instructor,
        } => {
            let username = username(&name)?;
            refuse_course_address(ctx, username.as_str())?;
            let password = if password_stdin {
                Some(read_password_stdin()?)
            } else {
                None
            };
            let user = accounts.add_user(&NewUser {
                full_name: full_name.unwrap_or_else(|| name.clone()),
                username,
                student_id,
                role: if instructor {
                    Role::Instructor
                } else {
                    Role::Student
                },
                password,
            })?;
            let how = if user.has_password {
                "can log in now".to_string()
            } else if let Some(id) = &user.student_id {
                format!("registers on the web with student id {id}")
            } else {
                "has no password yet: set one with `coursemail user passwd` or give a student id"
                    .to_string()
            };
            println!(
                "added {} {} <{}@{}>; {how}",
                user.role, user.username, user.username, ctx.config.hostname
            );
        }
        UserCommand::List => {
            let users = accounts.list_users()?;
            println!(
                "{:<24} {:<10} {:<12} {:<20} FULL NAME",
                "USERNAME", "ROLE", "STATUS", "STUDENT ID"
            );
            for u in &users {
                let status = if u.has_password {
                    "active"
                } else {
                    "unregistered"
                };
                println!(
                    "{:<24} {:<10} {:<12} {:<20} {}",
                    u.username.as_str(),
                    u.role.to_string(),
                    status,
                    u.student_id.as_deref().unwrap_or("-"),
                    u.full_name
                );
            }
            eprintln!("{} user(s)", users.len());
        }
        UserCommand::Passwd { name, .. } => {
            let username = username(&name)?;
            let password = read_password_stdin()?;
            accounts.set_password(&username, &password)?;
            println!("password of {username} changed");
        }
        UserCommand::ClearPassword { name } => {
            let username = username(&name)?;
            accounts.clear_password(&username)?;
            println!("password of {username} cleared: they register again with their student id");
        }
        UserCommand::Remove { name } => {
            let username = username(&name)?;
            accounts.remove_user(&username)?;
            println!("removed {username}");
        }
        UserCommand::Sessions { name } => {
            let username = username(&name)?;
            let sessions = accounts.sessions_of(&username)?;
            let when = |t: Option<i64>| {
                t.map_or("-".to_string(), |t| {
                    times::readable(t, times::local_offset_at(t))
                })
            };
            let mut table = Table::new(&["SESSION", "CREATED", "LAST USED", "ADDRESS", "ENDS"]);
            for s in &sessions {
                table.row(vec![
                    s.id.clone(),
                    when(s.created_at),
                    when(s.last_used_at),
                    s.client.clone().unwrap_or_else(|| "-".to_string()),
                    when(Some(s.expires_at)),
                ]);
            }
            for line in table.lines() {
                println!("{line}");
            }
            eprintln!("{} session(s) of {username}", sessions.len());
        }
        UserCommand::Logout { name } => {
            let username = username(&name)?;
            let ended = accounts.end_sessions(&username, None)?;
            println!("ended {ended} web session(s) of {username}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Usernames, list addresses and assignments share one namespace of local parts (smtp routes
/// `name@HOST` by it), so a user may not take a list's or an assignment's name.
fn refuse_course_address(ctx: &Context, name: &str) -> Result<()> {
    if ctx.config.course.addresses()?.iter().any(|l| l == name) {
        bail!("{name} is a list address; choose another username");
    }
    if let Some(db) = ctx.existing_course_db()?
        && db.is_assignment(name)?
    {
        bail!("{name} is an assignment; choose another username");
    }
    Ok(())
}
