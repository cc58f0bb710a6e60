//! A rate-limited client on paused time: calls wait for their scope, a
//! wait past the bound fails retryably, and a server's "slow down" holds
//! back another client sharing the limiter.
#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;
use klieo_store::{InMemoryRateLimiter, RateLimit, RateLimits};
use klieo_types::testing::{text_chunks, ScriptedLlm};
use klieo_types::Message;
use std::future::poll_fn;

fn hi() -> ChatRequest {
    ChatRequest::new(vec![Message::user("hi")])
}

fn one_a_minute() -> InMemoryRateLimiter {
    let limits = RateLimits::new().with_default(RateLimit::new().with_requests_per_minute(1));
    InMemoryRateLimiter::new(limits).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_call_that_would_wait_past_the_bound_fails_retryably_without_calling() {
    let llm = ScriptedLlm::new().then_text("one").then_text("two");
    let limited = RateLimited::builder(llm.clone(), one_a_minute())
        .with_max_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    limited.complete(hi()).await.unwrap();
    let err = limited.complete(hi()).await.unwrap_err();
    assert!(err.retryable(), "{err}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));
    assert!(err.to_string().contains("scripted/scripted"), "{err}");
    assert_eq!(llm.requests().len(), 1, "the second call was not sent");
}

#[tokio::test(start_paused = true)]
async fn a_servers_slow_down_holds_back_every_client_of_the_limiter() {
    let limiter = InMemoryRateLimiter::new(RateLimits::new()).unwrap();
    let busy = LlmError::rate_limit("slow down", Some(Duration::from_secs(2)));
    let first = RateLimited::builder(ScriptedLlm::new().then_error(busy), limiter.clone())
        .build()
        .unwrap();
    let other_llm = ScriptedLlm::new().then_text("hello");
    let other = RateLimited::builder(other_llm.clone(), limiter)
        .build()
        .unwrap();
    let began = Instant::now();
    first.complete(hi()).await.unwrap_err();
    let reply = other.complete(hi()).await.unwrap();
    assert_eq!(began.elapsed(), Duration::from_secs(2), "held back 2 s");
    let wait = reply.info.unwrap().rate_wait.unwrap();
    assert_eq!(wait.waited, Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_calls_tools_count_against_the_tokens_a_minute() {
    let limits = RateLimits::new().with_default(RateLimit::new().with_tokens_per_minute(1_000));
    let limiter = InMemoryRateLimiter::new(limits).unwrap();
    let limited = RateLimited::builder(ScriptedLlm::new().then_text("a"), limiter.clone())
        .build()
        .unwrap();
    // About 900 estimated tokens of the tool's description: providers
    // count a request's tools as they count its messages.
    let big = klieo_types::ToolDef::new("big", "x".repeat(3_600), serde_json::json!({}));
    let mut req = hi();
    req.tools = vec![big].into();
    limited.complete(req).await.unwrap();
    let next = limiter.acquire("scripted/scripted", 100).await.unwrap();
    assert!(
        next.is_some(),
        "100 more tokens wait for the minute to pass"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_request_does_not_pause_the_scope() {
    let limiter = InMemoryRateLimiter::new(RateLimits::new()).unwrap();
    let refused = LlmError::BadRequest {
        status: Some(400),
        message: "bad".into(),
        hint: klieo_types::RetryHint::new().with_retry_after(Some(Duration::from_secs(5))),
    };
    let first = RateLimited::builder(ScriptedLlm::new().then_error(refused), limiter.clone())
        .build()
        .unwrap();
    first.complete(hi()).await.unwrap_err();
    assert_eq!(limiter.acquire("scripted/scripted", 1).await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn a_streamed_call_that_waited_says_so_on_its_first_chunk() {
    let llm = ScriptedLlm::new()
        .then_text("one")
        .then_chunks(text_chunks(&["t", "wo"], None));
    let limited = RateLimited::builder(llm, one_a_minute())
        .with_scope("account")
        .build()
        .unwrap();
    limited.complete(hi()).await.unwrap();
    let mut stream = limited.stream(hi()).await.unwrap();
    let first = poll_fn(|cx| stream.as_mut().poll_next(cx))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.delta, "t");
    let wait = first.info.unwrap().rate_wait.unwrap();
    assert_eq!(
        (wait.scope.as_str(), wait.waited),
        ("account", Duration::from_secs(60))
    );
}

/// A client of one key: the provider's limited client, limited again in
/// the key's own scope.
fn for_key(llm: &ScriptedLlm, limiter: &InMemoryRateLimiter, key: &str) -> RateLimited {
    let provider = RateLimited::builder(llm.clone(), limiter.clone())
        .build()
        .unwrap();
    RateLimited::builder(provider, limiter.clone())
        .with_scope(key)
        .with_max_wait(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_keys_own_scope_limits_its_calls_within_the_providers() {
    // Tenants get a request a minute each; the provider three.
    let limits = RateLimits::new()
        .with_default(RateLimit::new().with_requests_per_minute(1))
        .add_scope(
            "scripted/scripted",
            RateLimit::new().with_requests_per_minute(3),
        );
    let limiter = InMemoryRateLimiter::new(limits).unwrap();
    let llm = ScriptedLlm::new().then_text("a").then_text("b");
    let (acme, globex) = (
        for_key(&llm, &limiter, "acme"),
        for_key(&llm, &limiter, "globex"),
    );
    acme.complete(hi()).await.unwrap();
    let refused = acme.complete(hi()).await.unwrap_err();
    assert!(refused.to_string().contains("acme"), "{refused}");
    globex.complete(hi()).await.unwrap();
    assert_eq!(llm.requests().len(), 2, "one call of each key went");
    // Both took from the provider's scope: one request of three is left.
    assert_eq!(limiter.acquire("scripted/scripted", 1).await.unwrap(), None);
    assert!(limiter
        .acquire("scripted/scripted", 1)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test(start_paused = true)]
async fn a_wait_the_providers_scope_refuses_does_not_pause_the_key() {
    // The key has room; the provider lets one call a minute through.
    let limits = RateLimits::new()
        .with_default(RateLimit::new().with_requests_per_minute(100))
        .add_scope(
            "scripted/scripted",
            RateLimit::new().with_requests_per_minute(1),
        );
    let limiter = InMemoryRateLimiter::new(limits).unwrap();
    let llm = ScriptedLlm::new().then_text("a");
    let provider = RateLimited::builder(llm.clone(), limiter.clone())
        .with_max_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    let acme = RateLimited::builder(provider, limiter.clone())
        .with_scope("acme")
        .with_max_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    acme.complete(hi()).await.unwrap();
    let refused = acme.complete(hi()).await.unwrap_err();
    let hint = refused.hint().copied().unwrap_or_default();
    assert!(hint.from_limiter, "{refused}");
    assert!(
        !refused.to_string().contains("the server asks"),
        "{refused}"
    );
    assert_eq!(
        limiter.acquire("acme", 1).await.unwrap(),
        None,
        "the key's scope is not paused for the provider's wait"
    );
}

#[test]
fn an_empty_scope_is_refused_naming_the_setting() {
    let built = RateLimited::builder(ScriptedLlm::new(), one_a_minute())
        .with_scope("")
        .build();
    assert!(
        matches!(&built, Err(klieo_types::ConfigError::Invalid { name, .. }) if name == "RateLimitedBuilder::with_scope"),
        "{built:?}"
    );
}
