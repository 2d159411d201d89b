//! Small pieces every page shares: the navigation bar and how times are shown (pure).

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

#[cfg(test)]
mod tests {
    use super::*;

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
