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
    /// Run the web dashboard alone (as its container does).
    Web,
    /// Prepare a data root (directories, certificate, databases, journal) and exit: what the
    /// containers' first step runs before services that mount parts of it read-only start.
    Init,
    /// Show or change the course's mail domain, recorded in the data root (SPEC §3).
    #[command(subcommand)]
    Domain(DomainCommand),
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
    /// Run deadlines from outside the daemon (for cron).
    #[command(subcommand)]
    Deadlines(DeadlinesCommand),
    /// Enter and export grades.
    #[command(subcommand)]
    Grade(GradeCommand),
    /// Use an oopsie (a self-service extension) on a student's behalf: only the final counts,
    /// and they are re-allowed at the final deadline if they send one.
    Oopsie {
        /// The student.
        user: String,
        /// The assignment; its initial deadline must not have passed.
        assignment: String,
    },
}

impl Command {
    /// Long-running services (as opposed to one-shot administrative commands).
    pub fn is_service(&self) -> bool {
        matches!(
            self,
            Command::Up(_) | Command::Smtp | Command::Pop | Command::Denis | Command::Web
        )
    }
}

/// `coursemail domain ...`
#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Print the recorded mail domain and the server name clients connect to.
    Show,
    /// Record a new mail domain: every address (user@DOMAIN, assignment@DOMAIN) changes.
    Set {
        /// The new domain, e.g. course.example.org.
        name: String,
    },
}

/// Flags of `coursemail up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// The course's mail domain, recorded at the first start (default course.localhost; later
    /// starts use the recorded one, `coursemail domain set` changes it).
    #[arg(long)]
    pub hostname: Option<String>,
    /// The server name clients connect to, if not the mail domain (default: the domain, or
    /// localhost for a .localhost domain).
    #[arg(long, value_name = "HOST")]
    pub public_host: Option<String>,
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
    /// Port of the web dashboard (default 8080).
    #[arg(long, value_name = "PORT")]
    pub web_port: Option<u16>,
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
    /// List a user's web sessions: created, last used, address.
    Sessions {
        /// Username.
        name: String,
    },
    /// End every web session of a user (they log in again; their password is unchanged).
    Logout {
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
        /// Accept deadlines in the past, which run at once (freezing and zeroing students).
        #[arg(long)]
        allow_past: bool,
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
        /// Accept deadlines in the past, which run at once (freezing and zeroing students).
        #[arg(long)]
        allow_past: bool,
    },
    /// Remove an assignment nothing was submitted to.
    Remove {
        /// The assignment.
        name: String,
    },
    /// Run one deadline now (a dummy assignment's deadline is set to now). Sessions that closed
    /// before are taken in first; a deadline that already ran is left as it is.
    Trigger {
        /// The assignment.
        name: String,
        /// Which deadline; the earlier ones must have run.
        deadline: DeadlineArg,
    },
}

/// A deadline as `assignment trigger` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeadlineArg {
    /// End of the initial submission phase.
    Initial,
    /// End of the peer-review phase.
    PeerReview,
    /// End of the final submission phase.
    Final,
}

impl From<DeadlineArg> for denis::Deadline {
    fn from(arg: DeadlineArg) -> Self {
        match arg {
            DeadlineArg::Initial => denis::Deadline::Initial,
            DeadlineArg::PeerReview => denis::Deadline::PeerReview,
            DeadlineArg::Final => denis::Deadline::Final,
        }
    }
}

/// `coursemail deadlines ...`
#[derive(Debug, Subcommand)]
pub enum DeadlinesCommand {
    /// Take in closed sessions, then run every deadline that is due and has not run, once
    /// (for cron). Prints one line per deadline run and nothing when none was due; exits
    /// non-zero if a deadline failed (it is retried at the next call).
    RunDue,
}

/// `coursemail grade ...`
#[derive(Debug, Subcommand)]
pub enum GradeCommand {
    /// Record a score (0-100) for one component of a student's assignment; it replaces whatever
    /// was there, automatic zeros included.
    Set {
        /// The assignment.
        assignment: String,
        /// The component graded.
        component: ComponentArg,
        /// The student.
        user: String,
        /// A whole number from 0 to 100.
        score: String,
        /// What the student is told.
        #[arg(long, value_name = "TEXT", default_value = "")]
        feedback: String,
    },
    /// The gradebook: one row per student and assignment with the total.
    Export {
        /// CSV (RFC 4180) for spreadsheets, instead of a readable table.
        #[arg(long)]
        csv: bool,
    },
}

/// A grade component as `grade set` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ComponentArg {
    /// The patchset sent before the initial deadline.
    Initial,
    /// The review of the first reviewee.
    Review1,
    /// The review of the second reviewee.
    Review2,
    /// The patchset sent before the final deadline.
    Final,
}

impl From<ComponentArg> for denis::Component {
    fn from(arg: ComponentArg) -> Self {
        match arg {
            ComponentArg::Initial => denis::Component::Initial,
            ComponentArg::Review1 => denis::Component::Review1,
            ComponentArg::Review2 => denis::Component::Review2,
            ComponentArg::Final => denis::Component::Final,
        }
    }
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
    /// Deadline runs: when each ran and what it did.
    Runs,
    /// Who reviews whom (drawn at the initial deadline).
    Reviews,
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
                allow_past,
            }) => {
                assert_eq!(name, "hw1");
                assert!(!allow_past);
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
    fn trigger_names_deadlines_as_the_spec_does() {
        let cli =
            Cli::try_parse_from(["coursemail", "assignment", "trigger", "hw1", "peer-review"])
                .unwrap();
        match cli.command {
            Command::Assignment(AssignmentCommand::Trigger { name, deadline }) => {
                assert_eq!(name, "hw1");
                assert_eq!(denis::Deadline::from(deadline), denis::Deadline::PeerReview);
            }
            other => panic!("parsed as {other:?}"),
        }
        let bad = ["coursemail", "assignment", "trigger", "hw1", "peer_review"];
        assert!(Cli::try_parse_from(bad).is_err());
    }

    #[test]
    fn grade_set_takes_component_user_score_and_optional_feedback() {
        let args = [
            "coursemail",
            "grade",
            "set",
            "hw1",
            "review2",
            "alice",
            "85",
            "--feedback",
            "ok",
        ];
        match Cli::try_parse_from(args).unwrap().command {
            Command::Grade(GradeCommand::Set {
                component,
                user,
                score,
                feedback,
                ..
            }) => {
                assert_eq!(denis::Component::from(component), denis::Component::Review2);
                assert_eq!((user.as_str(), score.as_str()), ("alice", "85"));
                assert_eq!(feedback, "ok");
            }
            other => panic!("parsed as {other:?}"),
        }
        let bad = [
            "coursemail",
            "grade",
            "set",
            "hw1",
            "review3",
            "alice",
            "85",
        ];
        assert!(Cli::try_parse_from(bad).is_err());
    }

    #[test]
    fn passwd_requires_password_stdin() {
        assert!(Cli::try_parse_from(["coursemail", "user", "passwd", "bob"]).is_err());
    }
}
