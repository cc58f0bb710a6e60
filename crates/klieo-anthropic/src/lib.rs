//! Anthropic's Messages API for klieo: chat, blocking and streamed, with
//! tools, against Anthropic itself or a server that speaks the API
//! (llama.cpp's `llama-server` serves `/v1/messages`).
//!
//! Depends on `klieo-types` (the [`LlmClient`](klieo_types::LlmClient)
//! trait it implements) and `klieo-provider` (the HTTP plumbing every
//! provider shares); nothing of the runtime. Most users reach it through
//! the `klieo` facade's `anthropic` feature.
//!
//! ```
//! use klieo_anthropic::AnthropicClient;
//! use klieo_provider::builder::ClientBuilder;
//!
//! // A local llama-server needs no key.
//! let client = AnthropicClient::builder()
//!     .with_base_url("http://127.0.0.1:8080")
//!     .with_model("smollm2")
//!     .build()?;
//! assert_eq!(client.base_url(), "http://127.0.0.1:8080");
//! # Ok::<(), klieo_types::ConfigError>(())
//! ```
//!
//! # Environment
//!
//! [`AnthropicClient::from_env`] (and [`AnthropicClientBuilder::from_env`])
//! read:
//!
//! | Variable             | Sets         | Default                     |
//! |----------------------|--------------|-----------------------------|
//! | `ANTHROPIC_API_KEY`  | the API key (`x-api-key`) | none (required for Anthropic) |
//! | `ANTHROPIC_BASE_URL` | the base URL, without `/v1` | `https://api.anthropic.com` |
//! | `ANTHROPIC_MODEL`    | the model    | `claude-sonnet-4-5`         |
//!
//! # The wire, both ways
//!
//! - Requests: system messages join `system`; user text, assistant text
//!   and `tool_use` blocks, tool results as `tool_result` blocks in a user
//!   turn; consecutive messages of one role share a turn. Tools go with
//!   their parameters as `input_schema`; `tool_choice` auto, any
//!   (`Required`), tool (`Function`) and none. `max_tokens` is required by
//!   the API: a request's own, else the builder's (default 4096).
//!   Temperature and stop sequences pass through. Headers `x-api-key` and
//!   `anthropic-version` (default `2023-06-01`). Prompt caching, on by
//!   default: `cache_control` breakpoints on the last tool, the system
//!   prompt (then one text block) and the last content block
//!   (`AnthropicClientBuilder::with_prompt_caching`).
//! - Replies: text and `tool_use` blocks (other kinds, such as thinking,
//!   are skipped); usage with the cache reads and writes
//!   (`input_tokens` is the whole prompt, of which
//!   `cached_input_tokens` were read from the cache and
//!   `cache_creation_tokens` written to it).
//! - `stop_reason`: `end_turn` and `stop_sequence` → `Stop`, `max_tokens`
//!   and `model_context_window_exceeded` → `Length`, `tool_use` →
//!   `ToolCalls`, `refusal` → `ContentFilter`, `pause_turn` (only with
//!   Anthropic's server tools, which klieo does not send) → `Error`, which
//!   ends the run with a server error.
//! - A 2xx reply that is an `error` object is that error; one with neither
//!   content nor a stop reason is `Decoding`.
//! - Streaming: `message_start` (input usage), `content_block_start`
//!   (a tool's id and name), `content_block_delta` (`text_delta` forwarded
//!   at once; `input_json_delta` assembled), `message_delta` (stop reason,
//!   output usage), `message_stop` (the last chunk, with every tool call
//!   whole), `ping` and `content_block_stop` (nothing to do), `error`.
//! - Errors: 401 and 403 (`authentication_error`, `permission_error`) →
//!   `Unauthorized`; 402 and a `billing_error` → `QuotaExhausted`; a
//!   redirect (3xx, not followed), 400, 404, 413 and the other 4xx but 408
//!   and 409 → `BadRequest` with the message; 429 → `RateLimit`; 408, 409,
//!   500, 529 (`overloaded_error`) and other 5xx → `Server`, retryable;
//!   `retry-after` is honoured. An `error`
//!   event mid-stream is typed by its `type` the same way. An error the
//!   server told (a non-2xx reply, an `error` event) ends with the request
//!   id (the body's, else the reply's `request-id` header), for support.
//!   Event names a server escaped (`"end\u005fturn"`) are read as they
//!   mean.
//! - The API key is never in `Debug`, logs or errors; a server message
//!   that echoes it has it replaced by `***`.
#![deny(missing_docs)]

mod client;
mod config;
mod error;
mod request;
mod response;
mod stream;

pub use client::AnthropicClient;
pub use config::{
    AnthropicClientBuilder, DEFAULT_API_VERSION, DEFAULT_BASE_URL, DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL,
};
