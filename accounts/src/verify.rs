//! Checking a login: stored hash, success cache, argon2, and equal cost for users who cannot
//! log in.

use std::sync::atomic::Ordering;
use std::time::Instant;

use journal::Username;

use crate::db::Accounts;
use crate::error::AccountsError;
use crate::password;
use crate::user::User;
use crate::users::load_user;

impl Accounts {
    /// Checks `password` for `username` (raw client input). BLOCKING: argon2 takes tens of
    /// milliseconds, so async callers use `spawn_blocking` or the
    /// [`Authenticator`](crate::Authenticator).
    ///
    /// `Ok(None)` for a wrong password, an unknown or invalid username, or a user awaiting
    /// registration, all after the same argon2 work, so the timing does not tell them apart.
    /// A recent success with the same password and the same stored hash is answered from the
    /// success cache without argon2.
    pub fn verify_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, AccountsError> {
        let stored = match Username::parse(username) {
            Ok(name) => self.with_conn(|conn| load_user(conn, name.as_str()))?,
            Err(_) => None,
        };
        let Some((raw, hash)) = stored.and_then(|raw| {
            let hash = raw.password_hash.clone()?;
            Some((raw, hash))
        }) else {
            let _pass = self.argon2_slot();
            password::burn_dummy_check(password);
            return Ok(None);
        };
        if self.cache().hit(username, password, &hash, Instant::now()) {
            return raw.into_user().map(Some);
        }
        let pass = self.argon2_slot();
        if !password::matches(&hash, password) {
            return Ok(None);
        }
        drop(pass);
        let user = raw.into_user()?;
        self.cache()
            .remember(username, password, &hash, Instant::now());
        Ok(Some(user))
    }

    /// How many argon2 verifications this handle has run (including the equal-cost dummy
    /// checks); the success cache's effect shows as this not growing. For tests and metrics.
    pub fn argon2_verifications(&self) -> u64 {
        self.argon2_checks.load(Ordering::Relaxed)
    }

    /// Waits for a place to run one argon2 check, and counts it.
    fn argon2_slot(&self) -> crate::gate::Pass<'_> {
        let pass = self.argon2_gate.enter();
        self.argon2_checks.fetch_add(1, Ordering::Relaxed);
        pass
    }
}

#[cfg(test)]
mod tests {
    use crate::users::tests::{name, open_temp, student};

    #[test]
    fn wrong_password_unknown_user_and_passwordless_user_all_give_none() {
        let (_dir, accounts) = open_temp();
        accounts
            .add_user(&student("alice", None, Some("right password")))
            .unwrap();
        accounts.add_user(&student("bob", None, None)).unwrap();
        let before = accounts.argon2_verifications();
        assert_eq!(
            accounts.verify_password("alice", "wrong password").unwrap(),
            None
        );
        assert_eq!(
            accounts
                .verify_password("nobody", "right password")
                .unwrap(),
            None
        );
        assert_eq!(accounts.verify_password("bob", "").unwrap(), None);
        assert_eq!(accounts.verify_password("Not Valid/..", "x").unwrap(), None);
        // Every rejection paid for one argon2 check: no shortcut reveals who exists.
        assert_eq!(accounts.argon2_verifications() - before, 4);
    }

    #[test]
    fn second_successful_verify_is_served_from_the_cache() {
        let (_dir, accounts) = open_temp();
        accounts
            .add_user(&student("alice", None, Some("right password")))
            .unwrap();
        let before = accounts.argon2_verifications();
        for _ in 0..3 {
            let user = accounts.verify_password("alice", "right password").unwrap();
            assert_eq!(user.unwrap().username, name("alice"));
        }
        assert_eq!(accounts.argon2_verifications() - before, 1);
    }

    #[test]
    fn wrong_password_after_a_cached_success_is_rejected() {
        let (_dir, accounts) = open_temp();
        accounts
            .add_user(&student("alice", None, Some("right password")))
            .unwrap();
        assert!(
            accounts
                .verify_password("alice", "right password")
                .unwrap()
                .is_some()
        );
        let before = accounts.argon2_verifications();
        assert_eq!(
            accounts
                .verify_password("alice", "right passwordX")
                .unwrap(),
            None
        );
        assert_eq!(accounts.argon2_verifications() - before, 1);
        // The failure did not evict the good entry.
        assert!(
            accounts
                .verify_password("alice", "right password")
                .unwrap()
                .is_some()
        );
        assert_eq!(accounts.argon2_verifications() - before, 1);
    }

    #[test]
    fn password_change_in_another_process_invalidates_the_cache() {
        let (dir, accounts) = open_temp();
        accounts
            .add_user(&student("alice", None, Some("old password")))
            .unwrap();
        assert!(
            accounts
                .verify_password("alice", "old password")
                .unwrap()
                .is_some()
        );
        // A second handle stands in for the web process; this handle's cache is not told.
        let other = crate::Accounts::open(&dir.path().join("accounts.db")).unwrap();
        other.set_password(&name("alice"), "new password").unwrap();
        let before = accounts.argon2_verifications();
        assert_eq!(
            accounts.verify_password("alice", "old password").unwrap(),
            None
        );
        assert_eq!(accounts.argon2_verifications() - before, 1);
        assert!(
            accounts
                .verify_password("alice", "new password")
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn cleared_password_is_not_served_from_the_cache() {
        let (_dir, accounts) = open_temp();
        accounts
            .add_user(&student("alice", None, Some("old password")))
            .unwrap();
        assert!(
            accounts
                .verify_password("alice", "old password")
                .unwrap()
                .is_some()
        );
        accounts.clear_password(&name("alice")).unwrap();
        assert_eq!(
            accounts.verify_password("alice", "old password").unwrap(),
            None
        );
    }
}
