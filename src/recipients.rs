//! smtp's recipient directory (SPEC §6): a recipient exists if it is a configured list address
//! or a user in the accounts database (and, with the grader, an assignment name).

use std::sync::Arc;

use accounts::Accounts;
use anyhow::{Result, bail};
use journal::Username;
use smtp::{RecipientCheck, Recipients};

/// Answers RCPT checks from the configuration's lists and the accounts database.
pub struct CourseRecipients {
    accounts: Arc<Accounts>,
    lists: Vec<String>,
}

impl CourseRecipients {
    /// Validates the configured list names (`[course] lists`) up front, so a typo is a start-up
    /// error rather than a list nobody can write to.
    pub fn new(accounts: Arc<Accounts>, lists: &[String]) -> Result<Self> {
        let mut names = Vec::with_capacity(lists.len());
        for list in lists {
            let name = list.trim().to_ascii_lowercase();
            if Username::parse(&name).is_err() {
                bail!(
                    "[course] lists entry {list:?} is not a valid address local part: use a \
                     lowercase letter, then lowercase letters, digits, '.', '_' or '-'"
                );
            }
            names.push(name);
        }
        Ok(Self {
            accounts,
            lists: names,
        })
    }
}

impl Recipients for CourseRecipients {
    fn check(&self, local_part: &str) -> RecipientCheck {
        let name = local_part.to_ascii_lowercase();
        if self.lists.contains(&name) {
            return RecipientCheck::Exists;
        }
        // Validated before it goes near the database (smtp checks too, but this is the edge).
        let Ok(user) = Username::parse(&name) else {
            return RecipientCheck::Unknown;
        };
        match self.accounts.get_user(&user) {
            Ok(Some(_)) => RecipientCheck::Exists,
            Ok(None) => RecipientCheck::Unknown,
            Err(e) => {
                tracing::error!(error = %e, "cannot look up a recipient");
                RecipientCheck::Unavailable
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory(lists: &[&str]) -> (tempfile::TempDir, Result<CourseRecipients>) {
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
        (dir, CourseRecipients::new(Arc::new(accounts), &lists))
    }

    #[test]
    fn users_and_lists_exist_case_insensitively_others_do_not() {
        let (_dir, recipients) = directory(&["List", "announce"]);
        let recipients = recipients.unwrap();
        assert_eq!(recipients.check("alice"), RecipientCheck::Exists);
        assert_eq!(recipients.check("ALICE"), RecipientCheck::Exists);
        assert_eq!(recipients.check("list"), RecipientCheck::Exists);
        assert_eq!(recipients.check("announce"), RecipientCheck::Exists);
        assert_eq!(recipients.check("bob"), RecipientCheck::Unknown);
        assert_eq!(recipients.check("../x"), RecipientCheck::Unknown);
    }

    #[test]
    fn invalid_list_name_is_a_start_up_error() {
        let (_dir, recipients) = directory(&["the list"]);
        let err = recipients.err().unwrap().to_string();
        assert!(err.contains("the list"), "{err}");
    }
}
