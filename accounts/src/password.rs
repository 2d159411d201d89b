//! Password hashing (argon2id, PHC strings), password rules and one-time password generation.
//!
//! Everything here is pure apart from drawing random salts; the database side lives in
//! `users.rs` and `verify.rs`.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;

use crate::error::AccountsError;

/// Shortest password accepted, in characters.
pub const PASSWORD_MIN: usize = 8;
/// Longest password accepted, in characters: generous for passphrases, small enough that nobody
/// can make us hash megabytes.
pub const PASSWORD_MAX: usize = 1024;
/// Length of a generated one-time password.
pub const GENERATED_LEN: usize = 16;

/// Characters of generated passwords: letters and digits without the look-alikes 0/O, 1/l/I, so
/// that a password read off a screen or paper is typed right the first time.
const UNAMBIGUOUS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A PHC hash of a random password nobody knows, made with the default parameters. Unknown users
/// and users awaiting registration are checked against it, so a rejection costs the same argon2
/// work whether or not the user exists (no timing oracle for usernames).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$BW2mg+pcA4mnCIoU4j5Osg$TykaC969Caiq/YOpjmRT8VHvuqr348NQGJgpXkPPEN8";

/// Hashes `password` with argon2id (default parameters: m=19456 KiB, t=2, p=1) and a random
/// salt, returning the PHC string to store. Slow on purpose (tens of milliseconds).
pub fn hash_password(password: &str) -> Result<String, AccountsError> {
    let salt_bytes: [u8; 16] = rand::rng().random();
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| AccountsError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AccountsError::Hash(e.to_string()))
}

/// A fresh one-time password for registration: [`GENERATED_LEN`] characters (about 93 bits)
/// from an alphabet without ambiguous characters.
pub fn generate_password() -> String {
    let mut rng = rand::rng();
    (0..GENERATED_LEN)
        .map(|_| char::from(UNAMBIGUOUS[rng.random_range(0..UNAMBIGUOUS.len())]))
        .collect()
}

/// Checks the length rules for a password someone is setting.
pub fn check_new_password(password: &str) -> Result<(), AccountsError> {
    let length = password.chars().count();
    if length < PASSWORD_MIN {
        return Err(AccountsError::PasswordTooShort { min: PASSWORD_MIN });
    }
    if length > PASSWORD_MAX {
        return Err(AccountsError::PasswordTooLong { max: PASSWORD_MAX });
    }
    Ok(())
}

/// Whether `password` matches the PHC string `stored`. The parameters come from `stored`, so
/// hashes made with older parameters keep working. An unparsable `stored` never matches.
pub(crate) fn matches(stored: &str, password: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(error) => {
            tracing::error!(%error, "stored password hash is not a valid PHC string; rejecting");
            false
        }
    }
}

/// Spends the same argon2 work as a real check, for a user who cannot log in anyway.
pub(crate) fn burn_dummy_check(password: &str) {
    let _ = matches(DUMMY_HASH, password);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_argon2id_phc_and_verifies_only_the_right_password() {
        let hash = hash_password("correct horse").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(matches(&hash, "correct horse"));
        assert!(!matches(&hash, "correct horsE"));
        assert!(!matches(&hash, ""));
    }

    #[test]
    fn same_password_gets_different_salts() {
        assert_ne!(
            hash_password("same one").unwrap(),
            hash_password("same one").unwrap()
        );
    }

    #[test]
    fn dummy_hash_uses_the_default_parameters() {
        // If argon2's defaults change, the dummy must follow or unknown users become faster.
        let real = hash_password("whatever").unwrap();
        let prefix = |h: &str| h.splitn(5, '$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(prefix(DUMMY_HASH), prefix(&real));
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn generated_passwords_avoid_ambiguous_characters() {
        let a = generate_password();
        assert_eq!(a.chars().count(), GENERATED_LEN);
        assert_ne!(a, generate_password());
        for _ in 0..200 {
            let p = generate_password();
            assert!(!p.contains(['0', 'O', '1', 'l', 'I']), "{p}");
            assert!(p.chars().all(|c| c.is_ascii_alphanumeric()));
            assert!(check_new_password(&p).is_ok());
        }
    }

    #[test]
    fn short_and_huge_passwords_are_refused_with_the_limit() {
        let short = check_new_password("1234567").unwrap_err();
        assert!(short.to_string().contains("at least 8"));
        assert!(check_new_password("12345678").is_ok());
        assert!(check_new_password(&"p".repeat(PASSWORD_MAX)).is_ok());
        assert!(matches!(
            check_new_password(&"p".repeat(PASSWORD_MAX + 1)),
            Err(AccountsError::PasswordTooLong { .. })
        ));
    }

    #[test]
    fn unparsable_stored_hash_never_matches() {
        assert!(!matches("not a hash", "not a hash"));
    }
}
