//! Small pieces every page shares: the navigation bar, how times are shown, and the query
//! strings and page numbers of paged lists (pure).

use jiff::tz::TimeZone;
use time::OffsetDateTime;

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

/// The course's time zone (SPEC §11, `[course] timezone`): one course per process, set once at
/// start-up by [`set_time_zone`]; UTC until then. A process-wide setting rather than a
/// parameter because every page formats times and none chooses the zone.
static TIME_ZONE: std::sync::RwLock<Option<TimeZone>> = std::sync::RwLock::new(None);

/// Shows and reads every time in `zone` from now on.
pub fn set_time_zone(zone: TimeZone) {
    *TIME_ZONE
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(zone);
}

/// The zone times are shown in.
pub fn time_zone() -> TimeZone {
    TIME_ZONE
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .unwrap_or(TimeZone::UTC)
}

/// Unix seconds in the course's zone, `2026-11-23 17:52 +01:00`; `-` for none.
pub fn seconds(at: Option<i64>) -> String {
    match at {
        Some(at) => format_in(&time_zone(), at, "%Y-%m-%d %H:%M %:z"),
        None => "-".to_string(),
    }
}

/// Unix microseconds in the course's zone, `2026-11-23 17:52:07 +01:00`.
pub fn micros(at: i64) -> String {
    format_in(
        &time_zone(),
        at.div_euclid(1_000_000),
        "%Y-%m-%d %H:%M:%S %:z",
    )
}

/// A deadline as the dashboards show it: the time in the course's zone and how far it is from
/// `now` (`2026-12-10 23:59 +01:00, in 3 days`); `-` for none.
pub fn deadline(at: Option<i64>, now: i64) -> String {
    match at {
        Some(at) => format!("{}, {}", seconds(Some(at)), relative(at, now)),
        None => "-".to_string(),
    }
}

/// `at` formatted with `strftime`-style `format` in `zone` (pure); the number itself if out of
/// range.
pub fn format_in(zone: &TimeZone, at: i64, format: &str) -> String {
    jiff::Timestamp::from_second(at)
        .map(|t| {
            t.to_zoned_datetime(zone.clone())
                .strftime(format)
                .to_string()
        })
        .unwrap_or_else(|_| at.to_string())
}

/// How far `at` is from `now`, in the largest whole unit: `in 3 days`, `2 hours ago`,
/// `in 5 minutes`, `just now` (pure).
pub fn relative(at: i64, now: i64) -> String {
    let delta = at.saturating_sub(now);
    let secs = delta.unsigned_abs();
    let (n, unit) = match secs {
        0..60 => return "just now".to_string(),
        60..3600 => (secs / 60, "minute"),
        3600..172_800 => (secs / 3600, "hour"),
        _ => (secs / 86_400, "day"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if delta > 0 {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

/// Parses an HTML `datetime-local` value (`2026-11-23T16:52`, a wall-clock time in the course's
/// zone) or Unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    parse_time_in(&time_zone(), text)
}

/// [`parse_time`] in `zone` (pure). A wall-clock time that a daylight-saving change skips or
/// repeats takes the earlier meaning, as most calendars do.
pub fn parse_time_in(zone: &TimeZone, text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<i64>() {
        return Some(secs);
    }
    let civil = jiff::civil::DateTime::strptime("%Y-%m-%dT%H:%M", text)
        .or_else(|_| jiff::civil::DateTime::strptime("%Y-%m-%dT%H:%M:%S", text))
        .ok()?;
    zone.to_ambiguous_timestamp(civil)
        .compatible()
        .ok()
        .map(|t| t.as_second())
}

/// `at` as the value of an HTML `datetime-local` field in the course's zone, so a form shows
/// what is stored.
pub fn form_value(at: Option<i64>) -> String {
    at.map(|at| format_in(&time_zone(), at, "%Y-%m-%dT%H:%M"))
        .unwrap_or_default()
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
    fn times_round_trip_through_the_form_format_in_the_course_zone() {
        let utc = TimeZone::UTC;
        let at = parse_time_in(&utc, "2026-11-23T16:52").unwrap();
        assert_eq!(
            format_in(&utc, at, "%Y-%m-%d %H:%M %:z"),
            "2026-11-23 16:52 +00:00"
        );
        let vienna = TimeZone::get("Europe/Vienna").unwrap();
        let local = parse_time_in(&vienna, "2026-11-23T17:52").unwrap();
        assert_eq!(local, at, "17:52 in Vienna in November is 16:52 UTC");
        assert_eq!(format_in(&vienna, at, "%Y-%m-%dT%H:%M"), "2026-11-23T17:52");
        let summer = parse_time_in(&vienna, "2026-07-01T12:00").unwrap();
        assert_eq!(format_in(&vienna, summer, "%H:%M %:z"), "12:00 +02:00");
        assert_eq!(parse_time_in(&vienna, "1700000000"), Some(1_700_000_000));
        assert_eq!(parse_time_in(&vienna, "next tuesday"), None);
        assert_eq!(seconds(None), "-");
    }

    #[test]
    fn relative_times_use_the_largest_whole_unit() {
        assert_eq!(relative(100, 100), "just now");
        assert_eq!(relative(100 + 5 * 60, 100), "in 5 minutes");
        assert_eq!(relative(100, 100 + 3600), "1 hour ago");
        assert_eq!(relative(3 * 86_400 + 7, 0), "in 3 days");
        assert_eq!(relative(0, 36 * 3600), "36 hours ago");
    }
}
