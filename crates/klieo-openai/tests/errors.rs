//! From status, headers and body to `LlmError`.

use crate::support::{client, mock_chat};
use klieo_provider::builder::ClientBuilder;
use klieo_types::{ChatRequest, LlmClient, LlmError, Message, RetryHint, TimeLimit};
use serde_json::json;
use std::time::Duration;
use wiremock::{MockServer, ResponseTemplate};

fn req() -> ChatRequest {
    ChatRequest::new(vec![Message::user("x")])
}

async fn error_for(reply: ResponseTemplate) -> LlmError {
    let server = MockServer::start().await;
    mock_chat(&server, reply).await;
    client(&server.uri()).complete(req()).await.unwrap_err()
}

fn bad(status: u16, message: &str, hint: RetryHint) -> LlmError {
    LlmError::BadRequest {
        status: Some(status),
        message: message.into(),
        hint,
    }
}

fn server_error(status: u16, message: &str, hint: RetryHint) -> LlmError {
    LlmError::Server {
        status: Some(status),
        message: message.into(),
        hint,
        cause: None,
    }
}

const NO_HINT: RetryHint = RetryHint::new();

fn told(should_retry: bool) -> RetryHint {
    RetryHint::new().with_should_retry(Some(should_retry))
}

fn openai_error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}
    }))
}

#[tokio::test]
async fn a_validation_error_says_where_and_what_without_the_input() {
    let body = json!({"detail": [{
        "type": "missing",
        "loc": ["body", "messages", 0, "content"],
        "msg": "Field required",
        "input": {"role": "user", "name": "my secret plans for Tuesday"}
    }]});
    let e = error_for(ResponseTemplate::new(422).set_body_json(body)).await;
    let shown = format!("{e} {e:?}");
    assert!(
        shown.contains("body.messages.0.content: Field required"),
        "{shown}"
    );
    assert!(!shown.contains("secret plans"), "{shown}");
}

#[tokio::test]
async fn unauthorized_statuses() {
    for status in [401, 403] {
        match error_for(openai_error(status, "Incorrect API key provided")).await {
            LlmError::Unauthorized { message: m, .. } => {
                assert_eq!(m, "Incorrect API key provided")
            }
            other => panic!("{status}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn unauthorized_without_a_key_says_none_was_sent() {
    let server = MockServer::start().await;
    mock_chat(&server, openai_error(401, "Missing bearer token")).await;
    let plain = klieo_openai::OpenAiClient::builder().with_base_url(format!("{}/v1", server.uri()));
    // A query and a header hide their values, and send no key.
    let queried = klieo_openai::OpenAiClient::builder()
        .with_base_url(format!("{}/v1?api-version=2024-10-21", server.uri()))
        .add_header("x-tenant", "tenant-1");
    for keyless in [plain, queried] {
        match keyless.build().unwrap().complete(req()).await {
            Err(LlmError::Unauthorized { message: m, .. }) => assert_eq!(
                m,
                "Missing bearer token; no API key was sent: set OPENAI_API_KEY or call \
                 OpenAiClientBuilder::api_key"
            ),
            other => panic!("{other:?}"),
        }
    }
    // A key too short to scrub was sent all the same.
    let keyed = klieo_openai::OpenAiClient::builder()
        .with_base_url(format!("{}/v1", server.uri()))
        .with_api_key("x");
    match keyed.build().unwrap().complete(req()).await {
        Err(LlmError::Unauthorized { message: m, .. }) => assert_eq!(m, "Missing bearer token"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn not_found_names_the_url_and_asks_about_v1() {
    let server = MockServer::start().await;
    // A base URL without `/v1`: the server has nothing at /chat/completions.
    let bare = klieo_openai::OpenAiClient::builder()
        .with_base_url(server.uri())
        .build()
        .unwrap();
    let reply = ResponseTemplate::new(404).set_body_json(json!({"detail": "Not Found"}));
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(reply)
        .mount(&server)
        .await;
    match bare.complete(req()).await {
        Err(LlmError::BadRequest {
            status: Some(404),
            message,
            ..
        }) => {
            let url = format!("{}/chat/completions", server.uri());
            assert!(
                message.starts_with("Not Found; nothing answers at "),
                "{message}"
            );
            assert!(message.contains(&url), "{message}");
            assert!(message.contains("end in the API version"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn bad_request_statuses_carry_the_server_message() {
    for status in [400, 404, 422, 418] {
        let e = error_for(openai_error(status, "model `x` does not exist")).await;
        assert_eq!(e, bad(status, "model `x` does not exist", NO_HINT));
        assert!(!e.retryable());
    }
}

#[tokio::test]
async fn server_statuses_are_retryable() {
    for status in [408, 409, 500, 502, 503, 504] {
        let e = error_for(openai_error(status, "overloaded")).await;
        assert_eq!(e, server_error(status, "overloaded", NO_HINT));
        assert!(e.retryable());
    }
}

#[tokio::test]
async fn plain_text_body_is_the_message_bounded() {
    let e = error_for(ResponseTemplate::new(502).set_body_string("Bad Gateway\n")).await;
    assert_eq!(e, server_error(502, "Bad Gateway", NO_HINT));
    let long = "x".repeat(5000);
    match error_for(ResponseTemplate::new(400).set_body_string(long)).await {
        LlmError::BadRequest { message, .. } => assert!(message.chars().count() <= 1001),
        other => panic!("{other:?}"),
    }
    let e = error_for(ResponseTemplate::new(500)).await;
    assert_eq!(e, server_error(500, "HTTP 500 with an empty body", NO_HINT));
}

#[tokio::test]
async fn huge_error_body_is_read_with_a_bound() {
    let body = format!(
        "{{\"error\": {{\"message\": \"{}\"}}}}",
        "y".repeat(4 << 20)
    );
    match error_for(ResponseTemplate::new(400).set_body_string(body)).await {
        // Not JSON once cut at 64 KiB: the text is used, bounded.
        LlmError::BadRequest { message, .. } => assert!(message.chars().count() <= 1001),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rate_limit_delay_forms() {
    let cases = [
        (
            vec![("retry-after-ms", "1500")],
            Some(Duration::from_millis(1500)),
        ),
        (
            vec![("retry-after-ms", "250.5"), ("retry-after", "9")],
            Some(Duration::from_micros(250_500)),
        ),
        (vec![("retry-after", "2")], Some(Duration::from_secs(2))),
        (
            vec![("retry-after", "0.5")],
            Some(Duration::from_millis(500)),
        ),
        (
            vec![("retry-after", "Thu, 01 Jan 2015 00:00:00 GMT")],
            Some(Duration::ZERO),
        ),
        (vec![("retry-after", "soon")], None),
        (vec![], None),
    ];
    for (headers, expected) in cases {
        let mut reply = openai_error(429, "Rate limit reached");
        for (n, v) in &headers {
            reply = reply.insert_header(*n, *v);
        }
        let e = error_for(reply).await;
        assert_eq!(
            e,
            LlmError::rate_limit("Rate limit reached", expected),
            "{headers:?}"
        );
        assert!(e.retryable());
    }
}

#[tokio::test]
async fn rate_limit_http_date_in_the_future() {
    // A date about an hour ahead, built from now.
    let date = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3600));
    let e =
        error_for(openai_error(429, "slow down").insert_header("retry-after", date.as_str())).await;
    let delay = e.retry_after().unwrap();
    assert!(
        delay > Duration::from_secs(3500) && delay <= Duration::from_secs(3600),
        "{delay:?}"
    );
}

#[tokio::test]
async fn should_retry_true_keeps_the_kind_and_makes_it_retryable() {
    let e = error_for(openai_error(400, "try again").insert_header("x-should-retry", "true")).await;
    assert_eq!(e, bad(400, "try again", told(true)));
    assert!(e.retryable());
    let e =
        error_for(openai_error(401, "token refreshing").insert_header("x-should-retry", "true"))
            .await;
    assert!(matches!(e, LlmError::Unauthorized { .. }), "{e:?}");
    assert!(e.retryable());
}

#[tokio::test]
async fn should_retry_false_keeps_the_kind_and_makes_it_final() {
    let e =
        error_for(openai_error(500, "do not retry").insert_header("x-should-retry", "false")).await;
    assert_eq!(e, server_error(500, "do not retry", told(false)));
    assert!(!e.retryable());
    let e = error_for(openai_error(429, "slow").insert_header("x-should-retry", "false")).await;
    assert!(matches!(e, LlmError::RateLimit { .. }), "{e:?}");
    assert!(!e.retryable());
    assert!(
        e.to_string().ends_with("; the server says not to retry"),
        "{e}"
    );
}

#[tokio::test]
async fn should_retry_agreeing_with_the_status_changes_nothing() {
    let e = error_for(openai_error(503, "busy").insert_header("x-should-retry", "true")).await;
    assert_eq!(e, server_error(503, "busy", told(true)));
    assert!(e.retryable());
    let e = error_for(openai_error(401, "no").insert_header("x-should-retry", "false")).await;
    assert!(!e.retryable());
}

#[tokio::test]
async fn every_retryable_status_carries_the_servers_delay() {
    for status in [500, 502, 503, 504, 529, 408, 409] {
        let reply = openai_error(status, "busy").insert_header("retry-after", "2");
        let e = error_for(reply).await;
        let wait = RetryHint::new().with_retry_after(Some(Duration::from_secs(2)));
        assert_eq!(e, server_error(status, "busy", wait), "{status}");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
    }
    let reply = openai_error(503, "busy").insert_header("retry-after-ms", "1500");
    assert_eq!(
        error_for(reply).await.retry_after(),
        Some(Duration::from_millis(1500))
    );
}

#[tokio::test]
async fn an_exhausted_quota_is_not_retried_and_says_so() {
    let quota = ResponseTemplate::new(429).set_body_json(json!({"error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota", "param": null, "code": "insufficient_quota"
    }}));
    let e = error_for(quota.insert_header("retry-after", "20")).await;
    assert!(
        matches!(&e, LlmError::QuotaExhausted { message } if message.starts_with("You exceeded")),
        "{e:?}"
    );
    assert!(!e.retryable());
    assert!(e.to_string().contains("retrying will not help"), "{e}");
    let by_code_only = ResponseTemplate::new(429)
        .set_body_json(json!({"error": {"message": "m", "code": "insufficient_quota"}}));
    assert!(matches!(
        error_for(by_code_only).await,
        LlmError::QuotaExhausted { .. }
    ));
}

#[tokio::test]
async fn a_request_over_the_tokens_a_minute_limit_is_not_retried() {
    let too_large = ResponseTemplate::new(429).set_body_json(json!({"error": {
        "message": "Request too large for gpt-4o in organization org-x on tokens per min (TPM): \
            Limit 30000, Requested 41234. The input or output tokens must be reduced in order \
            to run successfully.",
        "type": "tokens", "param": null, "code": "rate_limit_exceeded"
    }}));
    let e = error_for(too_large).await;
    assert!(matches!(&e, LlmError::RateLimit { .. }), "{e:?}");
    assert!(!e.retryable(), "the same request is refused again");
    let busy = ResponseTemplate::new(429).set_body_json(json!({"error": {
        "message": "Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000, Used \
            29000, Requested 2000. Please try again in 2s.",
        "type": "tokens", "code": "rate_limit_exceeded"
    }}));
    assert!(error_for(busy).await.retryable(), "a full minute passes");
}

#[tokio::test]
async fn undecodable_reply_is_decoding_with_a_bounded_excerpt() {
    let body = format!("<html>{}</html>", "z".repeat(1000));
    match error_for(ResponseTemplate::new(200).set_body_string(body)).await {
        LlmError::Decoding {
            reason, excerpt, ..
        } => {
            assert!(reason.contains("not a chat completion"), "{reason}");
            assert!(excerpt.starts_with("<html>"));
            assert!(excerpt.chars().count() <= 200);
        }
        other => panic!("{other:?}"),
    }
    let e = error_for(ResponseTemplate::new(200).set_body_json(json!({"choices": []}))).await;
    assert!(matches!(e, LlmError::Decoding { .. }), "{e:?}");
    let e =
        error_for(ResponseTemplate::new(200).set_body_json(json!({"choices": [{"message": 5}]})))
            .await;
    assert!(matches!(e, LlmError::Decoding { .. }), "{e:?}");
}

#[tokio::test]
async fn deadline_is_timeout() {
    let slow = crate::support::json_reply(crate::support::completion(
        json!({"content": "a"}),
        json!("stop"),
    ))
    .set_delay(Duration::from_secs(5));
    let server = MockServer::start().await;
    mock_chat(&server, slow).await;
    let e = client(&server.uri())
        .complete(req().with_timeout(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        LlmError::timeout(TimeLimit::Call, Duration::from_millis(200))
    );
}

#[tokio::test]
async fn refused_connection_is_network() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let e = client(&format!("http://{addr}"))
        .complete(req())
        .await
        .unwrap_err();
    match e {
        LlmError::Network { reason: m, .. } => assert!(m.contains("127.0.0.1"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn connect_timeout_is_a_timeout_of_connecting() {
    // A listener that never accepts, its queue filled: a further connect
    // hangs until the client's connect timeout.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let connect = tokio::net::TcpStream::connect(addr);
        if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_millis(100), connect).await {
            fillers.push(s);
        }
    }
    let c = klieo_openai::OpenAiClient::builder()
        .with_base_url(format!("http://{addr}/v1"))
        .with_connect_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let e = c.complete(req()).await.unwrap_err();
    assert_eq!(
        e,
        LlmError::timeout(TimeLimit::Connect, Duration::from_millis(200))
    );
    drop(fillers);
}

#[tokio::test]
async fn reply_past_16_mib_is_a_decoding_error() {
    let body = vec![b' '; 16 * 1024 * 1024 + 1];
    let reply = ResponseTemplate::new(200).set_body_raw(body, "application/json");
    match error_for(reply).await {
        LlmError::ReplyTooLarge { limit, excerpt } => {
            assert_eq!(limit, 16_777_216);
            assert!(excerpt.chars().count() <= 200);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn stream_init_errors_map_like_complete() {
    let server = MockServer::start().await;
    mock_chat(
        &server,
        openai_error(429, "slow").insert_header("retry-after", "3"),
    )
    .await;
    let e = client(&server.uri()).stream(req()).await.err().unwrap();
    assert_eq!(
        e,
        LlmError::rate_limit("slow", Some(Duration::from_secs(3)))
    );
    let server = MockServer::start().await;
    mock_chat(&server, openai_error(401, "bad key")).await;
    let e = client(&server.uri()).stream(req()).await.err().unwrap();
    assert_eq!(e, LlmError::unauthorized("bad key"));
}
