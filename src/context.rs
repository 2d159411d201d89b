//! What every command starts from: the merged configuration and the data root it names.

use accounts::Accounts;
use anyhow::{Context as _, Result};
use denis::CourseDb;
use journal::layout::DataRoot;

use crate::cli::Cli;
use crate::config::Config;

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
