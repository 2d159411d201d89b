//! What every command starts from: the merged configuration and the data root it names.

use accounts::{Accounts, MailDomain};
use anyhow::{Context as _, Result, bail};
use denis::CourseDb;
use journal::layout::DataRoot;

use crate::cli::Cli;
use crate::config::{Config, DEFAULT_MAIL_DOMAIN};

/// Whether [`Context::settle_domain`] may write the domain into the data root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// `init` and `up`: record the domain if none is recorded yet.
    Yes,
    /// Every other command: use what is recorded (services may have accounts/ read-only).
    No,
}

/// Configuration plus the data root, resolved once from the command line.
pub struct Context {
    /// The merged configuration (defaults, file, environment, flags).
    pub config: Config,
    /// The data root's layout (SPEC §3).
    pub root: DataRoot,
}

impl Context {
    /// Loads the configuration named on the command line; `--data` beats every other layer.
    pub fn from_cli(cli: &Cli) -> Result<Self> {
        let mut config = Config::load(cli.config.as_deref())?;
        if let Some(data) = &cli.data {
            config.data = data.clone();
        }
        let root = DataRoot::new(config.data.clone());
        Ok(Self { config, root })
    }

    /// Settles the course's mail domain (SPEC §3) into `config.hostname` and the server name
    /// into `config.server.public_host`.
    ///
    /// The domain recorded in the data root wins; a configured one that differs is an error
    /// (addresses would silently change: `coursemail domain set` changes it on purpose). A
    /// data root with no recorded domain takes the configured one, else the built-in default
    /// (a data root with users made before domains were recorded keeps its old default,
    /// `localhost`), and
    /// records it when `record` says so.
    pub fn settle_domain(&mut self, record: Record) -> Result<MailDomain> {
        let configured = match self.config.hostname.trim() {
            "" => None,
            name => Some(MailDomain::parse(name).context("hostname (the mail domain)")?),
        };
        let db_path = self.root.accounts_db();
        let accounts = match record {
            Record::Yes => Some(self.accounts()?),
            // Read-write where possible, which migrates a database older than this code;
            // read-only where accounts/ is mounted so.
            Record::No if db_path.exists() => Some(
                Accounts::open(&db_path)
                    .or_else(|_| Accounts::open_read_only(&db_path))
                    .with_context(|| {
                        format!("cannot open the accounts database {}", db_path.display())
                    })?,
            ),
            Record::No => None,
        };
        let recorded = match &accounts {
            Some(a) => a.mail_domain()?,
            None => None,
        };
        let domain = match (recorded, configured) {
            (Some(recorded), Some(configured)) if recorded != configured => bail!(
                "this data root's mail domain is {recorded}, but {configured} is configured \
                 (--hostname, COURSEMAIL_HOSTNAME or the configuration file); every address \
                 would change. Drop that setting, or change the domain on purpose with \
                 `coursemail domain set {configured}`"
            ),
            (Some(recorded), _) => recorded,
            (None, configured) => {
                let legacy = match &accounts {
                    Some(a) => a.legacy_mail_domain()?,
                    None => None,
                };
                let domain = match (configured, legacy) {
                    (Some(configured), _) => configured,
                    (None, Some(legacy)) => legacy,
                    (None, None) => MailDomain::parse(DEFAULT_MAIL_DOMAIN)
                        .expect("the built-in domain is valid"),
                };
                if let (Record::Yes, Some(accounts)) = (record, &accounts) {
                    accounts.set_mail_domain(&domain)?;
                }
                domain
            }
        };
        self.config.hostname = domain.to_string();
        self.config.server.public_host = public_host(&self.config.server.public_host, &domain);
        Ok(domain)
    }

    /// Creates the data root's directories (0700) if they are missing.
    pub fn prepare_data_root(&self) -> Result<()> {
        self.root.create().with_context(|| {
            format!(
                "cannot create the data root {}; check that its parent exists and is writable, \
                 or choose another with --data DIR",
                self.root.root().display()
            )
        })
    }

    /// The accounts database, read-write (created if missing, with the data root).
    pub fn accounts(&self) -> Result<Accounts> {
        self.prepare_data_root()?;
        let db = self.root.accounts_db();
        Accounts::open(&db)
            .with_context(|| format!("cannot open the accounts database {}", db.display()))
    }

    /// The course database, read-write: created and migrated if needed (the CLI may act
    /// directly, SPEC §3).
    pub fn course_db(&self) -> Result<CourseDb> {
        self.prepare_data_root()?;
        let db = self.root.course_db();
        CourseDb::open(&db)
            .with_context(|| format!("cannot open the course database {}", db.display()))
    }

    /// The course database if it exists; `None` means nothing was created or recorded yet.
    /// Checks that only read use this, so they do not create one as a side effect.
    pub fn existing_course_db(&self) -> Result<Option<CourseDb>> {
        if self.root.course_db().exists() {
            self.course_db().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// The server name clients connect to: the configured one, else the mail domain, except that a
/// `.localhost` domain is served as `localhost` (RFC 6761 reserves the names, but resolvers
/// need not answer for them, and `localhost` always resolves).
pub fn public_host(configured: &str, domain: &MailDomain) -> String {
    let configured = configured.trim();
    if !configured.is_empty() {
        return configured.to_ascii_lowercase();
    }
    let name = domain.as_str();
    if name == "localhost" || name.ends_with(".localhost") {
        "localhost".to_string()
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(dir: &std::path::Path, hostname: &str) -> Context {
        Context {
            config: Config {
                hostname: hostname.to_string(),
                ..Config::default()
            },
            root: DataRoot::new(dir.to_path_buf()),
        }
    }

    #[test]
    fn a_new_data_root_records_the_default_domain_and_later_commands_use_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = context(dir.path(), "");
        assert_eq!(
            first.settle_domain(Record::Yes).unwrap().as_str(),
            "course.localhost"
        );
        assert_eq!(first.config.server.public_host, "localhost");
        let mut later = context(dir.path(), "");
        later.settle_domain(Record::No).unwrap();
        assert_eq!(later.config.hostname, "course.localhost");
    }

    #[test]
    fn a_configured_domain_is_recorded_and_a_different_one_later_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        context(dir.path(), "Course.Test")
            .settle_domain(Record::Yes)
            .unwrap();
        let mut restart = context(dir.path(), "");
        restart.settle_domain(Record::Yes).unwrap();
        assert_eq!(
            restart.config.hostname, "course.test",
            "no silent fallback to a default"
        );
        assert_eq!(restart.config.server.public_host, "course.test");
        let err = context(dir.path(), "other.test")
            .settle_domain(Record::No)
            .unwrap_err()
            .to_string();
        assert!(err.contains("coursemail domain set other.test"), "{err}");
    }

    #[test]
    fn users_added_before_the_first_start_do_not_change_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path(), "");
        let accounts = ctx.accounts().unwrap();
        accounts
            .add_user(&accounts::NewUser {
                username: journal::Username::parse("alice").unwrap(),
                full_name: "Alice".to_string(),
                student_id: None,
                role: accounts::Role::Student,
                password: None,
            })
            .unwrap();
        drop(accounts);
        let mut ctx = context(dir.path(), "");
        assert_eq!(
            ctx.settle_domain(Record::Yes).unwrap().as_str(),
            "course.localhost"
        );
    }

    #[test]
    fn the_public_host_defaults_to_the_domain_unless_it_is_a_localhost_name() {
        let d = |s| MailDomain::parse(s).unwrap();
        assert_eq!(
            public_host("", &d("course.example.org")),
            "course.example.org"
        );
        assert_eq!(public_host("", &d("hw.localhost")), "localhost");
        assert_eq!(
            public_host("Mail.Example.org", &d("example.org")),
            "mail.example.org"
        );
    }
}
