//! Tests of [`LlmError`]: kinds, retry verdicts, texts, causes.

use super::*;

#[test]
fn classification_follows_kind_then_server_verdict() {
    let retryable = [
        LlmError::network("refused"),
        LlmError::Interrupted {
            bytes: 10,
            events: 1,
            reason: "reset".into(),
            cause: None,
        },
        LlmError::timeout(TimeLimit::Idle, Duration::from_secs(1)),
        LlmError::rate_limit("slow down", None),
        LlmError::server("503"),
    ];
    let permanent = [
        LlmError::unauthorized("no key"),
        LlmError::bad_request("bad"),
        LlmError::QuotaExhausted {
            message: "insufficient_quota".into(),
        },
        LlmError::Decoding {
            reason: "eof".into(),
            excerpt: String::new(),
            cause: None,
        },
        LlmError::ReplyTooLarge {
            limit: 10,
            excerpt: String::new(),
        },
        LlmError::LineTooLong { limit: 10 },
        LlmError::EventTooLong { limit: 10 },
        LlmError::ToolCallsTooLarge { limit: 10 },
        LlmError::Unsupported("embeddings".into()),
        LlmError::Cancelled,
    ];
    for e in retryable {
        assert!(RunError::from(e.clone()).retryable(), "{e:?} should retry");
    }
    for e in permanent {
        assert!(!RunError::from(e.clone()).retryable(), "{e:?} should not");
    }
    let told = |should| RetryHint::new().with_should_retry(Some(should));
    let bad = LlmError::BadRequest {
        status: Some(400),
        message: "m".into(),
        hint: told(true),
    };
    assert!(bad.retryable(), "x-should-retry: true keeps the kind");
    let limited = LlmError::RateLimit {
        message: "m".into(),
        hint: told(false),
    };
    assert!(!limited.retryable());
}

#[test]
fn every_hinted_kind_hands_out_its_delay() {
    let wait = RetryHint::new().with_retry_after(Some(Duration::from_millis(1500)));
    let server = LlmError::Server {
        status: Some(503),
        message: "busy".into(),
        hint: wait,
        cause: None,
    };
    assert_eq!(server.retry_after(), Some(Duration::from_millis(1500)));
    assert_eq!(
        server.to_string(),
        "the model server failed (HTTP 503): busy; the server asks to wait 1500 ms"
    );
    let limited = LlmError::rate_limit("slow down", Some(Duration::from_millis(1500)));
    assert_eq!(limited.retry_after(), Some(Duration::from_millis(1500)));
    assert_eq!(
        limited.to_string(),
        "rate limited by the provider: slow down; the server asks to wait 1500 ms"
    );
    assert_eq!(LlmError::Cancelled.retry_after(), None);
}

#[test]
fn texts_say_what_happened() {
    let bad = LlmError::BadRequest {
        status: Some(422),
        message: "messages: field required".into(),
        hint: RetryHint::new().with_should_retry(Some(true)),
    };
    assert_eq!(
        bad.to_string(),
        "the provider rejected the request (HTTP 422): messages: field required; \
         the server says to retry"
    );
    let cut = LlmError::Interrupted {
        bytes: 120,
        events: 2,
        reason: "connection reset".into(),
        cause: None,
    };
    assert_eq!(
        cut.to_string(),
        "the connection to the model server broke before the reply was complete, after \
         120 bytes and 2 events: connection reset"
    );
    let idle = LlmError::timeout(TimeLimit::Idle, Duration::from_secs(60));
    assert!(idle.to_string().contains("nothing more came for 60000 ms"));
    let budget = LlmError::timeout(TimeLimit::RetryBudget, Duration::from_secs(80));
    assert!(budget.to_string().contains("RunOptions::retry"));
}

#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection refused")
    }
}

impl std::error::Error for Refused {}

#[test]
fn the_cause_is_the_source_and_never_in_the_text() {
    use std::error::Error as _;
    let e = LlmError::Network {
        reason: "connecting to http://127.0.0.1:1/v1".into(),
        cause: Some(Arc::new(Refused)),
    };
    assert_eq!(
        e.to_string(),
        "could not reach the model server: connecting to http://127.0.0.1:1/v1; \
         check the base URL and that the server is up"
    );
    assert_eq!(
        e.source().map(ToString::to_string).as_deref(),
        Some("connection refused")
    );
    let same_without = LlmError::network("connecting to http://127.0.0.1:1/v1");
    assert_eq!(e, same_without, "equality ignores the cause");
    assert!(same_without.source().is_none());
    let cut = LlmError::Interrupted {
        bytes: 3,
        events: 0,
        reason: "reading the reply".into(),
        cause: Some(Arc::new(Refused)),
    };
    assert!(cut.source().is_some());
    assert!(!cut.to_string().contains("refused"), "{cut}");
    assert_ne!(cut, e);
}

#[test]
fn limits_are_variants_carrying_the_limit() {
    let reply = LlmError::ReplyTooLarge {
        limit: 16,
        excerpt: "{\"a\"".into(),
    };
    assert_eq!(reply.kind(), "too_large");
    assert!(!reply.retryable());
    assert_eq!(
        reply.to_string(),
        "the model server's reply exceeded 16 bytes (reply began: \"{\\\"a\\\"\")"
    );
    assert_eq!(
        LlmError::ToolCallsTooLarge { limit: 200 }.to_string(),
        "the streamed tool calls exceeded 200 bytes of arguments, ids and names"
    );
    assert_ne!(
        LlmError::LineTooLong { limit: 1 },
        LlmError::EventTooLong { limit: 1 }
    );
}
