//! What klieo-anthropic sends and how it reads Anthropic's own examples:
//! headers, the request body, a tool-use reply and stream as the API
//! documentation shows them, and the request id of an error.

use crate::conformance::event;
use klieo_anthropic::AnthropicClient;
use klieo_provider::builder::ClientBuilder;
use klieo_types::testing::collect;
use klieo_types::{ChatRequest, FinishReason, LlmClient, LlmError, Message, ToolDef, Usage};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-ant-wire-SECRET-42";

fn client(server: &MockServer) -> AnthropicClient {
    AnthropicClient::builder()
        .with_base_url(server.uri())
        .with_api_key(KEY)
        .with_model("claude-test")
        .build()
        .expect("a client")
}

fn weather_request() -> ChatRequest {
    let mut req = ChatRequest::new(vec![
        Message::system("You know the weather."),
        Message::user("What is the weather like in San Francisco?"),
    ]);
    let schema = json!({"type": "object", "properties": {"location": {"type": "string"}},
        "required": ["location"]});
    req.tools = vec![ToolDef::new(
        "get_weather",
        "Get the current weather",
        schema,
    )]
    .into();
    req
}

#[tokio::test]
async fn the_key_version_and_body_go_as_the_api_wants() {
    let server = MockServer::start().await;
    // Anthropic's documented tool-use reply.
    let reply = json!({
        "id": "msg_01Aq9w938a90dw8q", "type": "message", "role": "assistant",
        "model": "claude-test", "stop_reason": "tool_use",
        "content": [
            {"type": "text", "text": "I'll check the current weather in San Francisco for you."},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
             "input": {"location": "San Francisco, CA"}}
        ],
        "usage": {"input_tokens": 472, "output_tokens": 91,
                  "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0}
    });
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", KEY))
        .and(header("anthropic-version", "2023-06-01"))
        .respond_with(ResponseTemplate::new(200).set_body_json(reply))
        .mount(&server)
        .await;
    let got = client(&server)
        .complete(weather_request())
        .await
        .expect("a reply");
    assert_eq!(got.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        got.message.content,
        "I'll check the current weather in San Francisco for you."
    );
    let call = &got.message.tool_calls[0];
    assert_eq!(
        (call.id.as_ref(), call.name.as_ref()),
        ("toolu_01A09q90qw90lq917835lq9", "get_weather")
    );
    assert_eq!(
        call.parse_arguments().ok(),
        Some(json!({"location": "San Francisco, CA"}))
    );
    assert_eq!(got.usage, Some(Usage::new(572, 91).with_cache(100, 0)));

    let sent = &server.received_requests().await.expect("recorded")[0];
    let body: serde_json::Value = sent.body_json().expect("JSON");
    // Prompt caching, on by default: the system prompt as one block,
    // marked, and the last tool marked.
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "You know the weather.", "cache_control": {"type": "ephemeral"}}])
    );
    assert_eq!(
        body["tools"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
    assert_eq!(body["max_tokens"], 4096, "the documented default");
    assert_eq!(
        body["tools"][0]["input_schema"]["required"],
        json!(["location"])
    );
    assert_eq!(body["tool_choice"], json!({"type": "auto"}));
    assert_eq!(body["messages"][0]["role"], "user");
}

#[tokio::test]
async fn a_documented_tool_use_stream_is_assembled() {
    let server = MockServer::start().await;
    // The stream of Anthropic's streaming documentation, tool use part.
    let mut body = event(
        "message_start",
        &json!({"type": "message_start", "message": {
        "id": "msg_014p7gG3wDgGV9EUtLvnow3U", "type": "message", "role": "assistant",
        "model": "claude-test", "stop_sequence": null, "stop_reason": null, "content": [],
        "usage": {"input_tokens": 472, "output_tokens": 2}}}),
    );
    body += &event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 0,
        "content_block": {"type": "text", "text": ""}}),
    );
    body += &event("ping", &json!({"type": "ping"}));
    body += &event(
        "content_block_delta",
        &json!({"type": "content_block_delta", "index": 0,
        "delta": {"type": "text_delta", "text": "Okay, let's check the weather"}}),
    );
    body += &event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    );
    body += &event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 1,
        "content_block": {"type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            "name": "get_weather", "input": {}}}),
    );
    for piece in [
        "",
        "{\"location\":",
        " \"San",
        " Francisc",
        "o,",
        " CA\"",
        "}",
    ] {
        body += &event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": piece}}),
        );
    }
    body += &event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 1}),
    );
    body += &event(
        "message_delta",
        &json!({"type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": null},
        "usage": {"output_tokens": 89}}),
    );
    body += &event("message_stop", &json!({"type": "message_stop"}));
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"))
        .mount(&server)
        .await;
    let mut stream = client(&server)
        .stream(weather_request())
        .await
        .expect("opens");
    let items = collect(&mut stream).await;
    let chunks: Vec<_> = items.into_iter().map(|i| i.expect("no error")).collect();
    let text: String = chunks.iter().map(|c| c.delta.as_str()).collect();
    assert_eq!(text, "Okay, let's check the weather");
    let last = chunks.last().expect("a last chunk");
    assert_eq!(last.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(last.usage, Some(Usage::new(472, 89)));
    assert_eq!(last.tool_calls.len(), 1);
    assert_eq!(
        last.tool_calls[0].parse_arguments().ok(),
        Some(json!({"location": "San Francisco, CA"}))
    );
    let sent = &server.received_requests().await.expect("recorded")[0];
    let body: serde_json::Value = sent.body_json().expect("JSON");
    assert_eq!(body["stream"], true);
}

#[tokio::test]
async fn an_error_keeps_the_request_id_and_hides_the_key() {
    let server = MockServer::start().await;
    let error = json!({"type": "error", "error": {"type": "overloaded_error",
        "message": format!("Overloaded (key {KEY})")}});
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(529)
                .insert_header("request-id", "req_011CSHoEeqs5C35K2UUqR7Fy")
                .insert_header("retry-after", "3")
                .set_body_json(error),
        )
        .mount(&server)
        .await;
    let e = client(&server)
        .complete(weather_request())
        .await
        .expect_err("overloaded");
    assert!(
        matches!(
            e,
            LlmError::Server {
                status: Some(529),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.retryable());
    assert_eq!(
        e.hint().and_then(|h| h.retry_after),
        Some(std::time::Duration::from_secs(3))
    );
    let shown = e.to_string();
    assert!(shown.contains("req_011CSHoEeqs5C35K2UUqR7Fy"), "{shown}");
    assert!(
        !shown.contains(KEY) && !format!("{e:?}").contains(KEY),
        "{shown}"
    );
}

#[test]
fn a_missing_key_for_anthropic_itself_is_a_config_error() {
    let e = AnthropicClient::builder().build().expect_err("no key");
    assert!(e.to_string().contains("ANTHROPIC_API_KEY"), "{e}");
    let local = AnthropicClient::builder()
        .with_base_url("http://127.0.0.1:8080")
        .build();
    assert!(local.is_ok(), "a local server needs no key");
    let e = AnthropicClient::builder()
        .with_base_url("localhost:8080")
        .build()
        .expect_err("no scheme");
    assert!(e.to_string().contains("add http:// or https://"), "{e}");
}

#[test]
fn an_empty_api_version_is_refused_naming_it() {
    let e = AnthropicClient::builder()
        .with_base_url("http://127.0.0.1:8080")
        .with_api_version(" ")
        .build()
        .expect_err("no version");
    assert!(
        matches!(&e, klieo_types::ConfigError::Invalid { name, .. } if name == "api_version"),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed_with_the_key() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    let to = format!("{}/v1/messages", elsewhere.uri());
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(308).insert_header("location", to.as_str()))
        .mount(&server)
        .await;
    let e = client(&server)
        .complete(weather_request())
        .await
        .unwrap_err();
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "the redirect was followed, with the key in `x-api-key`"
    );
    assert!(
        matches!(
            e,
            LlmError::BadRequest {
                status: Some(308),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains(&to), "{e}");
}

#[tokio::test]
async fn a_query_in_the_base_url_goes_with_each_request() {
    let server = MockServer::start().await;
    let reply = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
        "stop_reason": "end_turn", "content": [{"type": "text", "text": "hi"}],
        "usage": {"input_tokens": 1, "output_tokens": 1}
    });
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(wiremock::matchers::query_param("tenant", "t1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(reply))
        .mount(&server)
        .await;
    let client = AnthropicClient::builder()
        .with_base_url(format!("{}?tenant=t1", server.uri()))
        .with_api_key(KEY)
        .with_model("claude-test")
        .build()
        .expect("a client");
    let reply = client
        .complete(ChatRequest::new(vec![Message::user("hi")]))
        .await
        .expect("the reply");
    assert_eq!(reply.message.content, "hi");
}

#[tokio::test]
async fn a_query_value_or_a_header_echoed_by_the_server_is_scrubbed() {
    let server = MockServer::start().await;
    let echo = "unknown tenant t3nant-s1g for token pr0xy-t0ken";
    let body = json!({"type": "error", "error": {"type": "not_found_error", "message": echo}});
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(404).set_body_json(body))
        .mount(&server)
        .await;
    let client = AnthropicClient::builder()
        .with_base_url(format!("{}?sig=t3nant-s1g", server.uri()))
        .add_header("x-proxy-token", "pr0xy-t0ken")
        .with_model("claude-test")
        .build()
        .expect("a client");
    let e = client
        .complete(ChatRequest::new(vec![Message::user("hi")]))
        .await
        .unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(shown.contains("unknown tenant"), "{shown}");
    assert!(
        !shown.contains("t3nant-s1g") && !shown.contains("pr0xy-t0ken"),
        "{shown}"
    );
}

#[tokio::test]
async fn an_error_object_with_a_2xx_status_is_told_with_the_replys_request_id() {
    let server = MockServer::start().await;
    let body = json!({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}});
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("request-id", "req_from_header_1")
                .set_body_json(body),
        )
        .mount(&server)
        .await;
    let req = ChatRequest::new(vec![Message::user("hi")]);
    let blocking = client(&server).complete(req.clone()).await.unwrap_err();
    let streamed = match client(&server).stream(req).await {
        Ok(mut stream) => collect(&mut stream).await.pop().unwrap().unwrap_err(),
        Err(e) => e,
    };
    for e in [blocking, streamed] {
        assert!(e.retryable(), "{e:?}");
        assert!(e.to_string().contains("req_from_header_1"), "{e}");
    }
}
