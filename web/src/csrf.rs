//! CSRF tokens. Logged-in forms carry the session's secret (kept in the accounts database);
//! the login and registration forms, which have no session yet, use a double-submit cookie:
//! another site can make a browser send the cookie but cannot read it to fill in the field.
//!
//! The pre-login token is issued by this server: a random nonce and its MAC under a key made
//! at start-up (per process: a form opened before a restart asks to be reloaded once, which
//! is cheaper than keeping a key secret on disk). A cookie someone else planted (a sibling
//! subdomain can set cookies) is not one this server issued, so it is replaced, not believed.
//! Under HTTPS the cookie is named with the `__Host-` prefix, which browsers accept only from
//! this exact origin, over HTTPS, for every path.

use std::sync::OnceLock;

use rand::Rng;

/// Name of the pre-login CSRF cookie over plain HTTP.
pub const ANON_COOKIE: &str = "cm_csrf";
/// Its name under HTTPS: the `__Host-` prefix pins it to this origin.
pub const ANON_COOKIE_HTTPS: &str = "__Host-cm_csrf";

/// The pre-login cookie's name for a site reached over HTTPS (`secure`) or not.
pub fn anon_cookie(secure: bool) -> &'static str {
    if secure {
        ANON_COOKIE_HTTPS
    } else {
        ANON_COOKIE
    }
}

/// The key pre-login tokens are issued under, made once per process.
fn anon_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| rand::rng().random())
}

/// The MAC of `nonce` (hex) under this process's key, as hex.
fn anon_mac(nonce: &str) -> String {
    let mac = blake3::keyed_hash(anon_key(), nonce.as_bytes());
    mac.as_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh pre-login token issued by this server: 32 hex digits of nonce, 32 of MAC.
pub fn issue_anon_token() -> String {
    let nonce = fresh_token();
    let mac = anon_mac(&nonce);
    format!("{nonce}{mac}")
}

/// Whether `token` was issued by this server (this process).
pub fn is_issued(token: &str) -> bool {
    token.len() == 64
        && token.is_char_boundary(32)
        && matches(&anon_mac(&token[..32]), &token[32..])
}

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
    fn only_tokens_this_server_issued_are_believed() {
        let token = issue_anon_token();
        assert!(is_issued(&token));
        // Any 32 or 64 hex digits someone made up are not.
        assert!(!is_issued(&fresh_token()));
        assert!(!is_issued(&format!("{}{}", fresh_token(), fresh_token())));
        let mut forged = token.clone().into_bytes();
        forged[40] = if forged[40] == b'0' { b'1' } else { b'0' };
        assert!(!is_issued(&String::from_utf8(forged).unwrap()));
        assert!(!is_issued("é"));
        assert_eq!(anon_cookie(true), "__Host-cm_csrf");
    }

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
