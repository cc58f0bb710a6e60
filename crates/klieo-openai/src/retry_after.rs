//! The delay a server asks for: `retry-after-ms`, `retry-after` in seconds
//! or as an HTTP date (RFC 7231 IMF-fixdate), and the `x-should-retry` hint.

use reqwest::header::HeaderMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The delay asked for by the headers, if any: `retry-after-ms`
/// (milliseconds, possibly fractional) first, then `retry-after` as seconds
/// (possibly fractional) or as an HTTP date, counted from `now`. A date in
/// the past means no wait (zero). Negative, non-finite or unparsable values
/// are ignored.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(parse_seconds) {
        return Some(ms / 1000);
    }
    let value = text("retry-after")?;
    parse_seconds(value).or_else(|| {
        let at = parse_imf_fixdate(value)?;
        Some(at.duration_since(now).unwrap_or(Duration::ZERO))
    })
}

/// `x-should-retry: true|false`, when present and readable.
pub(crate) fn should_retry(headers: &HeaderMap) -> Option<bool> {
    let value = headers.get("x-should-retry")?.to_str().ok()?.trim();
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A non-negative decimal number as a duration of that many units
/// (seconds, or milliseconds once divided by 1000).
fn parse_seconds(text: &str) -> Option<Duration> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let secs: f64 = text.parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Parses an IMF-fixdate (`Wed, 21 Oct 2015 07:28:00 GMT`). The weekday
/// must be a weekday name but is not checked against the date.
pub(crate) fn parse_imf_fixdate(text: &str) -> Option<SystemTime> {
    let mut parts = text.split_ascii_whitespace();
    let weekday = parts.next()?.strip_suffix(',')?;
    if !WEEKDAYS.contains(&weekday) {
        return None;
    }
    let day = number(parts.next()?, 2)?;
    let month = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month)? as u64 + 1;
    let year = number(parts.next()?, 4)?;
    let mut clock = parts.next()?.split(':');
    let hour = number(clock.next()?, 2)?;
    let minute = number(clock.next()?, 2)?;
    let second = number(clock.next()?, 2)?;
    if clock.next().is_some() || parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    if year < 1970 || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // 60 allows a leap second.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_since_epoch(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Exactly `digits` ASCII digits.
fn number(text: &str, digits: usize) -> Option<u64> {
    if text.len() != digits || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn is_leap(year: u64) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given date (year ≥ 1970).
fn days_since_epoch(year: u64, month: u64, day: u64) -> u64 {
    let before_year: u64 = (1970..year)
        .map(|y| if is_leap(y) { 366 } else { 365 })
        .sum();
    let before_month: u64 = (1..month).map(|m| days_in_month(year, m)).sum();
    before_year + before_month + day - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(*n, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn parses_the_rfc_example_date() {
        let t = parse_imf_fixdate("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(
            t,
            UNIX_EPOCH.checked_add(Duration::from_secs(1_445_412_480))
        );
        let leap = parse_imf_fixdate("Thu, 29 Feb 2024 00:00:00 GMT");
        assert_eq!(
            leap,
            UNIX_EPOCH.checked_add(Duration::from_secs(1_709_164_800))
        );
    }

    #[test]
    fn rejects_malformed_dates() {
        for bad in [
            "Wed, 21 Oct 2015 07:28:00 UTC",
            "Wed 21 Oct 2015 07:28:00 GMT",
            "Wed, 31 Feb 2015 07:28:00 GMT",
            "Wed, 21 Foo 2015 07:28:00 GMT",
            "Wed, 21 Oct 2015 24:00:00 GMT",
            "Wed, 21 Oct 15 07:28:00 GMT",
            "Wednesday, 21-Oct-15 07:28:00 GMT",
            "",
        ] {
            assert_eq!(parse_imf_fixdate(bad), None, "{bad}");
        }
    }

    #[test]
    fn header_forms_and_precedence() {
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_470);
        let ms = headers(&[("retry-after-ms", "1500"), ("retry-after", "9")]);
        assert_eq!(retry_after(&ms, now), Some(Duration::from_millis(1500)));
        let secs = headers(&[("retry-after", "2.5")]);
        assert_eq!(retry_after(&secs, now), Some(Duration::from_millis(2500)));
        let date = headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]);
        assert_eq!(retry_after(&date, now), Some(Duration::from_secs(10)));
        let past = headers(&[("retry-after", "Thu, 01 Jan 2015 00:00:00 GMT")]);
        assert_eq!(retry_after(&past, now), Some(Duration::ZERO));
        for junk in ["-1", "soon", "1e400", "NaN"] {
            let mut h = HeaderMap::new();
            h.insert("retry-after", HeaderValue::from_static(junk));
            assert_eq!(retry_after(&h, now), None, "{junk}");
        }
        let huge = headers(&[("retry-after", "99999999999999999999999999")]);
        assert_eq!(retry_after(&huge, now), None);
    }

    #[test]
    fn should_retry_reads_true_and_false_only() {
        assert_eq!(
            should_retry(&headers(&[("x-should-retry", "true")])),
            Some(true)
        );
        assert_eq!(
            should_retry(&headers(&[("x-should-retry", "False")])),
            Some(false)
        );
        assert_eq!(should_retry(&headers(&[("x-should-retry", "maybe")])), None);
        assert_eq!(should_retry(&HeaderMap::new()), None);
    }
}
