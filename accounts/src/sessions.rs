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

/// The short name [`SessionInfo::id`] gives the session whose cookie token is `token`.
pub fn token_id(token: &str) -> String {
    token_hash(token)
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One of a user's live web sessions, as `coursemail user sessions` and the password page show
/// it (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// A short, stable name for it (the start of its token's hash), to tell sessions apart.
    pub id: String,
    /// When it was created (logged in), Unix seconds; `None` if not recorded.
    pub created_at: Option<i64>,
    /// When it was last used, to the minute; `None` if not recorded.
    pub last_used_at: Option<i64>,
    /// The address it logged in from; `None` if not recorded.
    pub client: Option<String>,
    /// When it ends by itself.
    pub expires_at: i64,
}

impl Accounts {
    /// Starts a session for `username` lasting `ttl`. Also purges expired sessions, which keeps
    /// the table small without a separate job.
    pub fn create_session(
        &self,
        username: &Username,
        ttl: Duration,
    ) -> Result<SessionToken, AccountsError> {
        self.create_session_from(username, ttl, None)
    }

    /// Like [`create_session`](Accounts::create_session), recording the address the user
    /// logged in from (shown by [`sessions_of`](Accounts::sessions_of)).
    pub fn create_session_from(
        &self,
        username: &Username,
        ttl: Duration,
        client: Option<std::net::IpAddr>,
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
                    "INSERT INTO web_sessions
                       (token_hash, username, csrf_token, created_at, expires_at, last_used_at, client)
                     SELECT ?1, username, ?3, ?4, ?5, ?4, ?6 FROM users WHERE username = ?2",
                )?
                .execute(params![
                    token_hash(token.as_str()),
                    username.as_str(),
                    random_secret(),
                    now,
                    expires_at,
                    client.map(|c| c.to_string())
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
        let now = unix_now();
        if expires_at <= now {
            if !self.is_read_only() {
                self.delete_session_hash(&key)?;
            }
            return Ok(None);
        }
        if !self.is_read_only() {
            // At most one write a minute per session: "last used" is for people, not a log.
            self.with_conn(|conn| {
                conn.prepare_cached(
                    "UPDATE web_sessions SET last_used_at = ?2
                     WHERE token_hash = ?1 AND coalesce(last_used_at, 0) < ?2 - 60",
                )?
                .execute(params![&key[..], now])?;
                Ok(())
            })?;
        }
        Ok(Some(WebSession {
            user: raw.into_user()?,
            csrf_token,
            expires_at,
        }))
    }

    /// `user`'s live sessions, most recently used first.
    pub fn sessions_of(&self, user: &Username) -> Result<Vec<SessionInfo>, AccountsError> {
        let now = unix_now();
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT token_hash, created_at, last_used_at, client, expires_at FROM web_sessions
                 WHERE username = ?1 AND expires_at > ?2
                 ORDER BY coalesce(last_used_at, created_at, 0) DESC",
            )?;
            let rows = stmt.query_map(params![user.as_str(), now], |r| {
                let hash: Vec<u8> = r.get(0)?;
                Ok(SessionInfo {
                    id: hash.iter().take(4).map(|b| format!("{b:02x}")).collect(),
                    created_at: r.get(1)?,
                    last_used_at: r.get(2)?,
                    client: r.get(3)?,
                    expires_at: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Ends every session of `user` but the one whose token is `keep` (if any); returns how
    /// many ended. "Log out everywhere", and "log out my other sessions".
    pub fn end_sessions(
        &self,
        user: &Username,
        keep: Option<&str>,
    ) -> Result<usize, AccountsError> {
        let kept = keep.map(token_hash);
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached(
                    "DELETE FROM web_sessions WHERE username = ?1 AND token_hash IS NOT ?2",
                )?
                .execute(params![user.as_str(), kept.as_ref().map(|k| &k[..])])?)
        })
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

    #[test]
    fn a_users_sessions_are_listed_with_their_address_and_ended_but_one() {
        let (_dir, accounts) = open_temp();
        accounts
            .add_user(&student("alice", None, Some("alice password")))
            .unwrap();
        let alice = name("alice");
        let laptop = accounts
            .create_session_from(&alice, HOUR, Some("192.0.2.7".parse().unwrap()))
            .unwrap();
        let phone = accounts.create_session(&alice, HOUR).unwrap();
        let listed = accounts.sessions_of(&alice).unwrap();
        assert_eq!(listed.len(), 2);
        assert!(
            listed
                .iter()
                .any(|s| s.client.as_deref() == Some("192.0.2.7"))
        );
        assert!(
            listed
                .iter()
                .all(|s| s.created_at.is_some() && s.last_used_at.is_some())
        );
        // "Log out my other sessions" from the laptop.
        assert_eq!(
            accounts
                .end_sessions(&alice, Some(laptop.as_str()))
                .unwrap(),
            1
        );
        assert!(accounts.session(phone.as_str()).unwrap().is_none());
        assert!(accounts.session(laptop.as_str()).unwrap().is_some());
        // "Log out everywhere".
        assert_eq!(accounts.end_sessions(&alice, None).unwrap(), 1);
        assert!(accounts.sessions_of(&alice).unwrap().is_empty());
    }

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
