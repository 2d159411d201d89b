//! Web dashboard sessions: a 256-bit random token in the cookie, only its blake3 hash in the
//! database (a leaked database or backup cannot be replayed as cookies), and a per-session CSRF
//! secret for the forms.

use std::fmt;
use std::time::Duration;

use journal::Username;
use rusqlite::{OptionalExtension, params};

use crate::db::Accounts;
use crate::error::AccountsError;
use crate::user::User;
use crate::users::{RawUser, USER_COLUMNS};
use database::unix_now;

/// The secret a browser presents (the cookie value): 64 lowercase hex characters.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    /// The token text, to put into the cookie.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// Hand-written so that a token never reaches a log through `{:?}`.
impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

/// A live web session.
#[derive(Clone, PartialEq, Eq)]
pub struct WebSession {
    /// Who is logged in.
    pub user: User,
    /// The secret every state-changing form must echo back.
    pub csrf_token: String,
    /// When the session ends, in Unix seconds.
    pub expires_at: i64,
}

impl fmt::Debug for WebSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSession")
            .field("user", &self.user)
            .field("csrf_token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// 32 random bytes as lowercase hex.
fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The database key of a token.
pub(crate) fn token_hash(token: &str) -> [u8; 32] {
    *blake3::hash(token.as_bytes()).as_bytes()
}

impl Accounts {
    /// Starts a session for `username` lasting `ttl`. Also purges expired sessions, which keeps
    /// the table small without a separate job.
    pub fn create_session(
        &self,
        username: &Username,
        ttl: Duration,
    ) -> Result<SessionToken, AccountsError> {
        let token = SessionToken(random_secret());
        let now = unix_now();
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let expires_at = now.saturating_add(ttl);
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            tx.prepare_cached("DELETE FROM web_sessions WHERE expires_at <= ?1")?
                .execute([now])?;
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO web_sessions (token_hash, username, csrf_token, created_at, expires_at)
                     SELECT ?1, username, ?3, ?4, ?5 FROM users WHERE username = ?2",
                )?
                .execute(params![
                    token_hash(token.as_str()),
                    username.as_str(),
                    random_secret(),
                    now,
                    expires_at
                ])?;
            if inserted == 0 {
                return Err(AccountsError::UnknownUser(username.clone()));
            }
            tx.commit()?;
            Ok(())
        })?;
        tracing::debug!(user = %username, expires_at, "web session created");
        Ok(token)
    }

    /// The session a cookie token names, if it exists and has not expired. An expired session
    /// is deleted on sight (unless this handle is read-only).
    pub fn session(&self, token: &str) -> Result<Option<WebSession>, AccountsError> {
        let key = token_hash(token);
        let found = self.with_conn(|conn| {
            let sql = format!(
                "SELECT s.csrf_token, s.expires_at, {USER_COLUMNS}
                 FROM web_sessions s JOIN users ON users.username = s.username WHERE s.token_hash = ?1"
            );
            Ok(conn
                .prepare_cached(&sql)?
                .query_row([&key[..]], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?, RawUser::from_row(row, 2)?))
                })
                .optional()?)
        })?;
        let Some((csrf_token, expires_at, raw)) = found else {
            return Ok(None);
        };
        if expires_at <= unix_now() {
            if !self.is_read_only() {
                self.delete_session_hash(&key)?;
            }
            return Ok(None);
        }
        Ok(Some(WebSession {
            user: raw.into_user()?,
            csrf_token,
            expires_at,
        }))
    }

    /// Ends a session (logout). Unknown tokens are fine: logging out twice is not an error.
    pub fn delete_session(&self, token: &str) -> Result<(), AccountsError> {
        self.delete_session_hash(&token_hash(token))
    }

    fn delete_session_hash(&self, key: &[u8; 32]) -> Result<(), AccountsError> {
        self.with_conn(|conn| {
            conn.prepare_cached("DELETE FROM web_sessions WHERE token_hash = ?1")?
                .execute([&key[..]])?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::tests::{name, open_temp, student};

    const HOUR: Duration = Duration::from_secs(3600);

    fn session_rows(accounts: &Accounts) -> i64 {
        accounts
            .with_conn(|c| Ok(c.query_row("SELECT count(*) FROM web_sessions", [], |r| r.get(0))?))
            .unwrap()
    }

    #[test]
    fn created_session_is_found_by_its_token() {
        let (_dir, accounts) = open_temp();
        accounts.add_user(&student("alice", None, None)).unwrap();
        let token = accounts.create_session(&name("alice"), HOUR).unwrap();
        assert_eq!(token.as_str().len(), 64);
        assert!(token.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        let session = accounts.session(token.as_str()).unwrap().unwrap();
        assert_eq!(session.user.username, name("alice"));
        assert_eq!(session.csrf_token.len(), 64);
        assert_ne!(session.csrf_token, token.as_str());
        assert!(session.expires_at >= unix_now() + 3599);
        assert_eq!(accounts.session("not-a-token").unwrap(), None);
        assert!(!format!("{token:?}{session:?}").contains(token.as_str()));
    }

    #[test]
    fn sessions_are_independent() {
        let (_dir, accounts) = open_temp();
        accounts.add_user(&student("alice", None, None)).unwrap();
        let a = accounts.create_session(&name("alice"), HOUR).unwrap();
        let b = accounts.create_session(&name("alice"), HOUR).unwrap();
        assert_ne!(a, b);
        let (sa, sb) = (
            accounts.session(a.as_str()).unwrap(),
            accounts.session(b.as_str()).unwrap(),
        );
        assert_ne!(sa.unwrap().csrf_token, sb.unwrap().csrf_token);
        accounts.delete_session(a.as_str()).unwrap();
        assert_eq!(accounts.session(a.as_str()).unwrap(), None);
        assert!(accounts.session(b.as_str()).unwrap().is_some());
        accounts.delete_session(a.as_str()).unwrap();
    }

    #[test]
    fn expired_session_is_gone_and_deleted() {
        let (_dir, accounts) = open_temp();
        accounts.add_user(&student("alice", None, None)).unwrap();
        let token = accounts
            .create_session(&name("alice"), Duration::ZERO)
            .unwrap();
        assert_eq!(session_rows(&accounts), 1);
        assert_eq!(accounts.session(token.as_str()).unwrap(), None);
        assert_eq!(session_rows(&accounts), 0);
    }

    #[test]
    fn creating_a_session_purges_expired_ones() {
        let (_dir, accounts) = open_temp();
        accounts.add_user(&student("alice", None, None)).unwrap();
        accounts
            .create_session(&name("alice"), Duration::ZERO)
            .unwrap();
        accounts
            .create_session(&name("alice"), Duration::ZERO)
            .unwrap();
        accounts.create_session(&name("alice"), HOUR).unwrap();
        assert_eq!(session_rows(&accounts), 1);
    }

    #[test]
    fn session_for_unknown_user_is_refused() {
        let (_dir, accounts) = open_temp();
        assert!(matches!(
            accounts.create_session(&name("ghost"), HOUR),
            Err(AccountsError::UnknownUser(_))
        ));
    }

    #[test]
    fn clearing_the_password_or_removing_the_user_ends_their_sessions() {
        let (_dir, accounts) = open_temp();
        accounts
            .add_user(&student("alice", None, Some("password one")))
            .unwrap();
        accounts.add_user(&student("bob", None, None)).unwrap();
        let alice = accounts.create_session(&name("alice"), HOUR).unwrap();
        let bob = accounts.create_session(&name("bob"), HOUR).unwrap();
        accounts.clear_password(&name("alice")).unwrap();
        assert_eq!(accounts.session(alice.as_str()).unwrap(), None);
        assert!(accounts.session(bob.as_str()).unwrap().is_some());
        accounts.remove_user(&name("bob")).unwrap();
        assert_eq!(accounts.session(bob.as_str()).unwrap(), None);
        assert_eq!(session_rows(&accounts), 0);
    }

    #[test]
    fn token_is_stored_only_as_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.db");
        let accounts = Accounts::open(&path).unwrap();
        accounts.add_user(&student("alice", None, None)).unwrap();
        let token = accounts.create_session(&name("alice"), HOUR).unwrap();
        let stored: Vec<u8> = accounts
            .with_conn(
                |c| Ok(c.query_row("SELECT token_hash FROM web_sessions", [], |r| r.get(0))?),
            )
            .unwrap();
        assert_eq!(stored, blake3::hash(token.as_str().as_bytes()).as_bytes());
        drop(accounts);
        let mut bytes = Vec::new();
        for suffix in ["", "-wal"] {
            bytes.extend(std::fs::read(dir.path().join(format!("accounts.db{suffix}"))).unwrap());
        }
        let needle = token.as_str().as_bytes();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        assert!(bytes.windows(32).any(|w| w == &stored[..]));
    }
}
