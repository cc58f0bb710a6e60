//! Helpers: clients for a test server, a stream reader, and (from
//! klieo-provider's `testing`) the raw TCP HTTP/1.1 server for what
//! wiremock cannot do (split writes, cuts, stalls, connection counts).

use klieo_openai::OpenAiClient;
use klieo_provider::builder::ClientBuilder;
use klieo_types::{ChatChunk, ChunkStream, LlmError};

/// The API key of test clients; it must never show up anywhere.
pub(crate) const KEY: &str = "sk-test-SECRET-0123456789abcdef";

/// A client of `{uri}/v1` with [`KEY`] and model `test-model`.
pub(crate) fn client(uri: &str) -> OpenAiClient {
    OpenAiClient::builder()
        .with_base_url(format!("{uri}/v1"))
        .with_api_key(KEY)
        .with_model("test-model")
        .build()
        .unwrap()
}

/// Every item of a stream, in order.
pub(crate) async fn collect(mut s: ChunkStream) -> Vec<Result<ChatChunk, LlmError>> {
    klieo_types::testing::collect(&mut s).await
}

/// The chunks of a stream that must succeed.
pub(crate) async fn chunks(s: ChunkStream) -> Vec<ChatChunk> {
    collect(s).await.into_iter().map(|c| c.unwrap()).collect()
}

/// All the text deltas of some chunks, joined.
pub(crate) fn text(chunks: &[ChatChunk]) -> String {
    chunks.iter().map(|c| c.delta.as_str()).collect()
}

pub(crate) use klieo_provider::testing::{
    chunk, full_response, last_chunk, sse_head, sse_in_pieces, Act, RawServer,
};

/// Serves every request with `script` on a loopback port.
pub(crate) async fn raw_server(script: Vec<Act>) -> RawServer {
    RawServer::start(script).await
}

/// A Chat Completions stream event carrying `delta` (JSON) and a finish
/// reason (JSON: `null` or a string).
pub(crate) fn event(delta: &str, finish: &str) -> String {
    format!(
        "data: {{\"id\":\"x\",\"model\":\"m\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
    )
}

/// What the last chunk of a stream of [`event`]s says of the reply.
pub(crate) fn info() -> klieo_types::ReplyInfo {
    klieo_types::ReplyInfo::new(Some("x".into()), Some("m".into()))
}

/// Answers every `POST /v1/chat/completions` with `reply`.
pub(crate) async fn mock_chat(server: &wiremock::MockServer, reply: wiremock::ResponseTemplate) {
    use wiremock::matchers::{method, path};
    wiremock::Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(reply)
        .mount(server)
        .await;
}

/// A 200 reply with this JSON body.
pub(crate) fn json_reply(body: serde_json::Value) -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(200).set_body_json(body)
}

/// A 200 `text/event-stream` reply with this body.
pub(crate) fn sse_reply(body: impl Into<Vec<u8>>) -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(200).set_body_raw(body.into(), "text/event-stream")
}

/// The JSON body of the last request the server received.
pub(crate) async fn last_body(server: &wiremock::MockServer) -> serde_json::Value {
    let requests = server.received_requests().await.unwrap();
    requests.last().unwrap().body_json().unwrap()
}

/// A minimal Chat Completions reply with this message (JSON) and finish
/// reason (JSON).
pub(crate) fn completion(
    message: serde_json::Value,
    finish: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "test-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}]
    })
}
