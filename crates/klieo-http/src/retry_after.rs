//! A `Retry-After` value (RFC 9110): seconds, possibly fractional, or an
//! HTTP date in any of the three forms a recipient must accept
//! (IMF-fixdate, and the obsolete RFC 850 and asctime forms).

use std::time::{Duration, SystemTime};

/// The wait `value` asks for, counted from `now`: seconds, or until an
/// HTTP date (a date in the past is no wait). Negative, non-finite or
/// unreadable values ask for none (`None`).
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use klieo_http::retry_after::delay;
///
/// assert_eq!(delay("2.5", SystemTime::now()), Some(Duration::from_millis(2_500)));
/// let now = UNIX_EPOCH + Duration::from_secs(1_445_412_470);
/// assert_eq!(delay("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(10)));
/// assert_eq!(delay("soon", now), None);
/// ```
pub fn delay(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    seconds(value).or_else(|| {
        let at = http_date(value)?;
        Some(at.duration_since(now).unwrap_or(Duration::ZERO))
    })
}

/// A non-negative decimal number as a duration of that many seconds (or
/// of whatever unit the caller divides it into); one too large for a
/// [`Duration`] is [`Duration::MAX`], a wait longer than any caller
/// takes, never none.
///
/// ```
/// use std::time::Duration;
/// use klieo_http::retry_after::seconds;
///
/// assert_eq!(seconds("1.5"), Some(Duration::from_millis(1_500)));
/// assert_eq!(seconds("99999999999999999999999999"), Some(Duration::MAX));
/// assert_eq!(seconds("-1"), None);
/// ```
pub fn seconds(text: &str) -> Option<Duration> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let secs: f64 = text.parse().ok()?;
    Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

/// An HTTP date in any of the three forms RFC 9110 requires a recipient
/// to accept: `Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94 08:49:37
/// GMT` and `Sun Nov  6 08:49:37 1994`. The weekday must match the date.
fn http_date(text: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn parses_the_rfc_example_date() {
        let t = http_date("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(
            t,
            UNIX_EPOCH.checked_add(Duration::from_secs(1_445_412_480))
        );
        let leap = http_date("Thu, 29 Feb 2024 00:00:00 GMT");
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
            "",
        ] {
            assert_eq!(http_date(bad), None, "{bad}");
        }
    }
}
