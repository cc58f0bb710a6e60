//! [`OpenAiClient`]: one pooled HTTP client and the [`LlmClient`]
//! implementation over Chat Completions and embeddings.

use crate::config::{default_capabilities, is_openai, is_openai_or_azure, OpenAiClientBuilder};
use crate::discover::Learned;
use crate::error::from_response;
use crate::request::{ChatBody, Dialect};
use crate::response::parse_completion;
use crate::{discover, embed, http, stream};
use klieo_http::secret::{Hidden, Secret};
use klieo_http::url::shown_base_url;
use klieo_provider::body::{from_send, read_reply};
use klieo_provider::options::within;
use klieo_provider::status::REPLY_LIMIT;
use klieo_provider::streamed::StreamReading;
use klieo_types::{
    async_trait, Capabilities, ChatRequest, ChatResponse, ChunkStream, ConfigError, Embedding,
    LlmClient, LlmError, TimeLimit, ToolChoice,
};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::Url;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::debug;

/// A client of an OpenAI-compatible API: OpenAI itself, llama.cpp's and
/// llama-cpp-python's servers, vLLM, Ollama's `/v1`.
///
/// Build it with [`OpenAiClient::builder`] or [`OpenAiClient::from_env`].
/// It holds one pooled `reqwest` client (rustls with ring, trusting the
/// system's root certificates), reused by every call; cloning it is cheap
/// and shares the pool. An `https` base URL on a system with no root
/// certificates is a [`ConfigError`] at build time, saying what to install.
#[derive(Clone)]
pub struct OpenAiClient {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    http: reqwest::Client,
    base_url: String,
    chat_url: Url,
    pub(crate) embeddings_url: Url,
    model: String,
    pub(crate) embedding_model: String,
    pub(crate) embedding_batch_size: usize,
    pub(crate) embedding_dimensions: Option<u32>,
    /// The longest wait for a connection.
    connect_timeout: Duration,
    /// The longest wait for a streamed reply to start (status and headers).
    first_byte_timeout: Duration,
    /// The longest wait for the next line of a streamed reply.
    idle_timeout: Duration,
    /// The deadline of a whole blocking call.
    pub(crate) request_timeout: Duration,
    /// Bytes of a reply that is not an event stream read at most
    /// ([`REPLY_LIMIT`]; smaller in tests).
    pub(crate) reply_limit: usize,
    capabilities: Capabilities,
    /// Where the server says what it can do, unless the user declared it
    /// or the server is OpenAI's own.
    props_url: Option<Url>,
    /// What the server said, once asked (`None`: nothing readable).
    learned: tokio::sync::OnceCell<Option<Learned>>,
    /// `gen_ai.provider.name`.
    provider_name: String,
    /// Whether the server is OpenAI's own API or Azure OpenAI's (see
    /// `Dialect::openai`).
    openai: bool,
    /// Whether the server can stream tool calls the model chooses; cleared
    /// by the first empty stream it sends for such a request.
    auto_tool_streams: Arc<AtomicBool>,
    /// Whether a streamed request asks for its usage (`stream_options`);
    /// cleared by the first refusal of the field.
    stream_usage: AtomicBool,
    pub(crate) api_key: Option<Secret>,
    /// The key and the base URL's credentials, scrubbed out of what the
    /// server says.
    hidden: Hidden,
}

impl fmt::Debug for OpenAiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("OpenAiClient")
            .field("api_key", &i.api_key)
            .field("base_url", &shown_base_url(&i.base_url))
            .field("model", &i.model)
            .field("embedding_model", &i.embedding_model)
            .field("connect_timeout", &i.connect_timeout)
            .field("first_byte_timeout", &i.first_byte_timeout)
            .field("idle_timeout", &i.idle_timeout)
            .field("request_timeout", &i.request_timeout)
            .field("capabilities", &i.capabilities)
            .finish_non_exhaustive()
    }
}

impl OpenAiClient {
    /// A builder with the defaults listed on [`OpenAiClientBuilder`].
    pub fn builder() -> OpenAiClientBuilder {
        OpenAiClientBuilder::new()
    }

    /// A client configured from the environment (see the crate docs for
    /// the variables); the same as `OpenAiClientBuilder::from_env().build()`.
    pub fn from_env() -> Result<Self, ConfigError> {
        OpenAiClientBuilder::from_env().build()
    }

    /// The base URL requests go to, without a trailing `/`, and without
    /// any user name, password or query it was given (which may hold
    /// credentials): safe to print.
    pub fn base_url(&self) -> String {
        shown_base_url(&self.inner.base_url)
    }

    pub(crate) fn from_builder(b: OpenAiClientBuilder) -> Result<Self, ConfigError> {
        let c = &b.common;
        let name = c.base_url_setting();
        let parsed = klieo_http::url::base_url(c.base_url(), name, "http://127.0.0.1:8080/v1")?;
        let base_url = c.base_url().trim().trim_end_matches('/').to_owned();
        let api_key = c.key();
        let openai = is_openai(&parsed);
        if api_key.is_none() && openai {
            return Err(ConfigError::Missing {
                name: "OPENAI_API_KEY".to_owned(),
                hint: "OpenAI's API needs a key: set OPENAI_API_KEY or call \
                       OpenAiClientBuilder::with_api_key (local servers at another base URL need none)"
                    .to_owned(),
            });
        }
        c.check()?;
        if b.embedding_model.trim().is_empty() {
            return Err(ConfigError::invalid("embedding_model", "must not be empty"));
        }
        if b.embedding_batch_size == 0 {
            return Err(ConfigError::invalid(
                "embedding_batch_size",
                "must be at least 1",
            ));
        }
        if b.embedding_dimensions == Some(0) {
            return Err(ConfigError::invalid(
                "embedding_dimensions",
                "0 asks for vectors of no numbers: use the length the embedding model \
                 can give (text-embedding-3-small: up to 1536), or leave it unset",
            ));
        }
        let chat_url = klieo_http::url::joined(&parsed, "chat/completions");
        let embeddings_url = klieo_http::url::joined(&parsed, "embeddings");

        let http = http::client(&b, api_key.as_ref(), parsed.scheme() == "https")?;
        let declared = c.capabilities().copied();
        let capabilities = declared.unwrap_or_else(|| default_capabilities(&base_url));
        let props_url = (declared.is_none() && !openai).then(|| discover::props_url(&parsed));
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                chat_url,
                embeddings_url,
                model: c.model().to_owned(),
                embedding_model: b.embedding_model.clone(),
                embedding_batch_size: b.embedding_batch_size,
                embedding_dimensions: b.embedding_dimensions,
                connect_timeout: c.connect_timeout(),
                first_byte_timeout: c.first_byte_timeout(),
                idle_timeout: c.idle_timeout(),
                request_timeout: c.request_timeout(),
                reply_limit: REPLY_LIMIT,
                capabilities,
                props_url,
                learned: tokio::sync::OnceCell::new(),
                provider_name: c.provider_name_for(&parsed, "api.openai.com", "openai"),
                openai: is_openai_or_azure(&parsed),
                auto_tool_streams: Arc::new(AtomicBool::new(true)),
                stream_usage: AtomicBool::new(true),
                hidden: c.hidden(&parsed),
                api_key,
                base_url,
            }),
        })
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub(crate) fn hidden(&self) -> &Hidden {
        &self.inner.hidden
    }

    /// POSTs a JSON body; a non-2xx status becomes its [`LlmError`]. No
    /// deadline but the connect timeout: callers bound the wait.
    pub(crate) async fn post(
        &self,
        url: &Url,
        body: Vec<u8>,
        accept_sse: bool,
    ) -> Result<reqwest::Response, LlmError> {
        let accept = if accept_sse {
            "text/event-stream"
        } else {
            "application/json"
        };
        let resp = self
            .inner
            .http
            .post(url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, accept)
            .body(body)
            .send()
            .await
            .map_err(|e| from_send(e, self.hidden(), self.inner.connect_timeout))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        debug!(
            status = status.as_u16(),
            path = url.path(),
            "error status from the model server"
        );
        Err(from_response(resp, self.hidden(), self.inner.api_key.is_some()).await)
    }

    /// POSTs `req` to `/chat/completions`, streamed or not.
    async fn send_chat(
        &self,
        req: &ChatRequest,
        stream: bool,
    ) -> Result<reqwest::Response, LlmError> {
        let model = req.model.as_deref().unwrap_or(&self.inner.model);
        // A tool forced by name is sent as the server can take it, so
        // ask the server first (once) unless the user declared it.
        let named_choice = match req.tool_choice {
            Some(ToolChoice::Function(_)) => self.discover_capabilities().await,
            _ => self.capabilities(),
        }
        .named_tool_choice();
        let dialect = Dialect {
            named_choice,
            openai: self.inner.openai,
            stream_usage: self.inner.stream_usage.load(Ordering::Relaxed),
        };
        let body = serde_json::to_vec(&ChatBody::new(req, model, stream, dialect)?)
            .map_err(|e| LlmError::bad_request(format!("the request cannot be encoded: {e}")))?;
        debug!(
            stream,
            messages = req.messages.len(),
            tools = req.tools.len(),
            bytes = body.len(),
            "chat completion request"
        );
        self.post(&self.inner.chat_url, body, stream).await
    }

    /// A blocking call's body, read under its deadline.
    async fn complete_within(&self, req: &ChatRequest) -> Result<Vec<u8>, LlmError> {
        let resp = self.send_chat(req, false).await?;
        read_reply(resp, self.inner.reply_limit, self.hidden()).await
    }
}

#[async_trait]
impl LlmClient for OpenAiClient {
    fn name(&self) -> &str {
        "openai"
    }

    fn model(&self) -> &str {
        &self.inner.model
    }

    fn provider_name(&self) -> &str {
        &self.inner.provider_name
    }

    fn capabilities(&self) -> Capabilities {
        let learned = self.inner.auto_tool_streams.load(Ordering::Relaxed);
        let caps = match self.inner.learned.get() {
            Some(Some(said)) => said.apply(self.inner.capabilities),
            _ => self.inner.capabilities,
        };
        let usage = self.inner.stream_usage.load(Ordering::Relaxed);
        caps.with_streamed_auto_tool_calls(caps.streamed_auto_tool_calls() && learned)
            .with_usage_in_streams(caps.usage_in_streams() && usage)
    }

    async fn discover_capabilities(&self) -> Capabilities {
        if let Some(url) = &self.inner.props_url {
            let (http, within) = (&self.inner.http, self.inner.first_byte_timeout);
            // An unreached server is asked again next time.
            let _ = self
                .inner
                .learned
                .get_or_try_init(|| discover::ask(http, url.clone(), within))
                .await;
        }
        self.capabilities()
    }

    async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError> {
        let started = Instant::now();
        let deadline = req.timeout.unwrap_or(self.inner.request_timeout);
        let body = within(TimeLimit::Call, deadline, self.complete_within(&req)).await?;
        let reply = parse_completion(&body, self.hidden());
        debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            ok = reply.is_ok(),
            "chat completion reply"
        );
        reply
    }

    async fn stream(&self, req: ChatRequest) -> Result<ChunkStream, LlmError> {
        let auto_tools =
            !req.tools.is_empty() && matches!(req.tool_choice, None | Some(ToolChoice::Auto));
        let flag = auto_tools.then(|| Arc::clone(&self.inner.auto_tool_streams));
        let first_byte = self.inner.first_byte_timeout;
        let sent = within(TimeLimit::FirstByte, first_byte, self.send_chat(&req, true)).await;
        // A server or gateway that does not know `stream_options` (an
        // older Azure API version, some proxies) refuses the request; it
        // is sent again without it, and so is every later one (their
        // usage is then estimated, not reported).
        let resp = match sent {
            Err(e) if refuses_stream_options(&e) => {
                self.inner.stream_usage.store(false, Ordering::Relaxed);
                within(TimeLimit::FirstByte, first_byte, self.send_chat(&req, true)).await?
            }
            sent => sent?,
        };
        let reading = StreamReading::new(
            self.inner.reply_limit,
            self.inner.idle_timeout,
            self.inner.request_timeout,
            self.inner.hidden.clone(),
        );
        stream::chunk_stream(resp, reading, flag).await
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, LlmError> {
        embed::embed(self, texts).await
    }
}

/// Whether `error` is a server's refusal of the `stream_options` field.
fn refuses_stream_options(error: &LlmError) -> bool {
    matches!(
        error,
        LlmError::BadRequest { status: Some(400 | 422), message, .. }
            if message.contains("stream_options")
    )
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
