//! The conformance scenarios of error replies: each status is its kind,
//! retryable or not, and a server's hints about retrying reach the error.

use super::scenarios::error_of;
use super::Wire;
use klieo_types::LlmError;
use std::time::Duration;

/// A reply of `status` is the error `kind` says, retryable or not, and
/// keeps the server's message.
async fn status_is<W: Wire>(wire: &W, status: u16, kind: fn(&LlmError) -> bool, retryable: bool) {
    let e = error_of(wire, status, &[], "the server's own words").await;
    assert!(kind(&e), "status {status}: {e:?}");
    assert_eq!(
        e.retryable(),
        retryable,
        "status {status}: retryable? {e:?}"
    );
    assert!(
        e.to_string().contains("the server's own words"),
        "status {status}: the message is kept: {e}"
    );
}

fn bad_request(e: &LlmError) -> bool {
    matches!(e, LlmError::BadRequest { .. })
}

fn unauthorized(e: &LlmError) -> bool {
    matches!(e, LlmError::Unauthorized { .. })
}

fn server(e: &LlmError) -> bool {
    matches!(e, LlmError::Server { .. })
}

/// 400 is a bad request, not retried.
pub async fn status_400_is_a_bad_request<W: Wire>(wire: &W) {
    status_is(wire, 400, bad_request, false).await;
}

/// 401 is unauthorized, not retried.
pub async fn status_401_is_unauthorized<W: Wire>(wire: &W) {
    status_is(wire, 401, unauthorized, false).await;
}

/// 403 is unauthorized, not retried.
pub async fn status_403_is_unauthorized<W: Wire>(wire: &W) {
    status_is(wire, 403, unauthorized, false).await;
}

/// 404 (a model or path the server does not have) is a bad request.
pub async fn status_404_is_a_bad_request<W: Wire>(wire: &W) {
    status_is(wire, 404, bad_request, false).await;
}

/// 413 (a request too large) is a bad request.
pub async fn status_413_is_a_bad_request<W: Wire>(wire: &W) {
    status_is(wire, 413, bad_request, false).await;
}

/// 429 is a rate limit, retried.
pub async fn status_429_is_a_retryable_rate_limit<W: Wire>(wire: &W) {
    status_is(wire, 429, |e| matches!(e, LlmError::RateLimit { .. }), true).await;
}

/// 500 is a server error, retried.
pub async fn status_500_is_a_retryable_server_error<W: Wire>(wire: &W) {
    status_is(wire, 500, server, true).await;
}

/// 503 is a server error, retried.
pub async fn status_503_is_a_retryable_server_error<W: Wire>(wire: &W) {
    status_is(wire, 503, server, true).await;
}

/// 529 (Anthropic's overloaded) is a server error, retried.
pub async fn status_529_is_a_retryable_server_error<W: Wire>(wire: &W) {
    status_is(wire, 529, server, true).await;
}

/// `retry-after` (seconds) reaches the error.
pub async fn retry_after_reaches_the_error<W: Wire>(wire: &W) {
    let e = error_of(wire, 429, &[("retry-after", "7")], "slow down").await;
    let after = e.hint().and_then(|h| h.retry_after);
    assert_eq!(after, Some(Duration::from_secs(7)), "retry-after: {e:?}");
}

/// `retry-after-ms` reaches the error.
pub async fn retry_after_ms_reaches_the_error<W: Wire>(wire: &W) {
    let e = error_of(wire, 503, &[("retry-after-ms", "1500")], "busy").await;
    let after = e.hint().and_then(|h| h.retry_after);
    assert_eq!(
        after,
        Some(Duration::from_millis(1500)),
        "retry-after-ms: {e:?}"
    );
}

/// `x-should-retry: false` makes a server error final.
pub async fn should_retry_false_wins_over_a_server_error<W: Wire>(wire: &W) {
    let e = error_of(wire, 500, &[("x-should-retry", "false")], "broken").await;
    assert!(!e.retryable(), "x-should-retry: false wins: {e:?}");
}

/// `x-should-retry: true` makes a bad request retryable.
pub async fn should_retry_true_wins_over_a_bad_request<W: Wire>(wire: &W) {
    let e = error_of(wire, 400, &[("x-should-retry", "true")], "flaky").await;
    assert!(e.retryable(), "x-should-retry: true wins: {e:?}");
}
