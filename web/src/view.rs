//! Small pieces every page shares: the navigation bar, how times are shown, and the query
//! strings and page numbers of paged lists (pure).

use time::OffsetDateTime;
use time::macros::format_description;

use crate::session::CurrentUser;

/// What the navigation bar shows: who is logged in and the CSRF token of the logout form.
#[derive(Debug, Clone, Default)]
pub struct Nav {
    /// The logged-in user, if any.
    pub username: Option<String>,
    /// Whether to show the instructor links.
    pub instructor: bool,
    /// The session's CSRF secret (empty when logged out).
    pub csrf: String,
}

impl Nav {
    /// The bar of a visitor who is not logged in.
    pub fn anonymous() -> Nav {
        Nav::default()
    }

    /// The bar of `user`.
    pub fn of(user: &CurrentUser) -> Nav {
        Nav {
            username: Some(user.username().to_string()),
            instructor: user.is_instructor(),
            csrf: user.session.csrf_token.clone(),
        }
    }
}

/// Unix seconds as `2026-11-23 16:52 UTC`; `-` for none.
pub fn seconds(at: Option<i64>) -> String {
    let Some(at) = at else {
        return "-".to_string();
    };
    let format = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| at.to_string())
}

/// Unix microseconds as `2026-11-23 16:52:07 UTC`.
pub fn micros(at: i64) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    OffsetDateTime::from_unix_timestamp(at.div_euclid(1_000_000))
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| at.to_string())
}

/// Parses an HTML `datetime-local` value (`2026-11-23T16:52`, taken as UTC) or Unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<i64>() {
        return Some(secs);
    }
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    time::PrimitiveDateTime::parse(text, &format)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// `path` with a query string of the `pairs` whose value is not empty, percent-encoded: every
/// byte but letters, digits and `-._~` (RFC 3986 unreserved), so a value can never end the
/// query or start another parameter.
pub fn url(path: &str, pairs: &[(&str, &str)]) -> String {
    fn encode(out: &mut String, text: &str) {
        for byte in text.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                out.push(char::from(byte));
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    let mut out = path.to_string();
    let mut separator = '?';
    for (name, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        out.push(separator);
        separator = '&';
        encode(&mut out, name);
        out.push('=');
        encode(&mut out, value);
    }
    out
}

/// The page numbers a pager shows around page `current` of `pages`: the first, the last and
/// two either side of the current one; `None` stands for the numbers left out between them.
/// Many pages stay a short line of links.
pub fn page_numbers(current: usize, pages: usize) -> Vec<Option<usize>> {
    let mut out = Vec::new();
    for number in 1..=pages {
        let near = number.abs_diff(current) <= 2;
        if number == 1 || number == pages || near {
            out.push(Some(number));
        } else if out.last() != Some(&None) {
            out.push(None);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_filled_in_parameters_percent_encoded() {
        assert_eq!(url("/x", &[]), "/x");
        assert_eq!(url("/x", &[("a", ""), ("page", "2")]), "/x?page=2");
        assert_eq!(
            url("/x", &[("user", "a&b=c d"), ("page", "3")]),
            "/x?user=a%26b%3Dc%20d&page=3"
        );
        assert_eq!(
            url("/x", &[("n", "é<\""), ("a", "a")]),
            "/x?n=%C3%A9%3C%22&a=a"
        );
    }

    #[test]
    fn page_numbers_show_the_ends_and_the_neighbourhood_of_the_current_page() {
        let some = |v: &[usize]| v.iter().map(|&n| Some(n)).collect::<Vec<_>>();
        assert_eq!(page_numbers(1, 1), some(&[1]));
        assert_eq!(page_numbers(2, 5), some(&[1, 2, 3, 4, 5]));
        assert_eq!(
            page_numbers(10, 20),
            [
                Some(1),
                None,
                Some(8),
                Some(9),
                Some(10),
                Some(11),
                Some(12),
                None,
                Some(20)
            ]
        );
        assert_eq!(
            page_numbers(1, 10),
            [Some(1), Some(2), Some(3), None, Some(10)]
        );
    }

    #[test]
    fn times_round_trip_through_the_form_format() {
        let at = parse_time("2026-11-23T16:52").unwrap();
        assert_eq!(seconds(Some(at)), "2026-11-23 16:52 UTC");
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000));
        assert_eq!(parse_time("next tuesday"), None);
        assert_eq!(seconds(None), "-");
        assert_eq!(
            micros(at * 1_000_000 + 7_000_000),
            "2026-11-23 16:52:07 UTC"
        );
    }
}
