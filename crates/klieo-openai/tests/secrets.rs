//! The API key never shows: not in `Debug`, not in errors, even when the
//! server echoes it.

use crate::support::{client, collect, mock_chat, sse_reply, KEY};
use klieo_openai::OpenAiClient;
use klieo_provider::builder::ClientBuilder;
use klieo_types::{ChatRequest, LlmClient, LlmError, Message};
use serde_json::json;
use wiremock::{MockServer, ResponseTemplate};

fn req() -> ChatRequest {
    ChatRequest::new(vec![Message::user("x")])
}

fn assert_clean(e: &LlmError) {
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(KEY), "key leaked: {shown}");
}

/// Not even the key's first 8 characters show.
fn assert_no_prefix(e: &LlmError) {
    let shown = format!("{e} {e:?}");
    for n in 8..=KEY.len() {
        assert!(!shown.contains(&KEY[..n]), "{n} characters leaked: {shown}");
    }
}

#[test]
fn debug_hides_the_key() {
    let builder = OpenAiClient::builder()
        .with_api_key(KEY)
        .add_header("x-proxy-token", "proxy-secret-value");
    let shown = format!("{builder:?}");
    assert!(
        !shown.contains(KEY) && !shown.contains("proxy-secret-value"),
        "{shown}"
    );
    assert!(shown.contains("***"), "{shown}");
    let client = builder.build().unwrap();
    let shown = format!("{client:?} {client:#?}");
    assert!(
        !shown.contains(KEY) && !shown.contains("proxy-secret-value"),
        "{shown}"
    );
    assert!(shown.contains("***"), "{shown}");
}

#[tokio::test]
async fn unauthorized_body_echoing_the_key_is_scrubbed() {
    let server = MockServer::start().await;
    let body = json!({"error": {"message": format!("Incorrect API key provided: {KEY}."), "type": "invalid_request_error", "code": "invalid_api_key"}});
    mock_chat(&server, ResponseTemplate::new(401).set_body_json(body)).await;
    let e = client(&server.uri()).complete(req()).await.unwrap_err();
    assert_eq!(
        e,
        LlmError::unauthorized("Incorrect API key provided: ***.")
    );
    assert_clean(&e);
}

#[tokio::test]
async fn text_and_decoding_bodies_are_scrubbed() {
    for (status, body) in [
        (400, format!("bad header Authorization: Bearer {KEY}")),
        (500, format!("{{\"error\": \"{KEY}\"}}")),
        (200, format!("not json {KEY}")),
    ] {
        let server = MockServer::start().await;
        mock_chat(&server, ResponseTemplate::new(status).set_body_string(body)).await;
        let e = client(&server.uri()).complete(req()).await.unwrap_err();
        assert_clean(&e);
    }
}

#[tokio::test]
async fn stream_error_events_are_scrubbed() {
    let server = MockServer::start().await;
    let sse = format!("data: {{\"error\": {{\"message\": \"key {KEY} revoked\", \"type\": \"authentication_error\"}}}}\n\n");
    mock_chat(&server, sse_reply(sse)).await;
    let stream = client(&server.uri()).stream(req()).await.unwrap();
    let items = collect(stream).await;
    let e = items.last().unwrap().as_ref().unwrap_err();
    assert!(matches!(e, LlmError::Unauthorized { .. }), "{e:?}");
    assert_clean(e);
}

#[tokio::test]
async fn key_with_a_trailing_newline_is_sent_trimmed_and_scrubbed() {
    let server = MockServer::start().await;
    let body = json!({"error": {"message": format!("Incorrect API key provided: {KEY}."), "type": "invalid_request_error"}});
    mock_chat(&server, ResponseTemplate::new(401).set_body_json(body)).await;
    let c = OpenAiClient::builder()
        .with_base_url(format!("{}/v1", server.uri()))
        .with_api_key(format!("{KEY}\n"))
        .build()
        .unwrap();
    let e = c.complete(req()).await.unwrap_err();
    assert_eq!(
        e,
        LlmError::unauthorized("Incorrect API key provided: ***.")
    );
    assert_clean(&e);
    let requests = server.received_requests().await.unwrap();
    let sent = requests[0].headers.get("authorization").unwrap();
    assert_eq!(sent.to_str().unwrap(), format!("Bearer {KEY}"));
}

#[tokio::test]
async fn a_key_across_a_cut_leaks_no_prefix() {
    // Each key starts 10 characters before the cut: the 200-character
    // excerpt of an undecodable reply, the 1000-character message.
    let across = |cut: usize| format!("{}{KEY} and more", "x".repeat(cut - 10));
    let blocking = [
        (200, across(200)),
        (400, across(1000)),
        (500, json!({"error": {"message": across(1000)}}).to_string()),
    ];
    for (status, body) in blocking {
        let server = MockServer::start().await;
        mock_chat(&server, ResponseTemplate::new(status).set_body_string(body)).await;
        let e = client(&server.uri()).complete(req()).await.unwrap_err();
        assert_no_prefix(&e);
    }
    let streamed = [
        format!("data: {}\n\n", json!({"error": {"message": across(1000)}})),
        format!("event: error\ndata: {}\n\n", across(1000)),
        format!("data: {{{}\n\n", across(200)),
    ];
    for sse in streamed {
        let server = MockServer::start().await;
        mock_chat(&server, sse_reply(sse)).await;
        let items = collect(client(&server.uri()).stream(req()).await.unwrap()).await;
        assert_no_prefix(items.last().unwrap().as_ref().unwrap_err());
    }
}

#[tokio::test]
async fn credentials_in_the_base_url_never_show() {
    for base in [
        "http://user:secret@127.0.0.1:1/v1",
        "http://127.0.0.1:1/v1?api-key=secret",
    ] {
        let builder = OpenAiClient::builder().with_base_url(base);
        let shown = format!("{builder:?}");
        assert!(!shown.contains("secret"), "{shown}");
        let client = builder.build().unwrap();
        let shown = format!("{client:?} {client:#?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("127.0.0.1:1"), "{shown}");
        let e = client.complete(req()).await.unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(matches!(e, LlmError::Network { .. }), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("127.0.0.1:1"), "{shown}");
    }
}

#[tokio::test]
async fn a_key_in_the_base_urls_query_goes_with_each_request() {
    use wiremock::matchers::{method, path, query_param};
    let server = MockServer::start().await;
    wiremock::Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(query_param("api-key", "k3y"))
        .respond_with(sse_reply(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
        ))
        .mount(&server)
        .await;
    let client = OpenAiClient::builder()
        .with_base_url(format!("{}/v1?api-key=k3y", server.uri()))
        .with_model("m")
        .build()
        .unwrap();
    let items = collect(client.stream(req()).await.unwrap()).await;
    assert!(items.iter().all(Result::is_ok), "{items:?}");
}

#[tokio::test]
async fn a_key_in_the_base_urls_query_or_a_header_is_scrubbed_when_echoed() {
    let echo = "no deployment for /v1/chat/completions?api-key=qu3ry-k3y (token pr0xy-t0ken)";
    let blocking = ResponseTemplate::new(404).set_body_json(json!({"error": {"message": echo}}));
    let streamed = sse_reply(format!("data: {}\n\n", json!({"error": {"message": echo}})));
    for reply in [blocking, streamed] {
        let server = MockServer::start().await;
        mock_chat(&server, reply).await;
        let client = OpenAiClient::builder()
            .with_base_url(format!("{}/v1?api-key=qu3ry-k3y", server.uri()))
            .add_header("x-proxy-token", "pr0xy-t0ken")
            .with_model("m")
            .build()
            .unwrap();
        let e = match client.stream(req()).await {
            Ok(stream) => collect(stream).await.pop().unwrap().unwrap_err(),
            Err(e) => e,
        };
        let shown = format!("{e} {e:?}");
        assert!(shown.contains("no deployment for"), "{shown}");
        assert!(
            !shown.contains("qu3ry-k3y") && !shown.contains("pr0xy-t0ken"),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn a_redirect_is_not_followed_with_the_key_and_headers() {
    let api = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    let to = format!("{}/v1/chat/completions?token=t0ken", elsewhere.uri());
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(307).insert_header("location", to.as_str()))
        .mount(&api)
        .await;
    let client = OpenAiClient::builder()
        .with_base_url(format!("{}/v1", api.uri()))
        .with_api_key(KEY)
        .add_header("api-key", "proxy-secret-value")
        .with_model("m")
        .build()
        .unwrap();
    let e = client.complete(req()).await.unwrap_err();
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "the redirect was followed"
    );
    assert!(
        matches!(
            e,
            LlmError::BadRequest {
                status: Some(307),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.retryable(), "{e:?}");
    let shown = e.to_string();
    assert!(shown.contains(&elsewhere.uri()), "{shown}");
    assert!(!shown.contains("t0ken"), "the query is not shown: {shown}");
    assert_clean(&e);
}
