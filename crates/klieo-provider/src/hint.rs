//! The delay a server asks for: `retry-after-ms`, `retry-after` in seconds
//! or as an HTTP date (IMF-fixdate, or the obsolete RFC 850 and asctime
//! forms HTTP still accepts), and the `x-should-retry` hint.

use klieo_types::RetryHint;
use reqwest::header::HeaderMap;
use std::time::{Duration, SystemTime};

/// The [`RetryHint`] of a reply's headers, counted from `now`: the delay
/// of `retry-after-ms` or `retry-after`, and `x-should-retry`.
///
/// ```
/// use reqwest::header::{HeaderMap, HeaderValue};
/// use std::time::{Duration, SystemTime};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("retry-after", HeaderValue::from_static("2"));
/// let hint = klieo_provider::hint::retry_hint(&headers, SystemTime::now());
/// assert_eq!(hint.retry_after, Some(Duration::from_secs(2)));
/// ```
pub fn retry_hint(headers: &HeaderMap, now: SystemTime) -> RetryHint {
    RetryHint::new()
        .with_retry_after(retry_after(headers, now))
        .with_should_retry(should_retry(headers))
}

/// The delay asked for by the headers, if any: `retry-after-ms`
/// (milliseconds, possibly fractional) first, then `retry-after` as seconds
/// (possibly fractional) or as an HTTP date, counted from `now`. A date in
/// the past means no wait (zero). Negative, non-finite or unparsable values
/// are ignored.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
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
        let at = parse_http_date(value)?;
        Some(at.duration_since(now).unwrap_or(Duration::ZERO))
    })
}

/// `x-should-retry: true|false`, when present and readable.
fn should_retry(headers: &HeaderMap) -> Option<bool> {
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

/// An HTTP date in any of the three forms RFC 9110 requires a recipient
/// to accept: `Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94 08:49:37
/// GMT` and `Sun Nov  6 08:49:37 1994`. The weekday must match the date.
fn parse_http_date(text: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use std::time::UNIX_EPOCH;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(*n, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn parses_the_rfc_example_date() {
        let t = parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(
            t,
            UNIX_EPOCH.checked_add(Duration::from_secs(1_445_412_480))
        );
        let leap = parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT");
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
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn obsolete_date_forms_are_accepted() {
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_470);
        let rfc850 = headers(&[("retry-after", "Wednesday, 21-Oct-15 07:28:00 GMT")]);
        assert_eq!(retry_after(&rfc850, now), Some(Duration::from_secs(10)));
        let asctime = headers(&[("retry-after", "Wed Oct 21 07:28:00 2015")]);
        assert_eq!(retry_after(&asctime, now), Some(Duration::from_secs(10)));
        let wrong_weekday = headers(&[("retry-after", "Thursday, 21-Oct-15 07:28:00 GMT")]);
        assert_eq!(retry_after(&wrong_weekday, now), None);
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
