//! The one login call every service makes: throttle, then check the password off the async
//! runtime, then record the outcome.

use std::net::IpAddr;
use std::sync::Arc;

use crate::db::Accounts;
use crate::error::AccountsError;
use crate::throttle::{Admission, Throttle};
use crate::user::User;

/// The result of a login attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The credentials are valid.
    Accepted(User),
    /// Wrong password, unknown or invalid username, or no password yet: deliberately the same
    /// answer, so a client cannot learn who exists.
    Rejected,
    /// Refused without checking the password: too many recent failures for this address or
    /// username.
    Throttled,
}

/// Checks credentials for smtp, pop, web and the submatrix endpoint, throttled per process.
///
/// Cheap to clone; the success cache lives in the shared [`Accounts`].
#[derive(Debug, Clone)]
pub struct Authenticator {
    accounts: Arc<Accounts>,
    throttle: Arc<Throttle>,
}

impl Authenticator {
    /// An authenticator over the process's accounts and throttle.
    pub fn new(accounts: Arc<Accounts>, throttle: Arc<Throttle>) -> Self {
        Self { accounts, throttle }
    }

    /// The accounts this authenticator checks against.
    pub fn accounts(&self) -> &Arc<Accounts> {
        &self.accounts
    }

    /// Checks `password` for `username` (raw client input) from `client`.
    ///
    /// Waits out the throttle's reservation first (or answers `Throttled` at once), then runs
    /// the check on tokio's blocking pool: both the SQLite read (which may wait up to the busy
    /// timeout behind a writer) and argon2 would otherwise stall every session on this worker.
    /// Errors are for a broken database only; bad credentials are `Rejected`.
    pub async fn authenticate(
        &self,
        client: IpAddr,
        username: &str,
        password: &str,
    ) -> Result<AuthOutcome, AccountsError> {
        let delay = match self.throttle.reserve(client, username) {
            Admission::Refuse => {
                tracing::info!(%client, user = %loggable(username), "login throttled");
                return Ok(AuthOutcome::Throttled);
            }
            Admission::Wait(delay) => delay,
        };
        // Admitted: the attempt counts against the account until its outcome is recorded, or
        // until this future is dropped (the client went away), which the guard reports.
        let mut pending = Pending {
            throttle: &self.throttle,
            client,
            username,
            settled: false,
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let accounts = Arc::clone(&self.accounts);
        let (user, pass) = (username.to_string(), password.to_string());
        let checked = tokio::task::spawn_blocking(move || accounts.verify_password(&user, &pass))
            .await
            .map_err(|e| AccountsError::Interrupted(e.to_string()))??;
        pending.settled = true;
        Ok(match checked {
            Some(user) => {
                self.throttle.success(client, username);
                AuthOutcome::Accepted(user)
            }
            None => {
                self.throttle.failure(client, username);
                tracing::debug!(%client, user = %loggable(username), "login rejected");
                AuthOutcome::Rejected
            }
        })
    }
}

/// An admitted attempt whose outcome is not recorded yet; dropped unsettled, it tells the
/// throttle the attempt was abandoned, so it stops counting against the account.
struct Pending<'a> {
    throttle: &'a Throttle,
    client: IpAddr,
    username: &'a str,
    settled: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.throttle.abandon(self.client, self.username);
        }
    }
}

/// A client-supplied username made safe for a log line: escaped, and cut short so that a
/// client cannot flood the logs with a megabyte "username".
fn loggable(username: &str) -> String {
    let mut shown: String = username
        .chars()
        .take(64)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if username.chars().nth(64).is_some() {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::throttle::ThrottleConfig;
    use crate::users::tests::{open_temp, student};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn setup() -> (tempfile::TempDir, Authenticator) {
        let (dir, accounts) = open_temp();
        accounts
            .add_user(&student("alice", None, Some("alice password")))
            .unwrap();
        accounts.add_user(&student("bob", None, None)).unwrap();
        let auth = Authenticator::new(
            Arc::new(accounts),
            Arc::new(Throttle::new(ThrottleConfig::default())),
        );
        (dir, auth)
    }

    #[test]
    fn logged_usernames_are_escaped_and_bounded() {
        assert_eq!(loggable("alice"), "alice");
        assert_eq!(loggable("a\nb"), "a\\nb");
        assert_eq!(loggable(&"x".repeat(10_000)).chars().count(), 65);
    }

    #[tokio::test(start_paused = true)]
    async fn valid_credentials_are_accepted_and_everything_else_rejected_alike() {
        let (_dir, auth) = setup();
        let client = ip("192.0.2.1");
        let outcome = auth
            .authenticate(client, "alice", "alice password")
            .await
            .unwrap();
        assert!(matches!(outcome, AuthOutcome::Accepted(ref u) if u.username.as_str() == "alice"));
        for (user, pass) in [
            ("alice", "wrong password"),
            ("nobody", "alice password"),
            ("bob", ""),
            ("Invalid Name!", "x"),
        ] {
            let outcome = auth
                .authenticate(ip("198.51.100.1"), user, pass)
                .await
                .unwrap();
            assert_eq!(outcome, AuthOutcome::Rejected, "{user}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn repeated_failures_end_in_throttled_without_a_password_check() {
        let (_dir, auth) = setup();
        let attacker = ip("203.0.113.9");
        // Sequential failures: each waits its (virtual) delay and is still checked.
        for _ in 0..8 {
            let outcome = auth.authenticate(attacker, "alice", "guess").await.unwrap();
            assert_eq!(outcome, AuthOutcome::Rejected);
        }
        // The delay is now at its cap: of two parallel guesses, the second cannot fit.
        let checks = auth.accounts().argon2_verifications();
        let (a, b) = tokio::join!(
            auth.authenticate(attacker, "alice", "guess"),
            auth.authenticate(attacker, "carol", "guess"),
        );
        let mut outcomes = [a.unwrap(), b.unwrap()];
        outcomes.sort_by_key(|o| matches!(o, AuthOutcome::Throttled));
        assert_eq!(outcomes, [AuthOutcome::Rejected, AuthOutcome::Throttled]);
        assert_eq!(auth.accounts().argon2_verifications() - checks, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn owner_can_still_log_in_and_success_does_not_clear_the_attacker_address() {
        let (_dir, auth) = setup();
        let attacker = ip("203.0.113.9");
        for _ in 0..8 {
            auth.authenticate(attacker, "alice", "guess").await.unwrap();
        }
        // Alice from home waits behind her username's delay, but gets in.
        let home = ip("2001:db8::5");
        let outcome = auth
            .authenticate(home, "alice", "alice password")
            .await
            .unwrap();
        assert!(matches!(outcome, AuthOutcome::Accepted(_)));
        // Her success cleared the username, so her next login is not queued behind anything...
        assert_eq!(
            auth.throttle.reserve(home, "alice"),
            Admission::Wait(std::time::Duration::ZERO)
        );
        // ...but the attacker's address is still throttled, even guessing other users.
        assert_ne!(
            auth.throttle.reserve(attacker, "bob"),
            Admission::Wait(std::time::Duration::ZERO)
        );
    }
}
