//! The API key never shows: not in `Debug`, not in errors, even when the
//! server echoes it.

use crate::support::{client, collect, mock_chat, sse_reply, KEY};
use klieo_openai::OpenAiClient;
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

#[test]
fn debug_hides_the_key() {
    let builder = OpenAiClient::builder()
        .api_key(KEY)
        .header("x-proxy-token", "proxy-secret-value");
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
        LlmError::Unauthorized("Incorrect API key provided: ***.".into())
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
    assert!(matches!(e, LlmError::Unauthorized(_)), "{e:?}");
    assert_clean(e);
}
