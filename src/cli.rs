//! The command line (SPEC §12): every subcommand and flag, parsed by clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// coursemail: the mail appliance for courses taught the way the Linux kernel is developed.
#[derive(Debug, Parser)]
#[command(name = "coursemail", version, about, propagate_version = true)]
pub struct Cli {
    /// Data root (default ./coursemail-data; COURSEMAIL_DATA).
    #[arg(long, global = true, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Configuration file (TOML; see coursemail.example.toml).
    #[arg(long, global = true, value_name = "FILE", env = "COURSEMAIL_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start every service in one process on the embedded default.
    Up(UpArgs),
    /// Run the SMTP submission server alone (as its container does).
    Smtp,
    /// Run the POP3 server alone (as its container does).
    Pop,
    /// Run the grader alone (as its container does): checks every closed SMTP session.
    Denis,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect and maintain the maildrop journal.
    #[command(subcommand)]
    Journal(JournalCommand),
    /// Manage assignments and their deadlines.
    #[command(subcommand)]
    Assignment(AssignmentCommand),
    /// Show what the grader recorded.
    Inspect(InspectArgs),
}

impl Command {
    /// Long-running services (as opposed to one-shot administrative commands).
    pub fn is_service(&self) -> bool {
        matches!(
            self,
            Command::Up(_) | Command::Smtp | Command::Pop | Command::Denis
        )
    }
}

/// Flags of `coursemail up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Mail domain and server name (default localhost).
    #[arg(long)]
    pub hostname: Option<String>,
    /// Port of the SMTP implicit-TLS listener (default 1465).
    #[arg(long, value_name = "PORT")]
    pub smtps_port: Option<u16>,
    /// Port of the SMTP listener offering STARTTLS (default 1587).
    #[arg(long, value_name = "PORT")]
    pub submission_port: Option<u16>,
    /// Port of the POP3 implicit-TLS listener (default 1995).
    #[arg(long, value_name = "PORT")]
    pub pop3s_port: Option<u16>,
    /// Port of the POP3 listener offering STLS (default 1110).
    #[arg(long, value_name = "PORT")]
    pub pop3_port: Option<u16>,
}

/// `coursemail user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user. Without --password-stdin the user registers on the web with their student id.
    Add {
        /// Username: a lowercase letter, then up to 63 lowercase letters, digits, '.', '_', '-'.
        name: String,
        /// Full name, as in Signed-off-by (defaults to the username).
        #[arg(long)]
        full_name: Option<String>,
        /// Student id used to register on the web.
        #[arg(long)]
        student_id: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Make the user an instructor.
        #[arg(long)]
        instructor: bool,
    },
    /// List every user.
    List,
    /// Set a user's password, read from the first line of standard input.
    Passwd {
        /// Username.
        name: String,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Remove a user's password: they register again with their student id.
    ClearPassword {
        /// Username.
        name: String,
    },
    /// Remove a user and their web sessions.
    Remove {
        /// Username.
        name: String,
    },
}

/// `coursemail journal ...`
#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// Create an empty journal (no-op if one exists).
    Init,
    /// Release messages: append them to the journal (already released ones are skipped).
    Append {
        /// Message ids, in release order; `-` reads ids from standard input, one per line.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Rebuild the journal from mail/ and swap it in atomically.
    Rebuild {
        /// Include every message in mail/, not just the ones already released. This releases
        /// held-back work to everyone who is not frozen.
        #[arg(long)]
        all: bool,
    },
    /// Check the journal (exit 3: journal inconsistent; 4: journal and mail/ disagree).
    Verify,
    /// Print the journal's records, end and per-user caps.
    Show {
        /// Show only what this user sees.
        #[arg(long)]
        user: Option<String>,
    },
    /// Freeze, move or lift a user's view of the journal.
    Restrict {
        /// deny: freeze at the current end (if not frozen yet); update: move to the current end;
        /// allow: lift.
        action: RestrictAction,
        /// Username.
        user: String,
    },
}

/// `coursemail assignment ...`
#[derive(Debug, Subcommand)]
pub enum AssignmentCommand {
    /// Create an assignment with its three deadlines. Times are RFC 3339 with an offset
    /// (2026-12-01T23:59:00+01:00) or Unix seconds.
    Create {
        /// Name: also the address students send series to (NAME@hostname).
        name: String,
        /// End of the initial submission phase.
        #[arg(long, value_name = "T")]
        initial: String,
        /// End of the peer-review phase.
        #[arg(long, value_name = "T")]
        peer_review: String,
        /// End of the final submission phase.
        #[arg(long = "final", value_name = "T")]
        final_: String,
    },
    /// Create a dummy assignment: no scheduled deadlines, they run only when triggered.
    Dummy {
        /// Name: also the address students send series to.
        name: String,
    },
    /// List every assignment with its deadlines.
    List {
        /// Print deadlines as RFC 3339 (for scripts) instead of a readable local time.
        #[arg(long)]
        iso: bool,
    },
    /// Move deadlines of a scheduled assignment; the others stay.
    Alter {
        /// The assignment.
        name: String,
        /// New end of the initial submission phase.
        #[arg(long, value_name = "T")]
        initial: Option<String>,
        /// New end of the peer-review phase.
        #[arg(long, value_name = "T")]
        peer_review: Option<String>,
        /// New end of the final submission phase.
        #[arg(long = "final", value_name = "T")]
        final_: Option<String>,
    },
    /// Remove an assignment nothing was submitted to.
    Remove {
        /// The assignment.
        name: String,
    },
}

/// `coursemail inspect WHAT [--assignment A] [--user U]`
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// What to show.
    pub what: InspectWhat,
    /// Only this assignment.
    #[arg(long, value_name = "A")]
    pub assignment: Option<String>,
    /// Only this user.
    #[arg(long, value_name = "U")]
    pub user: Option<String>,
}

/// The tables `inspect` shows.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum InspectWhat {
    /// Every processed SMTP session with its kind and status.
    Submissions,
    /// Patchsets and reviews that count for a grade, with their findings.
    Gradeables,
    /// Students without an initial submission, per assignment.
    Missing,
    /// Used oopsies (self-service extensions).
    Oopsies,
}

/// What `journal restrict` does.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RestrictAction {
    /// Freeze the user's view at the current end, unless already frozen.
    Deny,
    /// Move the user's frozen view to the current end.
    Update,
    /// Lift the restriction.
    Allow,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_may_come_before_or_after_the_subcommand() {
        let before = Cli::try_parse_from(["coursemail", "--data", "/d", "user", "list"]).unwrap();
        let after = Cli::try_parse_from(["coursemail", "user", "list", "--data", "/d"]).unwrap();
        assert_eq!(before.data, after.data);
        assert_eq!(after.data, Some(PathBuf::from("/d")));
    }

    #[test]
    fn alter_takes_only_the_deadlines_it_changes() {
        let cli = Cli::try_parse_from(["coursemail", "assignment", "alter", "hw1", "--final", "5"])
            .unwrap();
        match cli.command {
            Command::Assignment(AssignmentCommand::Alter {
                name,
                initial,
                peer_review,
                final_,
            }) => {
                assert_eq!(name, "hw1");
                assert_eq!((initial, peer_review), (None, None));
                assert_eq!(final_.as_deref(), Some("5"));
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn create_requires_all_three_deadlines() {
        let args = [
            "coursemail",
            "assignment",
            "create",
            "hw1",
            "--initial",
            "1",
        ];
        assert!(Cli::try_parse_from(args).is_err());
    }

    #[test]
    fn passwd_requires_password_stdin() {
        assert!(Cli::try_parse_from(["coursemail", "user", "passwd", "bob"]).is_err());
    }
}
