//! Times on the command line: deadlines given as RFC 3339 or Unix seconds, and times shown in
//! the local time zone. The conversions are pure (they take the offset); only
//! [`local_offset_at`] asks the system.

use anyhow::{Result, bail};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// Parses a time given on the command line: RFC 3339 (`2026-12-01T23:59:00+01:00`, the offset
/// is required so a deadline never depends on the machine's zone) or Unix seconds.
pub fn parse_time(text: &str) -> Result<i64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(secs) = text.parse::<i64>()
            && OffsetDateTime::from_unix_timestamp(secs).is_ok()
        {
            return Ok(secs);
        }
        bail!("{text} is too large to be a time in Unix seconds");
    }
    match OffsetDateTime::parse(text, &Rfc3339) {
        Ok(t) => Ok(t.unix_timestamp()),
        Err(_) => bail!(
            "{text:?} is not a time: use RFC 3339 with an offset, such as \
             2026-12-01T23:59:00+01:00 or 2026-12-01T22:59:00Z, or Unix seconds"
        ),
    }
}

/// The UTC offset of this machine's time zone at `unix_secs`; UTC when the system cannot say
/// (the `time` crate refuses to read the zone once the process has several threads, because
/// `localtime_r` races with `setenv`).
pub fn local_offset_at(unix_secs: i64) -> UtcOffset {
    OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| UtcOffset::local_offset_at(t).ok())
        .unwrap_or(UtcOffset::UTC)
}

/// `unix_secs` as RFC 3339 at `offset`, to the second: `2026-12-01T23:59:00+01:00`.
pub fn rfc3339(unix_secs: i64, offset: UtcOffset) -> String {
    OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| t.to_offset(offset).format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("@{unix_secs}"))
}

/// `unix_secs` for people: `2026-12-01 23:59 +01:00`.
pub fn readable(unix_secs: i64, offset: UtcOffset) -> String {
    let format = format_description!(
        "[year]-[month]-[day] [hour]:[minute] [offset_hour sign:mandatory]:[offset_minute]"
    );
    OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| t.to_offset(offset).format(&format).ok())
        .unwrap_or_else(|| format!("@{unix_secs}"))
}

/// How far `then` is from `now`, roughly: `in 3d 4h`, `5m ago`, `now`.
pub fn relative(then: i64, now: i64) -> String {
    let delta = then.saturating_sub(now);
    let span = delta.unsigned_abs();
    let (days, hours, minutes) = (span / 86_400, span % 86_400 / 3_600, span % 3_600 / 60);
    let amount = if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m")
    } else {
        return "now".to_string();
    };
    if delta > 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// The current time in Unix seconds.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plus_one() -> UtcOffset {
        UtcOffset::from_hms(1, 0, 0).unwrap()
    }

    #[test]
    fn rfc3339_and_unix_seconds_name_the_same_instant() {
        let from_text = parse_time("2026-12-01T23:59:00+01:00").unwrap();
        assert_eq!(from_text, 1_796_165_940);
        assert_eq!(parse_time("2026-12-01T22:59:00Z").unwrap(), from_text);
        assert_eq!(parse_time(" 1796165940 ").unwrap(), from_text);
    }

    #[test]
    fn a_time_without_offset_or_in_another_form_is_refused_with_the_accepted_forms() {
        for bad in [
            "2026-12-01 23:59",
            "2026-12-01T23:59:00",
            "tomorrow",
            "",
            "-5",
        ] {
            let err = parse_time(bad).unwrap_err().to_string();
            assert!(err.contains("RFC 3339"), "{bad}: {err}");
        }
        let err = parse_time("99999999999999999999").unwrap_err().to_string();
        assert!(err.contains("too large"), "{err}");
    }

    #[test]
    fn times_are_shown_at_the_given_offset() {
        assert_eq!(
            rfc3339(1_796_165_940, plus_one()),
            "2026-12-01T23:59:00+01:00"
        );
        assert_eq!(rfc3339(0, UtcOffset::UTC), "1970-01-01T00:00:00Z");
        assert_eq!(
            readable(1_796_165_940, plus_one()),
            "2026-12-01 23:59 +01:00"
        );
        let shown = rfc3339(1_796_165_940, plus_one());
        assert_eq!(
            parse_time(&shown).unwrap(),
            1_796_165_940,
            "output parses back"
        );
    }

    #[test]
    fn relative_times_say_the_largest_units_and_the_direction() {
        assert_eq!(relative(100, 100), "now");
        assert_eq!(relative(100 + 3 * 86_400 + 4 * 3_600 + 59, 100), "in 3d 4h");
        assert_eq!(relative(100, 100 + 2 * 3_600 + 5 * 60), "2h 5m ago");
        assert_eq!(relative(100 + 90, 100), "in 1m");
    }
}
