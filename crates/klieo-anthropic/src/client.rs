//! [`AnthropicClient`]: one pooled HTTP client and the [`LlmClient`]
//! implementation over the Messages API.

use crate::config::{default_capabilities, AnthropicClientBuilder};
use crate::error::from_response;
use crate::request::MessagesBody;
use crate::response::parse_message;
use crate::stream;
use klieo_http::client::{build as http_client, sensitive_header};
use klieo_http::secret::{Hidden, Secret};
use klieo_http::url::shown_base_url;
use klieo_provider::body::{from_send, read_reply};
use klieo_provider::options::within;
use klieo_provider::status::REPLY_LIMIT;
use klieo_provider::streamed::StreamReading;
use klieo_types::{
    async_trait, Capabilities, ChatRequest, ChatResponse, ChunkStream, ConfigError, LlmClient,
    LlmError, TimeLimit,
};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::Url;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::debug;

/// A client of Anthropic's Messages API, or of a server that speaks it
/// (llama.cpp's `llama-server` serves `/v1/messages`).
///
/// Build it with [`AnthropicClient::builder`] or
/// [`AnthropicClient::from_env`]. It holds one pooled `reqwest` client
/// (rustls with ring, the system's roots); cloning it is cheap and shares
/// the pool.
#[derive(Clone)]
pub struct AnthropicClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    messages_url: Url,
    model: String,
    max_tokens: u32,
    /// Whether requests carry prompt-cache breakpoints.
    prompt_caching: bool,
    connect_timeout: Duration,
    first_byte_timeout: Duration,
    idle_timeout: Duration,
    request_timeout: Duration,
    capabilities: Capabilities,
    /// `gen_ai.provider.name`.
    provider_name: String,
    api_key: Option<Secret>,
    /// The key and the base URL's credentials, scrubbed out of what the
    /// server says.
    hidden: Hidden,
}

impl fmt::Debug for AnthropicClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("AnthropicClient")
            .field("api_key", &i.api_key)
            .field("base_url", &shown_base_url(&i.base_url))
            .field("model", &i.model)
            .field("max_tokens", &i.max_tokens)
            .field("prompt_caching", &i.prompt_caching)
            .field("connect_timeout", &i.connect_timeout)
            .field("first_byte_timeout", &i.first_byte_timeout)
            .field("idle_timeout", &i.idle_timeout)
            .field("request_timeout", &i.request_timeout)
            .field("capabilities", &i.capabilities)
            .finish_non_exhaustive()
    }
}

impl AnthropicClient {
    /// A builder with the defaults listed on [`AnthropicClientBuilder`].
    pub fn builder() -> AnthropicClientBuilder {
        AnthropicClientBuilder::new()
    }

    /// A client configured from the environment (`ANTHROPIC_API_KEY`,
    /// `ANTHROPIC_BASE_URL`, `ANTHROPIC_MODEL`).
    pub fn from_env() -> Result<Self, ConfigError> {
        AnthropicClientBuilder::from_env().build()
    }

    /// The base URL requests go to, without a trailing `/` and without any
    /// credentials or query it was given: safe to print.
    pub fn base_url(&self) -> String {
        shown_base_url(&self.inner.base_url)
    }

    pub(crate) fn from_builder(b: AnthropicClientBuilder) -> Result<Self, ConfigError> {
        let c = &b.common;
        let name = c.base_url_setting();
        let parsed = klieo_http::url::base_url(c.base_url(), name, "https://api.anthropic.com")?;
        let api_key = c.key();
        if api_key.is_none() && parsed.host_str() == Some("api.anthropic.com") {
            return Err(ConfigError::Missing {
                name: "ANTHROPIC_API_KEY".to_owned(),
                hint: "Anthropic's API needs a key: set ANTHROPIC_API_KEY or call \
                       AnthropicClientBuilder::with_api_key (a local server at another base URL \
                       needs none)"
                    .to_owned(),
            });
        }
        c.check()?;
        if b.max_tokens == 0 {
            return Err(ConfigError::invalid(
                "max_tokens",
                "0 leaves the model no room to answer: use at least 1 (the default is 4096)",
            ));
        }
        if b.api_version.trim().is_empty() {
            return Err(ConfigError::invalid(
                "api_version",
                "is empty, and Anthropic's API refuses a request without its \
                 `anthropic-version` header: leave the default (2023-06-01) or name a version",
            ));
        }
        let base_url = parsed.as_str().trim_end_matches('/').to_owned();
        let messages_url = klieo_http::url::joined(&parsed, "v1/messages");
        let agent = concat!("klieo-anthropic/", env!("CARGO_PKG_VERSION"));
        let https = parsed.scheme() == "https";
        let http = http_client(
            https,
            c.connect_timeout(),
            headers(&b, api_key.as_ref())?,
            agent,
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                messages_url,
                model: c.model().trim().to_owned(),
                max_tokens: b.max_tokens,
                prompt_caching: b.prompt_caching,
                connect_timeout: c.connect_timeout(),
                first_byte_timeout: c.first_byte_timeout(),
                idle_timeout: c.idle_timeout(),
                request_timeout: c.request_timeout(),
                capabilities: c
                    .capabilities()
                    .copied()
                    .unwrap_or_else(default_capabilities),
                provider_name: c.provider_name_for(&parsed, "api.anthropic.com", "anthropic"),
                hidden: c.hidden(&parsed),
                api_key,
            }),
        })
    }

    fn hidden(&self) -> &Hidden {
        &self.inner.hidden
    }

    /// POSTs `req` to `/v1/messages`, streamed or not; a non-2xx status
    /// becomes its [`LlmError`].
    async fn send(&self, req: &ChatRequest, stream: bool) -> Result<reqwest::Response, LlmError> {
        let model = req.model.as_deref().unwrap_or(&self.inner.model);
        let body = MessagesBody::new(
            req,
            model,
            self.inner.max_tokens,
            stream,
            self.inner.prompt_caching,
        );
        let body = serde_json::to_vec(&body)
            .map_err(|e| LlmError::bad_request(format!("the request cannot be encoded: {e}")))?;
        debug!(
            stream,
            messages = req.messages.len(),
            tools = req.tools.len(),
            bytes = body.len(),
            "messages request"
        );
        let accept = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        let url = &self.inner.messages_url;
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
        if resp.status().is_success() {
            return Ok(resp);
        }
        debug!(
            status = resp.status().as_u16(),
            "error status from the model server"
        );
        Err(from_response(resp, self.hidden(), self.inner.api_key.is_some()).await)
    }
}

/// The default headers: `x-api-key` (sensitive), `anthropic-version`, and
/// the extra headers (sensitive too).
fn headers(b: &AnthropicClientBuilder, api_key: Option<&Secret>) -> Result<HeaderMap, ConfigError> {
    let mut headers = HeaderMap::new();
    if let Some(key) = api_key {
        let mut value = HeaderValue::from_str(key.expose()).map_err(|_| {
            ConfigError::invalid("api_key", "contains characters an HTTP header cannot carry")
        })?;
        value.set_sensitive(true);
        headers.insert("x-api-key", value);
    }
    let version = HeaderValue::from_str(b.api_version.trim()).map_err(|_| {
        ConfigError::invalid("api_version", "has characters an HTTP header cannot carry")
    })?;
    headers.insert("anthropic-version", version);
    for (name, value) in b.common.headers() {
        sensitive_header(&mut headers, name, name, value)?;
    }
    Ok(headers)
}

#[async_trait]
impl LlmClient for AnthropicClient {
    fn name(&self) -> &str {
        "anthropic"
    }

    fn model(&self) -> &str {
        &self.inner.model
    }

    fn provider_name(&self) -> &str {
        &self.inner.provider_name
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities
    }

    async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError> {
        let started = Instant::now();
        let deadline = req.timeout.unwrap_or(self.inner.request_timeout);
        let (body, request_id) = within(TimeLimit::Call, deadline, async {
            let resp = self.send(&req, false).await?;
            let request_id = klieo_provider::status::request_id(resp.headers());
            let body = read_reply(resp, REPLY_LIMIT, self.hidden()).await?;
            Ok((body, request_id))
        })
        .await?;
        let reply = parse_message(&body, request_id.as_deref(), self.hidden());
        debug!(
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            ok = reply.is_ok(),
            "messages reply"
        );
        reply
    }

    async fn stream(&self, req: ChatRequest) -> Result<ChunkStream, LlmError> {
        let first_byte = self.inner.first_byte_timeout;
        let resp = within(TimeLimit::FirstByte, first_byte, self.send(&req, true)).await?;
        let reading = StreamReading::new(
            REPLY_LIMIT,
            self.inner.idle_timeout,
            self.inner.request_timeout,
            self.inner.hidden.clone(),
        );
        stream::chunk_stream(resp, reading).await
    }
}
