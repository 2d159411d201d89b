//! Command-line options of loadgen.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Load generator for SMTP and POP3 servers.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, about)]
pub struct Cli {
    /// Worker threads of the client runtime.
    #[arg(long, default_value_t = 1, global = true)]
    pub threads: usize,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The modes.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Concurrent POP3 sessions in a loop: login, STAT, LIST, UIDL, RETR k, QUIT.
    Pop(PopArgs),
    /// Open N POP3 connections, log each in, and hold them idle; reports server memory.
    PopIdle(IdleArgs),
    /// Concurrent SMTP submissions: each client logs in once, then MAIL/RCPT/DATA in a loop.
    Smtp(SmtpArgs),
    /// Open N SMTP connections, EHLO and AUTH each, and hold them idle; reports server memory.
    SmtpIdle(IdleArgs),
}

/// How to reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Security {
    /// No TLS (the server must allow logins without it).
    Plain,
    /// TLS from the first byte (POP3S/SMTPS).
    Tls,
    /// Plain, then STLS/STARTTLS.
    Starttls,
}

/// Server address and credentials, shared by every mode.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Server address.
    #[arg(long)]
    pub addr: SocketAddr,
    /// Transport security.
    #[arg(long, value_enum, default_value_t = Security::Plain)]
    pub security: Security,
    /// Usernames are PREFIX0 .. PREFIX{users-1}, or exactly PREFIX with --users 1.
    #[arg(long, default_value = "user")]
    pub user_prefix: String,
    /// How many distinct users the clients log in as (client i uses user i mod users).
    #[arg(long, default_value_t = 1)]
    pub users: usize,
    /// Password of every user.
    #[arg(long)]
    pub password: String,
    /// Server pid, to report its resident memory before and after.
    #[arg(long)]
    pub server_pid: Option<u32>,
}

impl Target {
    /// The username client `i` logs in as.
    pub fn username(&self, i: usize) -> String {
        if self.users <= 1 {
            self.user_prefix.clone()
        } else {
            format!("{}{}", self.user_prefix, i % self.users)
        }
    }
}

/// Options of the POP3 busy loop.
#[derive(Debug, Clone, Args)]
pub struct PopArgs {
    /// Server and credentials.
    #[command(flatten)]
    pub target: Target,
    /// Concurrent clients.
    #[arg(long, default_value_t = 20)]
    pub concurrency: usize,
    /// How long to run.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Messages to RETR per session (the first k of the maildrop).
    #[arg(long, default_value_t = 10)]
    pub retr: usize,
    /// Skip LIST and UIDL (login, STAT, QUIT only when --retr 0): measures login-to-STAT.
    #[arg(long)]
    pub stat_only: bool,
}

/// Options of the SMTP submission loop.
#[derive(Debug, Clone, Args)]
pub struct SmtpArgs {
    /// Server and credentials.
    #[command(flatten)]
    pub target: Target,
    /// Concurrent clients.
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// How long to run.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Size of each message in bytes (header included).
    #[arg(long, default_value_t = 4096)]
    pub size: usize,
    /// Recipient: a full address, or a local part completed with --domain.
    #[arg(long, default_value = "list")]
    pub rcpt: String,
    /// Mail domain of the users and of a bare --rcpt (the sender is USER@DOMAIN).
    #[arg(long, default_value = "course.localhost")]
    pub domain: String,
}

impl SmtpArgs {
    /// The recipient address.
    pub fn recipient(&self) -> String {
        if self.rcpt.contains('@') {
            self.rcpt.clone()
        } else {
            format!("{}@{}", self.rcpt, self.domain)
        }
    }
}

/// Options of the idle holds (POP3 and SMTP).
#[derive(Debug, Clone, Args)]
pub struct IdleArgs {
    /// Server and credentials.
    #[command(flatten)]
    pub target: Target,
    /// Connections to open and log in.
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Connections being set up at once.
    #[arg(long, default_value_t = 100)]
    pub ramp: usize,
    /// How long to hold them after all are logged in.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub hold: Duration,
}

/// Parses `10s`, `500ms`, `2m` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("{s:?}: use ms, s or m")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3h").is_err());
    }
}
