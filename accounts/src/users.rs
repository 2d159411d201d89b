//! The roster: adding, finding, listing and removing users, and setting or clearing passwords.

use journal::Username;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use crate::db::Accounts;
use crate::error::AccountsError;
use crate::password::{check_new_password, hash_password};
use crate::user::{NewUser, Role, User, normalize_student_id, validate_full_name};
use database::unix_now;

/// The columns [`RawUser::from_row`] reads, in order; qualified so that joins stay unambiguous.
pub(crate) const USER_COLUMNS: &str = "users.username, users.full_name, users.student_id, \
     users.role, users.password_hash, users.created_at";

/// A users row as stored, before its text is validated into a [`User`].
pub(crate) struct RawUser {
    username: String,
    full_name: String,
    student_id: Option<String>,
    role: String,
    pub(crate) password_hash: Option<String>,
    created_at: i64,
}

impl RawUser {
    /// Reads the [`USER_COLUMNS`] starting at column `first`.
    pub(crate) fn from_row(row: &Row<'_>, first: usize) -> rusqlite::Result<Self> {
        Ok(Self {
            username: row.get(first)?,
            full_name: row.get(first + 1)?,
            student_id: row.get(first + 2)?,
            role: row.get(first + 3)?,
            password_hash: row.get(first + 4)?,
            created_at: row.get(first + 5)?,
        })
    }

    /// Validates the stored text; a bad row is reported, never trusted.
    pub(crate) fn into_user(self) -> Result<User, AccountsError> {
        let username = Username::parse(&self.username).map_err(|_| AccountsError::CorruptRow {
            what: "username",
            value: self.username.clone(),
        })?;
        let role = self
            .role
            .parse::<Role>()
            .map_err(|_| AccountsError::CorruptRow {
                what: "role",
                value: self.role.clone(),
            })?;
        Ok(User {
            username,
            full_name: self.full_name,
            student_id: self.student_id,
            role,
            has_password: self.password_hash.is_some(),
            created_at: self.created_at,
        })
    }
}

/// Looks a user up by name, with their password hash.
pub(crate) fn load_user(
    conn: &Connection,
    username: &str,
) -> Result<Option<RawUser>, AccountsError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1");
    let raw = conn
        .prepare_cached(&sql)?
        .query_row([username], |row| RawUser::from_row(row, 0))
        .optional()?;
    Ok(raw)
}

impl Accounts {
    /// Adds a user. Fails with [`AccountsError::UserExists`] or
    /// [`AccountsError::StudentIdTaken`] rather than overwriting anyone.
    pub fn add_user(&self, new: &NewUser) -> Result<User, AccountsError> {
        let mut added = self.add_users(std::slice::from_ref(new))?;
        Ok(added.remove(0))
    }

    /// Adds every user of `news` in one transaction, or none of them: the first that cannot be
    /// added (taken username or student id, also within `news`, or an invalid field) is the
    /// error and nothing is written. A roster import is all-or-nothing this way.
    pub fn add_users(&self, news: &[NewUser]) -> Result<Vec<User>, AccountsError> {
        let mut rows = Vec::with_capacity(news.len());
        for new in news {
            validate_full_name(&new.full_name)?;
            let student_id = new
                .student_id
                .as_deref()
                .map(normalize_student_id)
                .transpose()?;
            // Hash before taking the write lock: argon2 takes tens of milliseconds.
            let password_hash = match &new.password {
                Some(password) => {
                    check_new_password(password)?;
                    Some(hash_password(password)?)
                }
                None => None,
            };
            rows.push((new, student_id, password_hash));
        }
        let created_at = unix_now();
        self.with_conn(|conn| {
            // IMMEDIATE takes the write lock first, so the checks below still hold at INSERT
            // even with another process adding users at the same time.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for (new, student_id, password_hash) in &rows {
                if load_user(&tx, new.username.as_str())?.is_some() {
                    return Err(AccountsError::UserExists(new.username.clone()));
                }
                if let Some(id) = student_id
                    && let Some(owner) = owner_of_student_id(&tx, id)?
                {
                    return Err(AccountsError::StudentIdTaken {
                        student_id: id.clone(),
                        owner,
                    });
                }
                tx.prepare_cached(
                    "INSERT INTO users (username, full_name, student_id, role, password_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    new.username.as_str(),
                    new.full_name,
                    student_id,
                    new.role.as_str(),
                    password_hash,
                    created_at
                ])?;
            }
            tx.commit()?;
            Ok(())
        })?;
        Ok(rows
            .into_iter()
            .map(|(new, student_id, password_hash)| {
                tracing::info!(user = %new.username, role = %new.role, "added user");
                User {
                    username: new.username.clone(),
                    full_name: new.full_name.clone(),
                    student_id,
                    role: new.role,
                    has_password: password_hash.is_some(),
                    created_at,
                }
            })
            .collect())
    }

    /// The user called `username`, if any.
    pub fn get_user(&self, username: &Username) -> Result<Option<User>, AccountsError> {
        self.with_conn(|conn| {
            load_user(conn, username.as_str())?
                .map(RawUser::into_user)
                .transpose()
        })
    }

    /// The user with this student id (trimmed first, as on insert), if any. An id that could
    /// never have been stored is [`AccountsError::InvalidStudentId`], so a registration form
    /// can say what is wrong with it.
    pub fn find_by_student_id(&self, student_id: &str) -> Result<Option<User>, AccountsError> {
        let student_id = normalize_student_id(student_id)?;
        self.with_conn(|conn| {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE student_id = ?1");
            conn.prepare_cached(&sql)?
                .query_row([&student_id], |row| RawUser::from_row(row, 0))
                .optional()?
                .map(RawUser::into_user)
                .transpose()
        })
    }

    /// Every user, ordered by username.
    pub fn list_users(&self) -> Result<Vec<User>, AccountsError> {
        self.with_conn(|conn| {
            let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
            let mut stmt = conn.prepare_cached(&sql)?;
            let raws = stmt
                .query_map([], |row| RawUser::from_row(row, 0))?
                .collect::<Result<Vec<_>, _>>()?;
            raws.into_iter().map(RawUser::into_user).collect()
        })
    }

    /// Sets (or replaces) a user's password. Enforces the length rules of
    /// [`check_new_password`].
    pub fn set_password(&self, username: &Username, password: &str) -> Result<(), AccountsError> {
        check_new_password(password)?;
        let hash = hash_password(password)?;
        self.update_password(username, Some(&hash), Keep::None)?;
        tracing::info!(user = %username, "password set; web sessions ended");
        Ok(())
    }

    /// A user changing their own password from the web session `current`: every other session
    /// ends (one opened with the old password, perhaps by someone else, must not outlive it).
    pub fn change_password(
        &self,
        username: &Username,
        password: &str,
        current: &str,
    ) -> Result<(), AccountsError> {
        check_new_password(password)?;
        let hash = hash_password(password)?;
        self.update_password(username, Some(&hash), Keep::Session(current))?;
        tracing::info!(user = %username, "password changed; other web sessions ended");
        Ok(())
    }

    /// Registration: sets the password of a user awaiting registration, atomically. `false`
    /// when the user already has one, even if that happened a moment ago in another request, so
    /// two registrations at once cannot both succeed.
    pub fn register(&self, username: &Username, password: &str) -> Result<bool, AccountsError> {
        check_new_password(password)?;
        let hash = hash_password(password)?;
        let set = self.with_conn(|conn| {
            Ok(conn
                .prepare_cached(
                    "UPDATE users SET password_hash = ?2 WHERE username = ?1 AND password_hash IS NULL",
                )?
                .execute(params![username.as_str(), hash])?)
        })?;
        if set == 1 {
            self.cache().forget(username.as_str());
            tracing::info!(user = %username, "registered");
        }
        Ok(set == 1)
    }

    /// Removes a user's password, putting them back to "awaiting registration", and ends their
    /// web sessions (whoever held them must not stay logged in).
    pub fn clear_password(&self, username: &Username) -> Result<(), AccountsError> {
        self.update_password(username, None, Keep::None)?;
        tracing::info!(user = %username, "password cleared; user awaits registration");
        Ok(())
    }

    /// Removes a user; their web sessions go with them (ON DELETE CASCADE).
    pub fn remove_user(&self, username: &Username) -> Result<(), AccountsError> {
        let removed = self.with_conn(|conn| {
            Ok(conn
                .prepare_cached("DELETE FROM users WHERE username = ?1")?
                .execute([username.as_str()])?)
        })?;
        if removed == 0 {
            return Err(AccountsError::UnknownUser(username.clone()));
        }
        self.cache().forget(username.as_str());
        tracing::info!(user = %username, "removed user");
        Ok(())
    }

    /// Replaces the stored hash and ends the user's web sessions (but `keep`), in one
    /// transaction: a session opened with the old password must not outlive it.
    fn update_password(
        &self,
        username: &Username,
        hash: Option<&str>,
        keep: Keep<'_>,
    ) -> Result<(), AccountsError> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let changed = tx
                .prepare_cached("UPDATE users SET password_hash = ?2 WHERE username = ?1")?
                .execute(params![username.as_str(), hash])?;
            if changed == 0 {
                return Err(AccountsError::UnknownUser(username.clone()));
            }
            let kept = match keep {
                Keep::None => Vec::new(),
                Keep::Session(token) => crate::sessions::token_hash(token).to_vec(),
            };
            tx.prepare_cached("DELETE FROM web_sessions WHERE username = ?1 AND token_hash != ?2")?
                .execute(params![username.as_str(), kept])?;
            tx.commit()?;
            Ok(())
        })?;
        // Other processes notice through the changed stored hash; this one forgets right away.
        self.cache().forget(username.as_str());
        Ok(())
    }
}

/// Which web session, if any, survives a password change.
#[derive(Clone, Copy)]
enum Keep<'a> {
    None,
    Session(&'a str),
}

fn owner_of_student_id(
    conn: &Connection,
    student_id: &str,
) -> Result<Option<String>, AccountsError> {
    Ok(conn
        .prepare_cached("SELECT username FROM users WHERE student_id = ?1")?
        .query_row([student_id], |row| row.get(0))
        .optional()?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn name(s: &str) -> Username {
        Username::parse(s).unwrap()
    }

    pub(crate) fn student(
        username: &str,
        student_id: Option<&str>,
        password: Option<&str>,
    ) -> NewUser {
        NewUser {
            username: name(username),
            full_name: format!("Full {username}"),
            student_id: student_id.map(str::to_string),
            role: Role::Student,
            password: password.map(str::to_string),
        }
    }

    pub(crate) fn open_temp() -> (tempfile::TempDir, Accounts) {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open(&dir.path().join("accounts.db")).unwrap();
        (dir, accounts)
    }

    #[test]
    fn added_users_can_be_fetched_and_listed_in_name_order() {
        let (_dir, accounts) = open_temp();
        let bob = accounts
            .add_user(&student("bob", Some(" s2 "), None))
            .unwrap();
        let mut alice = student("alice", Some("s1"), None);
        alice.role = Role::Instructor;
        accounts.add_user(&alice).unwrap();
        assert_eq!(bob.student_id.as_deref(), Some("s2"));
        assert!(!bob.has_password);
        assert!(bob.created_at > 1_600_000_000);
        assert_eq!(accounts.get_user(&name("bob")).unwrap(), Some(bob.clone()));
        assert_eq!(accounts.get_user(&name("carol")).unwrap(), None);
        let listed = accounts.list_users().unwrap();
        let names: Vec<_> = listed.iter().map(|u| u.username.as_str()).collect();
        assert_eq!(names, ["alice", "bob"]);
        assert_eq!(listed[0].role, Role::Instructor);
        assert_eq!(accounts.find_by_student_id("s2 ").unwrap(), Some(bob));
        assert_eq!(accounts.find_by_student_id("s3").unwrap(), None);
    }

    #[test]
    fn duplicate_username_is_rejected() {
        let (_dir, accounts) = open_temp();
        accounts
            .add_user(&student("alice", Some("s1"), None))
            .unwrap();
        let err = accounts
            .add_user(&student("alice", Some("s9"), None))
            .unwrap_err();
        assert!(matches!(err, AccountsError::UserExists(ref u) if u.as_str() == "alice"));
        assert!(err.to_string().contains("already exists"));
        assert_eq!(accounts.list_users().unwrap().len(), 1);
    }

    #[test]
    fn duplicate_student_id_is_rejected_naming_the_owner() {
        let (_dir, accounts) = open_temp();
        accounts
            .add_user(&student("alice", Some("s1"), None))
            .unwrap();
        let err = accounts
            .add_user(&student("bob", Some("  s1"), None))
            .unwrap_err();
        assert!(
            matches!(err, AccountsError::StudentIdTaken { ref owner, .. } if owner == "alice"),
            "{err}"
        );
        assert_eq!(accounts.get_user(&name("bob")).unwrap(), None);
        // Users without a student id do not collide with each other.
        accounts.add_user(&student("carol", None, None)).unwrap();
        accounts.add_user(&student("dave", None, None)).unwrap();
    }

    #[test]
    fn invalid_student_id_and_full_name_are_rejected() {
        let (_dir, accounts) = open_temp();
        let err = accounts
            .add_user(&student("alice", Some("   "), None))
            .unwrap_err();
        assert!(matches!(err, AccountsError::InvalidStudentId(_)));
        let mut bad_name = student("bob", None, None);
        bad_name.full_name = "Bob\nBcc: everyone".into();
        assert!(matches!(
            accounts.add_user(&bad_name),
            Err(AccountsError::InvalidFullName(_))
        ));
        assert!(accounts.list_users().unwrap().is_empty());
    }

    #[test]
    fn removed_user_is_gone_and_removing_again_says_unknown() {
        let (_dir, accounts) = open_temp();
        accounts
            .add_user(&student("alice", Some("s1"), None))
            .unwrap();
        accounts.remove_user(&name("alice")).unwrap();
        assert_eq!(accounts.get_user(&name("alice")).unwrap(), None);
        assert!(matches!(
            accounts.remove_user(&name("alice")),
            Err(AccountsError::UnknownUser(_))
        ));
        // The student id is free again.
        accounts
            .add_user(&student("alicia", Some("s1"), None))
            .unwrap();
    }

    #[test]
    fn password_can_be_set_verified_and_cleared() {
        let (_dir, accounts) = open_temp();
        accounts.add_user(&student("alice", None, None)).unwrap();
        assert_eq!(accounts.verify_password("alice", "").unwrap(), None);
        accounts
            .set_password(&name("alice"), "first password")
            .unwrap();
        assert!(
            accounts
                .get_user(&name("alice"))
                .unwrap()
                .unwrap()
                .has_password
        );
        let user = accounts.verify_password("alice", "first password").unwrap();
        assert_eq!(user.map(|u| u.username), Some(name("alice")));
        accounts.clear_password(&name("alice")).unwrap();
        assert!(
            !accounts
                .get_user(&name("alice"))
                .unwrap()
                .unwrap()
                .has_password
        );
        assert_eq!(
            accounts.verify_password("alice", "first password").unwrap(),
            None
        );
    }

    #[test]
    fn password_rules_and_unknown_users_give_clear_errors() {
        let (_dir, accounts) = open_temp();
        accounts.add_user(&student("alice", None, None)).unwrap();
        let err = accounts.set_password(&name("alice"), "short").unwrap_err();
        assert!(matches!(err, AccountsError::PasswordTooShort { min: 8 }));
        assert!(matches!(
            accounts.set_password(&name("bob"), "long enough"),
            Err(AccountsError::UnknownUser(_))
        ));
        assert!(matches!(
            accounts.clear_password(&name("bob")),
            Err(AccountsError::UnknownUser(_))
        ));
        assert!(matches!(
            accounts.add_user(&student("carol", None, Some("short"))),
            Err(AccountsError::PasswordTooShort { .. })
        ));
    }

    #[test]
    fn stored_hash_is_argon2id_and_plaintext_is_nowhere_in_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.db");
        let accounts = Accounts::open(&path).unwrap();
        let secret = "Plaintext-Needle-4711";
        accounts
            .add_user(&student("alice", None, Some(secret)))
            .unwrap();
        accounts.add_user(&student("bob", None, None)).unwrap();
        accounts.set_password(&name("bob"), secret).unwrap();
        let hash = accounts
            .with_conn(|c| load_user(c, "alice"))
            .unwrap()
            .and_then(|raw| raw.password_hash)
            .unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        drop(accounts);
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let file = dir.path().join(format!("accounts.db{suffix}"));
            bytes.extend(std::fs::read(file).unwrap());
        }
        assert!(bytes.windows(hash.len()).any(|w| w == hash.as_bytes()));
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }

    #[test]
    fn a_password_set_by_an_administrator_ends_every_web_session() {
        let (_dir, accounts) = open_temp();
        accounts
            .add_user(&student("alice", None, Some("first password")))
            .unwrap();
        let token = accounts
            .create_session(&name("alice"), std::time::Duration::from_secs(3600))
            .unwrap();
        accounts
            .set_password(&name("alice"), "second password")
            .unwrap();
        assert!(accounts.session(token.as_str()).unwrap().is_none());
    }

    #[test]
    fn changing_ones_own_password_keeps_only_the_current_session() {
        let (_dir, accounts) = open_temp();
        accounts
            .add_user(&student("alice", None, Some("first password")))
            .unwrap();
        let hour = std::time::Duration::from_secs(3600);
        let mine = accounts.create_session(&name("alice"), hour).unwrap();
        let stolen = accounts.create_session(&name("alice"), hour).unwrap();
        accounts
            .change_password(&name("alice"), "second password", mine.as_str())
            .unwrap();
        assert!(accounts.session(mine.as_str()).unwrap().is_some());
        assert!(accounts.session(stolen.as_str()).unwrap().is_none());
        assert!(
            accounts
                .verify_password("alice", "second password")
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn registration_sets_a_password_only_once() {
        let (_dir, accounts) = open_temp();
        accounts
            .add_user(&student("alice", Some("S1"), None))
            .unwrap();
        assert!(
            accounts
                .register(&name("alice"), "the student's own")
                .unwrap()
        );
        assert!(!accounts.register(&name("alice"), "someone else's").unwrap());
        assert!(
            accounts
                .verify_password("alice", "the student's own")
                .unwrap()
                .is_some()
        );
        assert!(
            accounts
                .verify_password("alice", "someone else's")
                .unwrap()
                .is_none()
        );
    }
}
