//! Identifiers that name things on disk: message and submission ids (SPEC §4) and usernames.
//!
//! Each is a newtype that can only hold a valid value, so code that has one never re-validates it
//! and can safely put it into a file name or an xattr name.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Number of hex characters in a message or submission id.
pub const ID_LEN: usize = 30;
/// Hex characters of the timestamp part (microseconds since the Unix epoch).
const TIME_DIGITS: usize = 14;
/// Hex characters of the per-generator random part.
const SALT_DIGITS: usize = 12;
/// Hex characters of the message index inside its session.
const INDEX_DIGITS: usize = 4;

/// Why a string is not a message or submission id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Wrong length.
    #[error("id {0:?} must be exactly 30 lowercase hex characters")]
    Length(String),
    /// A character outside `0-9a-f`.
    #[error("id {0:?} may only contain lowercase hex characters 0-9 and a-f")]
    Character(String),
    /// A submission id must end in `0000`.
    #[error("{0:?} is a message id, not a submission id (those end in 0000)")]
    NotSubmission(String),
    /// A message id must not end in `0000`: that index names the session itself.
    #[error("{0:?} is a submission id, not a message id (message indexes start at 0001)")]
    NotMessage(String),
}

fn check_hex(s: &str) -> Result<[u8; ID_LEN], IdError> {
    let bytes = s.as_bytes();
    if bytes.len() != ID_LEN {
        return Err(IdError::Length(s.escape_debug().to_string()));
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return Err(IdError::Character(s.escape_debug().to_string()));
    }
    let mut out = [0u8; ID_LEN];
    out.copy_from_slice(bytes);
    Ok(out)
}

/// The id of one stored message: 30 lowercase hex characters whose last four are its index
/// (from `0001`) within its SMTP session.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId([u8; ID_LEN]);

impl MessageId {
    /// Parses a message id; ids ending in `0000` are submissions, not messages.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let id = Self(check_hex(s)?);
        if id.index() == 0 {
            return Err(IdError::NotMessage(s.to_string()));
        }
        Ok(id)
    }

    /// The id as text (always ASCII).
    pub fn as_str(&self) -> &str {
        // The constructor only admits ASCII hex digits.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The message's position in its session, from 1.
    pub fn index(&self) -> u16 {
        hex_value(&self.0[ID_LEN - INDEX_DIGITS..]) as u16
    }

    /// The submission (SMTP session) this message belongs to.
    pub fn submission(&self) -> SubmissionId {
        let mut raw = self.0;
        raw[ID_LEN - INDEX_DIGITS..].copy_from_slice(b"0000");
        SubmissionId(raw)
    }
}

/// The id of one SMTP session, i.e. one submission: a message id ending in `0000`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubmissionId([u8; ID_LEN]);

impl SubmissionId {
    /// Parses a submission id (must end in `0000`).
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let raw = check_hex(s)?;
        if &raw[ID_LEN - INDEX_DIGITS..] != b"0000" {
            return Err(IdError::NotSubmission(s.to_string()));
        }
        Ok(Self(raw))
    }

    /// The id as text (always ASCII).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The id of this session's `index`-th message (from 1).
    pub fn message(&self, index: u16) -> Result<MessageId, IdError> {
        let mut raw = self.0;
        write_hex(&mut raw[ID_LEN - INDEX_DIGITS..], u64::from(index));
        if index == 0 {
            return Err(IdError::NotMessage(self.as_str().to_string()));
        }
        Ok(MessageId(raw))
    }
}

fn hex_value(digits: &[u8]) -> u64 {
    digits.iter().fold(0u64, |acc, d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            _ => d - b'a' + 10,
        };
        (acc << 4) | u64::from(v)
    })
}

fn write_hex(out: &mut [u8], mut value: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b"0123456789abcdef"[(value & 0xf) as usize];
        value >>= 4;
    }
}

macro_rules! id_traits {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($t), self.as_str())
            }
        }
        impl FromStr for $t {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
    };
}
id_traits!(MessageId);
id_traits!(SubmissionId);

/// Hands out submission ids that sort in the order sessions started and are unique across
/// threads, processes and restarts.
///
/// Layout: 14 hex digits of microseconds since the epoch (forced strictly increasing within one
/// generator, so a clock step backwards cannot repeat an id), 12 hex digits drawn at random once
/// per generator (two processes starting in the same microsecond still differ), then `0000`.
#[derive(Debug)]
pub struct IdGenerator {
    salt: u64,
    last_micros: Mutex<u64>,
}

impl IdGenerator {
    /// A generator with a fresh random salt.
    pub fn new() -> Self {
        let salt = rand::random::<u64>() & ((1u64 << (4 * SALT_DIGITS)) - 1);
        Self {
            salt,
            last_micros: Mutex::new(0),
        }
    }

    /// The next submission id.
    pub fn next_submission(&self) -> SubmissionId {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        let micros = {
            // A poisoned lock only means another thread panicked mid-update of a plain integer.
            let mut last = self.last_micros.lock().unwrap_or_else(|e| e.into_inner());
            *last = now.max(*last + 1);
            *last
        };
        let mut raw = [b'0'; ID_LEN];
        write_hex(&mut raw[..TIME_DIGITS], micros);
        write_hex(&mut raw[TIME_DIGITS..TIME_DIGITS + SALT_DIGITS], self.salt);
        SubmissionId(raw)
    }
}

impl Default for IdGenerator {
    fn default() -> Self {
        Self::new()
    }
}

/// Longest username accepted.
pub const USERNAME_MAX: usize = 64;

/// Why a string is not a username.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a valid username: use 1 to 64 characters, a lowercase letter first, then \
     lowercase letters, digits, '.', '_' or '-'"
)]
pub struct UsernameError(pub String);

/// A validated username: `^[a-z][a-z0-9._-]{0,63}$`.
///
/// The rule keeps usernames usable as email local parts, and safe inside xattr names
/// (`user.<name>_limit`) and file names: no `/`, no NUL, no leading `.`, nothing outside ASCII.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Username(String);

impl Username {
    /// Validates `s` as a username.
    pub fn parse(s: &str) -> Result<Self, UsernameError> {
        let bytes = s.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= USERNAME_MAX
            && bytes[0].is_ascii_lowercase()
            && bytes[1..].iter().all(|&b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            });
        if valid {
            Ok(Self(s.to_string()))
        } else {
            Err(UsernameError(s.escape_debug().to_string()))
        }
    }

    /// The username as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Username({})", self.0)
    }
}

impl FromStr for Username {
    type Err = UsernameError;
    fn from_str(s: &str) -> Result<Self, UsernameError> {
        Self::parse(s)
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn message_id_maps_to_its_submission_and_back() {
        let sub = IdGenerator::new().next_submission();
        assert!(sub.as_str().ends_with("0000"));
        let third = sub.message(3).unwrap();
        assert_eq!(third.index(), 3);
        assert!(third.as_str().ends_with("0003"));
        assert_eq!(third.submission(), sub);
        assert_eq!(sub.message(0x1234).unwrap().index(), 0x1234);
        assert!(sub.message(0).is_err());
    }

    #[test]
    fn ids_reject_wrong_length_case_and_characters() {
        assert!(matches!(MessageId::parse("abc"), Err(IdError::Length(_))));
        let upper = "0123456789ABCDEF0123456789a001";
        assert!(matches!(
            MessageId::parse(upper),
            Err(IdError::Character(_))
        ));
        let slash = "0123456789abcdef0123456789/001";
        assert!(matches!(
            MessageId::parse(slash),
            Err(IdError::Character(_))
        ));
        let sub = "0123456789abcdef0123456789a0000";
        assert!(MessageId::parse(sub).is_err());
        assert!(matches!(
            MessageId::parse("0123456789abcdef01234567890000"),
            Err(IdError::NotMessage(_))
        ));
        assert!(matches!(
            SubmissionId::parse("0123456789abcdef01234567890001"),
            Err(IdError::NotSubmission(_))
        ));
    }

    #[test]
    fn successive_ids_sort_in_creation_order() {
        let generator = IdGenerator::new();
        let ids: Vec<_> = (0..10_000).map(|_| generator.next_submission()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn ids_are_unique_across_threads_and_generators() {
        let generator = std::sync::Arc::new(IdGenerator::new());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let g = generator.clone();
                std::thread::spawn(move || {
                    let other = IdGenerator::new();
                    (0..5_000)
                        .flat_map(|_| [g.next_submission(), other.next_submission()])
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seen = HashSet::new();
        for h in handles {
            for id in h.join().unwrap() {
                assert!(seen.insert(id), "duplicate id {id}");
            }
        }
        assert_eq!(seen.len(), 40_000);
    }

    #[test]
    fn usernames_that_could_escape_a_path_or_xattr_name_are_rejected() {
        let long = "a".repeat(USERNAME_MAX + 1);
        for bad in [
            "", "../x", "a/b", "/a", "A", "aB", "a b", "a\0b", "a\nb", "-x", ".x", "_x", "1x", "é",
            "a\u{301}", "a:b", "a@b", "a*", "a\\b", &long,
        ] {
            assert!(Username::parse(bad).is_err(), "accepted {bad:?}");
        }
        for good in ["a", "alice", "a.b-c_d9", &"z".repeat(USERNAME_MAX)] {
            assert_eq!(Username::parse(good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn username_error_explains_the_rule() {
        let msg = Username::parse("Bad/Name").unwrap_err().to_string();
        assert!(msg.contains("Bad/Name") && msg.contains("lowercase letter first"));
    }
}
