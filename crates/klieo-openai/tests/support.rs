//! Helpers: clients for a test server, a stream reader, and a raw TCP
//! HTTP/1.1 server for what wiremock cannot do (split writes, cuts, stalls,
//! connection counts).

use klieo_openai::OpenAiClient;
use klieo_types::{ChatChunk, ChunkStream, LlmError};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The API key of test clients; it must never show up anywhere.
pub(crate) const KEY: &str = "sk-test-SECRET-0123456789abcdef";

/// A client of `{uri}/v1` with [`KEY`] and model `test-model`.
pub(crate) fn client(uri: &str) -> OpenAiClient {
    OpenAiClient::builder()
        .base_url(format!("{uri}/v1"))
        .api_key(KEY)
        .model("test-model")
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

/// What the raw server does for one request.
#[derive(Clone, Debug)]
pub(crate) enum Act {
    /// Write these bytes (flushed).
    Write(Vec<u8>),
    /// Wait this long.
    Pause(Duration),
    /// Close the connection now.
    Close,
}

/// A raw HTTP/1.1 server on a loopback port.
pub(crate) struct RawServer {
    pub(crate) addr: SocketAddr,
    /// Connections accepted so far.
    pub(crate) accepted: Arc<AtomicUsize>,
    /// Requests read so far.
    pub(crate) requests: Arc<AtomicUsize>,
}

impl RawServer {
    pub(crate) fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Serves every request with `script`; the connection stays open for the
/// next request unless the script closes it.
pub(crate) async fn raw_server(script: Vec<Act>) -> RawServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let script = Arc::new(script);
    let (acc, reqs) = (accepted.clone(), requests.clone());
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            acc.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(sock, script.clone(), reqs.clone()));
        }
    });
    RawServer {
        addr,
        accepted,
        requests,
    }
}

async fn serve(mut sock: TcpStream, script: Arc<Vec<Act>>, requests: Arc<AtomicUsize>) {
    let _ = sock.set_nodelay(true);
    let mut buf = Vec::new();
    loop {
        // One request: headers, then content-length bytes.
        let header_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            if !read_more(&mut sock, &mut buf).await {
                return;
            }
        };
        let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap_or(0));
        while buf.len() < header_end + len {
            if !read_more(&mut sock, &mut buf).await {
                return;
            }
        }
        buf.drain(..header_end + len);
        requests.fetch_add(1, Ordering::SeqCst);
        for act in script.iter() {
            match act {
                Act::Write(bytes) => {
                    if sock.write_all(bytes).await.is_err() || sock.flush().await.is_err() {
                        return;
                    }
                }
                Act::Pause(d) => tokio::time::sleep(*d).await,
                Act::Close => return,
            }
        }
    }
}

async fn read_more(sock: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut tmp = [0u8; 4096];
    match sock.read(&mut tmp).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&tmp[..n]);
            true
        }
    }
}

/// A complete response with a `content-length` body.
pub(crate) fn full_response(content_type: &str, body: &[u8]) -> Act {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    Act::Write(out)
}

/// The head of a chunked SSE response.
pub(crate) fn sse_head() -> Act {
    Act::Write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec(),
    )
}

/// `bytes` as one chunk of a chunked body.
pub(crate) fn chunk(bytes: &[u8]) -> Act {
    let mut out = format!("{:x}\r\n", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
    Act::Write(out)
}

/// The end of a chunked body.
pub(crate) fn last_chunk() -> Act {
    Act::Write(b"0\r\n\r\n".to_vec())
}

/// A chunked SSE response of `body` cut into pieces of `size` bytes, each
/// its own chunk (so the client reads them separately).
pub(crate) fn sse_in_pieces(body: &[u8], size: usize) -> Vec<Act> {
    let mut acts = vec![sse_head()];
    acts.extend(body.chunks(size).map(chunk));
    acts.push(last_chunk());
    acts
}

/// A Chat Completions stream event carrying `delta` (JSON) and a finish
/// reason (JSON: `null` or a string).
pub(crate) fn event(delta: &str, finish: &str) -> String {
    format!(
        "data: {{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
    )
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
