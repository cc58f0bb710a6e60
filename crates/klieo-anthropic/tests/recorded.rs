//! Replies recorded from llama.cpp's `llama-server` (see
//! `tests/fixtures/llama_server/README.md`), played back: the request klieo
//! sends is the one that was recorded, and the replies read as the server
//! meant them.

use klieo_anthropic::AnthropicClient;
use klieo_provider::builder::ClientBuilder;
use klieo_types::testing::collect;
use klieo_types::{ChatRequest, FinishReason, LlmClient, Message, Usage};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TEXT: &str = "Ada is a young and ambitious AI assistant, always ready";

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/llama_server/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).expect("the fixture is there")
}

fn request() -> ChatRequest {
    let mut req = ChatRequest::new(vec![
        Message::system("Answer in one short sentence."),
        Message::user("Say hello to Ada."),
    ]);
    req.max_tokens = Some(12);
    req.temperature = Some(0.0);
    req
}

async fn server(body: String, content_type: &str) -> (MockServer, AnthropicClient) {
    caching_server(body, content_type, false).await
}

/// A mock server replying `body`, and a client of it, with prompt caching
/// on or off (the first fixtures were recorded before the client cached).
async fn caching_server(
    body: String,
    content_type: &str,
    caching: bool,
) -> (MockServer, AnthropicClient) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, content_type))
        .mount(&server)
        .await;
    let client = AnthropicClient::builder()
        .with_base_url(server.uri())
        .with_model("smollm2")
        .with_prompt_caching(caching)
        .build()
        .expect("a client");
    (server, client)
}

/// The request body sent, and the recorded one, with their temperatures
/// compared as numbers (`0` and `0.0` are one value).
async fn same_request(server: &MockServer, recorded: &str) {
    let sent = &server.received_requests().await.expect("recorded")[0];
    let mut sent: Value = sent.body_json().expect("JSON");
    let mut recorded: Value = serde_json::from_str(recorded).expect("JSON");
    let temperature = |v: &mut Value| v.as_object_mut().and_then(|o| o.remove("temperature"));
    let (a, b) = (temperature(&mut sent), temperature(&mut recorded));
    assert_eq!(a.and_then(|t| t.as_f64()), b.and_then(|t| t.as_f64()));
    assert_eq!(sent, recorded);
}

/// The model llama-server said answered (its file name).
const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

#[tokio::test]
async fn a_recorded_blocking_reply() {
    let (server, client) = server(fixture("text.reply.json"), "application/json").await;
    let reply = client.complete(request()).await.expect("a reply");
    assert_eq!(reply.message.content, TEXT);
    assert_eq!(
        reply.finish_reason,
        FinishReason::Length,
        "stop_reason max_tokens"
    );
    assert_eq!(reply.usage, Some(Usage::new(25, 12).with_cache(3, 0)));
    assert_eq!(
        reply.info.as_deref().and_then(|i| i.id.as_deref()),
        Some("chatcmpl-0PC1Acx2QfQA7z8RMy37vKOGPR8faION")
    );
    assert_eq!(
        reply.info.as_deref().and_then(|i| i.model.as_deref()),
        Some(MODEL_FILE)
    );
    same_request(&server, &fixture("text.request.json")).await;
}

#[tokio::test]
async fn a_recorded_stream() {
    let (server, client) = server(fixture("text.stream.sse"), "text/event-stream").await;
    let mut stream = client.stream(request()).await.expect("opens");
    let chunks: Vec<_> = collect(&mut stream)
        .await
        .into_iter()
        .map(|c| c.expect("no error"))
        .collect();
    let text: String = chunks.iter().map(|c| c.delta.as_str()).collect();
    assert_eq!(text, TEXT);
    assert!(chunks.len() > 5, "in pieces");
    let last = chunks.last().expect("a last chunk");
    assert_eq!(last.finish_reason, Some(FinishReason::Length));
    assert_eq!(last.usage.map(|u| u.output_tokens), Some(12));
    let info = last.info.as_deref().expect("the reply's id and model");
    assert_eq!(
        info.id.as_deref(),
        Some("chatcmpl-A79e51erkyaBOfIgE3zgs9dCVIxWnb91")
    );
    assert_eq!(
        info.model.as_deref(),
        Some(MODEL_FILE),
        "from message_start"
    );
    same_request(&server, &fixture("text.stream.request.json")).await;
}

/// Prompt caching on (the default): llama-server takes the breakpoints,
/// and reports what it read from its own prompt cache, a request like
/// this one having come before.
#[tokio::test]
async fn a_recorded_reply_to_a_request_with_cache_breakpoints() {
    let (server, client) =
        caching_server(fixture("cached.reply.json"), "application/json", true).await;
    let reply = client.complete(request()).await.expect("a reply");
    assert_eq!(reply.message.content, TEXT);
    assert_eq!(
        reply.usage,
        Some(Usage::new(25, 12).with_cache(24, 0)),
        "24 of the 25 input tokens read from the cache"
    );
    same_request(&server, &fixture("cached.request.json")).await;
}
