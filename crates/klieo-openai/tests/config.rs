//! Building a client: defaults, validation, the key rule, headers sent.

use crate::support::{client, completion, json_reply, mock_chat, KEY};
use klieo_openai::{OpenAiClient, DEFAULT_BASE_URL, DEFAULT_MODEL};
use klieo_provider::builder::ClientBuilder;
use klieo_types::{Capabilities, ChatRequest, ConfigError, LlmClient, Message};
use serde_json::json;
use std::time::Duration;
use wiremock::MockServer;

#[test]
fn defaults() {
    let c = OpenAiClient::builder()
        .with_api_key("sk-x-123456")
        .build()
        .unwrap();
    assert_eq!(c.model(), DEFAULT_MODEL);
    assert_eq!(c.model(), "gpt-4o-mini");
    assert_eq!(c.base_url(), DEFAULT_BASE_URL);
    assert_eq!(c.name(), "openai");
    let caps = c.capabilities();
    assert!(caps.tool_calling() && caps.streaming() && caps.json_schema() && caps.embeddings());
    assert!(caps.streamed_auto_tool_calls() && caps.json_mode() && caps.usage_in_streams());
}

#[test]
fn openai_without_key_is_missing() {
    let err = OpenAiClient::builder().build().unwrap_err();
    match err {
        ConfigError::Missing { name, hint } => {
            assert_eq!(name, "OPENAI_API_KEY");
            assert!(hint.contains("api_key"), "{hint}");
        }
        other => panic!("expected Missing, got {other:?}"),
    }
    let blank = OpenAiClient::builder().with_api_key("  ").build();
    assert!(matches!(blank, Err(ConfigError::Missing { .. })));
}

#[test]
fn local_server_needs_no_key() {
    let c = OpenAiClient::builder()
        .with_base_url("http://127.0.0.1:8080/v1/")
        .with_model("smollm2")
        .build()
        .unwrap();
    assert_eq!(c.base_url(), "http://127.0.0.1:8080/v1");
    assert_eq!(c.model(), "smollm2");
}

#[test]
fn invalid_settings_are_named() {
    let local = || OpenAiClient::builder().with_base_url("http://127.0.0.1:1/v1");
    let cases = [
        (
            OpenAiClient::builder().with_base_url("not a url"),
            "base_url",
        ),
        (
            OpenAiClient::builder().with_base_url("ftp://host/v1"),
            "base_url",
        ),
        (local().with_model(""), "model"),
        (local().with_embedding_model(" "), "embedding_model"),
        (local().with_embedding_batch_size(0), "embedding_batch_size"),
        (
            local().with_request_timeout(Duration::ZERO),
            "request_timeout",
        ),
        (
            local().with_connect_timeout(Duration::ZERO),
            "connect_timeout",
        ),
        (local().add_header("bad header", "v"), "bad header"),
        (local().add_header("x-ok", "line\nbreak"), "x-ok"),
        (local().with_api_key("sk-bad\nkey"), "api_key"),
    ];
    for (builder, expected) in cases {
        match builder.build() {
            Err(ConfigError::Invalid { name, reason, .. }) => {
                assert_eq!(name, expected);
                assert!(!reason.contains("sk-bad"), "{reason}");
            }
            other => panic!("{expected}: expected Invalid, got {other:?}"),
        }
    }
}

#[test]
fn capabilities_can_be_overridden() {
    let caps = Capabilities::default()
        .with_streaming(false)
        .with_max_context_tokens(4096);
    let c = OpenAiClient::builder()
        .with_base_url("http://127.0.0.1:1/v1")
        .with_capabilities(caps)
        .build()
        .unwrap();
    assert_eq!(c.capabilities(), caps);
}

fn ok_reply() -> wiremock::ResponseTemplate {
    json_reply(completion(
        json!({"role": "assistant", "content": "hi"}),
        json!("stop"),
    ))
}

#[tokio::test]
async fn headers_are_sent() {
    let server = MockServer::start().await;
    mock_chat(&server, ok_reply()).await;
    let c = OpenAiClient::builder()
        .with_base_url(format!("{}/v1", server.uri()))
        .with_api_key(KEY)
        .with_organization("org-1")
        .with_project("proj-1")
        .add_header("x-proxy-token", "tok")
        .build()
        .unwrap();
    c.complete(ChatRequest::new(vec![Message::user("hi")]))
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    let h = &requests[0].headers;
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(get("authorization"), Some(format!("Bearer {KEY}")));
    assert_eq!(get("openai-organization").as_deref(), Some("org-1"));
    assert_eq!(get("openai-project").as_deref(), Some("proj-1"));
    assert_eq!(get("x-proxy-token").as_deref(), Some("tok"));
    assert_eq!(get("content-type").as_deref(), Some("application/json"));
}

#[tokio::test]
async fn no_key_sends_no_authorization() {
    let server = MockServer::start().await;
    mock_chat(&server, ok_reply()).await;
    let c = OpenAiClient::builder()
        .with_base_url(format!("{}/v1", server.uri()))
        .build()
        .unwrap();
    c.complete(ChatRequest::new(vec![Message::user("hi")]))
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    assert!(requests[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn model_comes_from_request_else_client() {
    let server = MockServer::start().await;
    mock_chat(&server, ok_reply()).await;
    let c = client(&server.uri());
    c.complete(ChatRequest::new(vec![Message::user("a")]))
        .await
        .unwrap();
    assert_eq!(
        crate::support::last_body(&server).await["model"],
        "test-model"
    );
    c.complete(ChatRequest::new(vec![Message::user("a")]).with_model("other"))
        .await
        .unwrap();
    assert_eq!(crate::support::last_body(&server).await["model"], "other");
}

#[test]
fn the_base_url_shown_holds_no_credentials() {
    let c = OpenAiClient::builder()
        .with_base_url("http://user:sk-in-url-123@127.0.0.1:9/v1?api-key=sk-in-query-456")
        .build()
        .unwrap();
    assert_eq!(c.base_url(), "http://127.0.0.1:9/v1");
}

#[test]
fn zero_embedding_dimensions_are_refused_naming_them() {
    let built = OpenAiClient::builder()
        .with_base_url("http://127.0.0.1:1/v1")
        .with_embedding_dimensions(0)
        .build();
    assert!(
        matches!(&built, Err(ConfigError::Invalid { name, .. }) if name == "embedding_dimensions"),
        "{:?}",
        built.err()
    );
}
