//! CSRF tokens. Logged-in forms carry the session's secret (kept in the accounts database);
//! the login and registration forms, which have no session yet, use a double-submit cookie:
//! another site can make a browser send the cookie but cannot read it to fill in the field.

use rand::Rng;

/// Name of the pre-login CSRF cookie.
pub const ANON_COOKIE: &str = "cm_csrf";

/// A fresh random token (128 bits, hex).
pub fn fresh_token() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `submitted` equals `expected`, in time independent of where they differ (so the
/// secret cannot be guessed byte by byte). An empty expectation never matches.
pub fn matches(expected: &str, submitted: &str) -> bool {
    let (a, b) = (expected.as_bytes(), submitted.as_bytes());
    if a.is_empty() || a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        let token = fresh_token();
        assert_eq!(token.len(), 32);
        assert!(matches(&token, &token.clone()));
        assert!(!matches(&token, &fresh_token()));
        assert!(!matches(&token, ""));
        assert!(!matches("", ""));
    }
}
