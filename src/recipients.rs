//! smtp's recipient directory (SPEC §6): a recipient exists if it is a configured list address,
//! a user in the accounts database, or an assignment in the course database.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use accounts::Accounts;
use denis::{CourseDb, CourseDbError};
use journal::Username;
use smtp::{RecipientCheck, Recipients};

/// Answers RCPT checks from the configuration's lists, the accounts database and the
/// assignments in `course.db`.
pub struct CourseRecipients {
    accounts: Arc<Accounts>,
    lists: Vec<String>,
    assignments: Assignments,
}

impl CourseRecipients {
    /// A directory over `accounts`, the validated list addresses `lists` (see
    /// [`crate::config::CourseConfig::addresses`]) and the course database at `course_db`,
    /// which need not exist yet.
    pub fn new(accounts: Arc<Accounts>, lists: Vec<String>, course_db: PathBuf) -> Self {
        Self {
            accounts,
            lists,
            assignments: Assignments {
                path: course_db,
                db: OnceLock::new(),
            },
        }
    }
}

impl Recipients for CourseRecipients {
    fn check(&self, local_part: &str) -> RecipientCheck {
        let name = local_part.to_ascii_lowercase();
        if self.lists.contains(&name) {
            return RecipientCheck::Exists;
        }
        // Validated before it goes near a database (smtp checks too, but this is the edge).
        let Ok(user) = Username::parse(&name) else {
            return RecipientCheck::Unknown;
        };
        match self.accounts.get_user(&user) {
            Ok(Some(_)) => return RecipientCheck::Exists,
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot look up a recipient");
                return RecipientCheck::Unavailable;
            }
        }
        match self.assignments.contains(&name) {
            Ok(true) => RecipientCheck::Exists,
            Ok(false) => RecipientCheck::Unknown,
            Err(e) => {
                tracing::error!(error = %e, "cannot look up an assignment recipient");
                RecipientCheck::Unavailable
            }
        }
    }
}

/// The assignment names in `course.db`, opened read-only (smtp may mount `course/` read-only)
/// the first time the file exists. Until then there are no assignments; a missing file is
/// looked for again at the next check, since denis or the CLI may create it at any time.
struct Assignments {
    path: PathBuf,
    db: OnceLock<CourseDb>,
}

impl Assignments {
    fn contains(&self, name: &str) -> Result<bool, CourseDbError> {
        if let Some(db) = self.db.get() {
            return db.is_assignment(name);
        }
        let db = match CourseDb::open_read_only(&self.path) {
            Ok(db) => db,
            Err(CourseDbError::Database(denis::DbError::Missing { .. })) => return Ok(false),
            Err(e) => return Err(e),
        };
        // Two first checks at once may both open it; the loser's handle is simply dropped.
        let db = self.db.get_or_init(|| db);
        db.is_assignment(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use denis::{AssignmentName, NewAssignment};

    struct Fixture {
        dir: tempfile::TempDir,
        recipients: CourseRecipients,
    }

    fn directory(lists: &[&str]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open(&dir.path().join("accounts.db")).unwrap();
        let new = accounts::NewUser {
            username: Username::parse("alice").unwrap(),
            full_name: "Alice".into(),
            student_id: None,
            role: accounts::Role::Student,
            password: None,
        };
        accounts.add_user(&new).unwrap();
        let lists: Vec<String> = lists.iter().map(|s| s.to_string()).collect();
        let course_db = dir.path().join("course").join("course.db");
        let recipients = CourseRecipients::new(Arc::new(accounts), lists, course_db);
        Fixture { dir, recipients }
    }

    fn create_assignment(fixture: &Fixture, name: &str) {
        let dir = fixture.dir.path();
        let db = CourseDb::open(&dir.join("course").join("course.db")).unwrap();
        let accounts = Accounts::open(&dir.join("accounts.db")).unwrap();
        let name = AssignmentName::parse(name).unwrap();
        db.create_assignment(&NewAssignment::dummy(name), &accounts, &[])
            .unwrap();
    }

    #[test]
    fn users_and_lists_exist_case_insensitively_others_do_not() {
        let f = directory(&["list", "announce"]);
        let recipients = &f.recipients;
        assert_eq!(recipients.check("alice"), RecipientCheck::Exists);
        assert_eq!(recipients.check("ALICE"), RecipientCheck::Exists);
        assert_eq!(recipients.check("list"), RecipientCheck::Exists);
        assert_eq!(recipients.check("announce"), RecipientCheck::Exists);
        assert_eq!(recipients.check("bob"), RecipientCheck::Unknown);
        assert_eq!(recipients.check("../x"), RecipientCheck::Unknown);
    }

    #[test]
    fn assignments_exist_once_the_course_database_is_created() {
        let f = directory(&["list"]);
        assert_eq!(f.recipients.check("hw1"), RecipientCheck::Unknown);
        create_assignment(&f, "hw1");
        assert_eq!(f.recipients.check("hw1"), RecipientCheck::Exists);
        assert_eq!(f.recipients.check("hw2"), RecipientCheck::Unknown);
        create_assignment(&f, "hw2");
        assert_eq!(
            f.recipients.check("hw2"),
            RecipientCheck::Exists,
            "an assignment created after the database was opened is seen"
        );
    }
}
