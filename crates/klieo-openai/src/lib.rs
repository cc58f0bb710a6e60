//! An OpenAI-compatible provider for klieo: chat completions, blocking and
//! streamed, and embeddings, over one pooled `reqwest` client with rustls.
//!
//! Applications that talk to OpenAI, or to a server speaking its API on
//! their own machine (llama.cpp and llama-cpp-python's servers, vLLM,
//! Ollama's `/v1`), depend on this crate, usually through the `klieo`
//! facade's `openai` feature. It depends on `klieo-types` (the
//! [`LlmClient`](klieo_types::LlmClient) trait it implements) and on
//! `klieo-provider` for what every HTTP provider needs (SSE decoding, bounded
//! reads, status mapping, redaction); nothing of the runtime.
//!
//! # Brief overview
//!
//! - [`OpenAiClient`] implements [`LlmClient`](klieo_types::LlmClient):
//!   `complete` (`POST /chat/completions`), `stream` (the same with
//!   `stream: true` and usage asked for), and `embed` (`POST /embeddings`
//!   in batches).
//! - [`OpenAiClientBuilder`] sets it up: API key, base URL, model,
//!   organization and project, extra headers, timeouts, embedding model,
//!   batch size and dimensions, capabilities. Its defaults are listed there.
//! - Failures are [`LlmError`](klieo_types::LlmError)s: 401/403
//!   `Unauthorized`; 402 `QuotaExhausted`; 429 `RateLimit` (or
//!   `QuotaExhausted` for `insufficient_quota`); a redirect (3xx, not
//!   followed), 400/404/422 and the other 4xx `BadRequest` with the
//!   server's message; 408/409/5xx `Server`. Each but `QuotaExhausted`
//!   carries the server's [`RetryHint`](klieo_types::RetryHint): the delay of `retry-after-ms` or
//!   `retry-after` (seconds or an HTTP date), and `x-should-retry`, which
//!   decides `retryable()` while the kind and status stay true. A
//!   connection that cannot be made is `Network`; one that breaks before
//!   the reply is complete is `Interrupted`, with the bytes and events that
//!   came; a passed limit is `Timeout` naming it (connect, first byte,
//!   idle, whole call); a reply that cannot be read, is not UTF-8, or is
//!   not an event stream when one was asked for is `Decoding`, with an
//!   excerpt of at most 200 characters. A whole reply longer than 16 MiB is
//!   `ReplyTooLarge`, with the limit and an excerpt; a streamed line or
//!   event longer than that is `LineTooLong` or `EventTooLong`.
//!   docs/FAULTS.md has the whole table.
//! - The API key never appears in `Debug` output, logs or errors; a server
//!   message that echoes it has it replaced by `***` (before the message is
//!   cut to length). URLs shown there lose their user name, password and
//!   query. Logs are `tracing::debug!` lines with sizes and timings, never
//!   message text.
//!
//! # Environment
//!
//! [`OpenAiClient::from_env`] (and [`OpenAiClientBuilder::from_env`]) read:
//!
//! | Variable                 | Sets                          | Default                     |
//! |--------------------------|-------------------------------|-----------------------------|
//! | `OPENAI_API_KEY`         | the API key                   | none (required for OpenAI)  |
//! | `OPENAI_BASE_URL`        | the base URL                  | `https://api.openai.com/v1` |
//! | `OPENAI_MODEL`           | the chat model                | `gpt-4o-mini`               |
//! | `OPENAI_EMBEDDING_MODEL` | the embedding model           | `text-embedding-3-small`    |
//! | `OPENAI_ORG_ID`          | the `OpenAI-Organization` header | none                     |
//! | `OPENAI_PROJECT_ID`      | the `OpenAI-Project` header   | none                        |
//!
//! A base URL without `http://` or `https://` is refused naming the value
//! and the variable; a bare 404 from the server asks whether the base URL
//! ends in `/v1`; a 401 when no key was set says that none was sent.
//!
//! Empty variables count as unset. Without a key, building a client for
//! OpenAI's own URL fails with
//! [`ConfigError::Missing`](klieo_types::ConfigError::Missing); any other
//! base URL (a local server) needs none.
//!
//! # Servers that differ from OpenAI
//!
//! - Assistant messages with tool calls are sent with `"content": ""`
//!   (llama-cpp-python rejects `null` and an absent `content`).
//! - Tool-call arguments come in as raw text, valid JSON or not, so the
//!   runtime can tell the model what is wrong with them; they go back in
//!   later requests as written when they are a JSON object, else as `{}`
//!   (llama-server and vLLM refuse a request holding arguments they cannot
//!   parse).
//! - Streamed tool calls are assembled by `index`, whether the server sends
//!   `id` and `name` once (OpenAI) or in every fragment (llama.cpp), and are
//!   emitted whole on the chunk that carries the finish reason. A legacy
//!   `function_call` beside `tool_calls` is ignored; a reply with only a
//!   `function_call` becomes one tool call with id `call_0`.
//! - The finish reason `stop` (or an unknown or missing one) on a reply
//!   with tool calls is reported as `ToolCalls`; an unknown or missing one
//!   without tool calls as `Stop`.
//! - A stream may end without `[DONE]` once a finish reason came. A stream
//!   that ends before any finish reason, with `[DONE]` or without, is an
//!   `Err` item, never an empty success (llama-cpp-python under concurrent
//!   requests sometimes sends a role chunk and `[DONE]` only; the error is
//!   retryable, so the runtime tries again). An event stream with no event
//!   at all is, for a request whose tools the model may choose,
//!   llama-cpp-python's answer to streaming with `tool_choice: "auto"`: it
//!   is `Unsupported`, and the client then declares
//!   `streamed_auto_tool_calls: false`, so klieo's runtime makes such calls
//!   blocking; for any other request it is a retryable `Server` error.
//!   Tools sent without a `tool_choice` go with `"auto"` said out loud
//!   (llama-cpp-python answers in text otherwise). Once the finish
//!   reason came, the reply is complete: a later error event, undecodable
//!   event or broken connection ends it normally. Tool calls holding more
//!   than 4 MiB (see `klieo_provider::tool_calls::TOOL_CALLS_LIMIT`) fail
//!   the stream with `ToolCallsTooLarge`.
//! - The reply's bound (`ChatRequest::max_tokens`) goes to OpenAI's own API
//!   and Azure OpenAI's (`*.openai.azure.com`) as `max_completion_tokens`
//!   (their reasoning models refuse `max_tokens`) and to any other server
//!   as `max_tokens`.
//! - Embeddings sent as one vector per token (llama-cpp-python) are
//!   mean-pooled into one vector per input.
//!
//! # Example
//!
//! ```
//! use klieo_openai::OpenAiClient;
//! use klieo_provider::builder::ClientBuilder;
//! use klieo_types::{ChatRequest, LlmClient, Message, ToolChoice, ToolDef};
//! use serde_json::json;
//!
//! // A llama.cpp-style server on this machine: no API key needed.
//! let client = OpenAiClient::builder()
//!     .with_base_url("http://127.0.0.1:8080/v1")
//!     .with_model("smollm2")
//!     .build()?;
//! assert_eq!(client.model(), "smollm2");
//!
//! let calculator = ToolDef::new(
//!     "calculator",
//!     "Evaluates an arithmetic expression.",
//!     json!({"type": "object", "properties": {"expression": {"type": "string"}}}),
//! );
//! let req = ChatRequest::new(vec![
//!     Message::system("Use the calculator for arithmetic."),
//!     Message::user("Compute 17*23."),
//! ])
//! .with_temperature(0.0)
//! .with_tools(vec![calculator])
//! .with_tool_choice(ToolChoice::Function("calculator".into()));
//! # let _ = &req;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Sending it needs the server running:
//!
//! ```no_run
//! # use klieo_openai::OpenAiClient;
//! # use klieo_provider::builder::ClientBuilder;
//! # use klieo_types::{ChatRequest, LlmClient, Message};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! # let client = OpenAiClient::builder().with_base_url("http://127.0.0.1:8080/v1").build()?;
//! # let req = ChatRequest::new(vec![Message::user("Compute 17*23.")]);
//! let reply = client.complete(req).await?;
//! for call in &reply.message.tool_calls {
//!     println!("{} wants {}", call.name, call.arguments());
//! }
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod assemble;
mod calls;
mod chunk;
mod client;
mod config;
mod discover;
mod embed;
mod error;
mod http;
mod request;
mod response;
mod stream;

pub use client::OpenAiClient;
pub use config::{
    default_capabilities, OpenAiClientBuilder, DEFAULT_BASE_URL, DEFAULT_EMBEDDING_BATCH_SIZE,
    DEFAULT_EMBEDDING_MODEL, DEFAULT_MODEL,
};

#[cfg(test)]
mod send_sync {
    //! Compile-time checks: the client is shared across tasks.
    use super::*;

    #[allow(dead_code)]
    fn client_is_send_sync_and_dyn(c: OpenAiClient) -> std::sync::Arc<dyn klieo_types::LlmClient> {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<OpenAiClient>();
        check::<OpenAiClientBuilder>();
        std::sync::Arc::new(c)
    }
}
