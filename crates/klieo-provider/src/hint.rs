//! The delay a server asks for: `retry-after-ms`, `retry-after` in seconds
//! or as an HTTP date (IMF-fixdate, or the obsolete RFC 850 and asctime
//! forms HTTP still accepts), and the `x-should-retry` hint.

use klieo_http::retry_after;
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
    if let Some(ms) = text("retry-after-ms").and_then(retry_after::seconds) {
        return Some(ms / 1000);
    }
    retry_after::delay(text("retry-after")?, now)
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
        // Too long for a `Duration`: the longest wait, which no retry
        // policy takes (it stops), not none (retried at once).
        let huge = headers(&[("retry-after", "99999999999999999999999999")]);
        assert_eq!(retry_after(&huge, now), Some(Duration::MAX));
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
