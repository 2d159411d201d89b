//! The `coursemail` binary: parses the command line and wires the crates together.
//!
//! # Layout
//! - [`cli`]: the command line, parsed by clap.
//! - [`config`]: defaults, configuration file and environment overrides.
//! - [`context`]: what every command starts from (configuration and data root).
//! - [`commands`]: one module per subcommand, each a thin layer over a library crate.
//! - [`progress`]: progress bars for long-running commands.
//! - [`schedule`]: deadlines in words: what is due or next, what a deadline run did.
//! - [`table`]: plain-text tables for command output.
//! - [`times`]: deadlines parsed from the command line, times shown in the local zone.
//! - [`services`]: builds each service (smtp, pop, the grader's intake and deadline scheduler)
//!   from the configuration.
//! - [`credentials`]: answers protocol logins from the accounts database.
//! - [`recipients`]: answers smtp's "does this recipient exist?" from the configured lists,
//!   accounts and assignments.

mod cli;
mod commands;
mod config;
mod context;
mod credentials;
mod progress;
mod recipients;
mod schedule;
mod services;
mod table;
mod times;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if cli.command.is_service() {
        net::raise_fd_limit();
        net::release_large_allocations();
    } else {
        die_quietly_on_broken_pipe();
    }
    init_logging(cli.command.is_service());
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("coursemail: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `coursemail journal show | head` should end like any Unix tool when `head` stops reading, not
/// panic in `println!`. Rust ignores SIGPIPE by default, which services need (a vanished client
/// must be an EPIPE error, not the end of the process), so only one-shot commands restore it.
fn die_quietly_on_broken_pipe() {
    // SAFETY: setting a signal's disposition to the default has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Logs go to stderr; `COURSEMAIL_LOG` (tracing's filter syntax) chooses how much. Services log
/// what they do; one-shot commands print their outcome and log only warnings.
fn init_logging(service: bool) {
    use std::io::IsTerminal;
    let default = if service { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("COURSEMAIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
