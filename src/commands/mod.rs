//! One module per subcommand. Each turns arguments into calls on a library crate and prints the
//! outcome; none holds logic of its own.

mod assignment;
mod deadlines;
mod denis;
mod domain;
mod grade;
mod init;
mod inspect;
mod journal;
mod oopsie;
mod pop;
mod serve;
mod smtp;
mod up;
mod user;
mod web;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command, DeadlinesCommand};
use crate::context::{Context, Record};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let mut ctx = Context::from_cli(&cli)?;
    match &cli.command {
        // They record the domain at the first start, or change it.
        Command::Up(_) | Command::Init | Command::Domain(_) => {}
        _ => {
            ctx.settle_domain(Record::No)?;
        }
    }
    match cli.command {
        Command::Up(args) => up::run(ctx, args),
        Command::Domain(cmd) => domain::run(&mut ctx, cmd),
        Command::Smtp => smtp::run(ctx),
        Command::Pop => pop::run(ctx),
        Command::Denis => denis::run(ctx),
        Command::Web => web::run(ctx),
        Command::Init => init::run(&mut ctx),
        Command::User(cmd) => user::run(&ctx, cmd),
        Command::Journal(cmd) => journal::run(&ctx, cmd),
        Command::Assignment(cmd) => assignment::run(&ctx, cmd),
        Command::Inspect(args) => inspect::run(&ctx, args),
        Command::Deadlines(DeadlinesCommand::RunDue) => deadlines::run_due(&ctx),
        Command::Grade(cmd) => grade::run(&ctx, cmd),
        Command::Oopsie { user, assignment } => oopsie::run(&ctx, &user, &assignment),
    }
}

/// Reads a password from the first line of standard input (never from the command line, where
/// other users could see it in the process list).
fn read_password_stdin() -> Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    anyhow::ensure!(
        !password.is_empty(),
        "no password on standard input; pipe one in, e.g. `echo 'secret' | coursemail ...`"
    );
    Ok(password)
}

/// Validates a username from the command line.
fn username(name: &str) -> Result<::journal::Username> {
    Ok(::journal::Username::parse(name)?)
}
