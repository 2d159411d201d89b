//! Where the site may send a browser after login: local paths only (no open redirects).

/// Where a login goes when no (acceptable) `next` was given.
pub const DEFAULT_NEXT: &str = "/dashboard";

/// `next` if it is a path on this site, else `None`.
///
/// A browser treats `//host`, `/\host` and `\\host` as other sites, and strips tabs and newlines
/// from URLs before resolving them, so any of those characters could smuggle a foreign
/// host past a naive "starts with /" check.
pub fn safe_next(next: &str) -> Option<&str> {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && next.len() <= 2048;
    local.then_some(next)
}

/// The login page URL that comes back to `next` (when `next` is local).
pub fn login_url(next: &str) -> String {
    match safe_next(next) {
        Some(path) if path != DEFAULT_NEXT => format!("/login?next={}", encode_component(path)),
        _ => "/login".to_string(),
    }
}

/// Percent-encodes everything but unreserved characters and `/` (RFC 3986 §2.3).
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_accepted() {
        assert_eq!(safe_next("/dashboard"), Some("/dashboard"));
        assert_eq!(
            safe_next("/instructor/roster?x=1"),
            Some("/instructor/roster?x=1")
        );
    }

    #[test]
    fn foreign_hosts_are_rejected() {
        for evil in [
            "//evil.example",
            "https://evil",
            "/\\evil.example",
            "\\\\evil",
            "/\t/evil.example",
            "evil.example",
            "",
        ] {
            assert_eq!(safe_next(evil), None, "{evil:?}");
        }
    }

    #[test]
    fn login_url_encodes_the_return_path() {
        assert_eq!(
            login_url("/instructor/grades?a=b c"),
            "/login?next=/instructor/grades%3Fa%3Db%20c"
        );
        assert_eq!(login_url("//evil"), "/login");
    }
}
