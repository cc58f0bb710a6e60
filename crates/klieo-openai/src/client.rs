//! [`OpenAiClient`]: one pooled HTTP client and the [`LlmClient`]
//! implementation over Chat Completions and embeddings.

use crate::config::{invalid, OpenAiClientBuilder, Secret};
use crate::error::{chain, from_reqwest, from_response};
use crate::request::ChatBody;
use crate::response::parse_completion;
use crate::{embed, stream};
use klieo_types::{
    async_trait, Capabilities, ChatRequest, ChatResponse, ChunkStream, ConfigError, Embedding,
    LlmClient, LlmError,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Url;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::debug;

/// A client of an OpenAI-compatible API: OpenAI itself, llama.cpp's and
/// llama-cpp-python's servers, vLLM, Ollama's `/v1`.
///
/// Build it with [`OpenAiClient::builder`] or [`OpenAiClient::from_env`].
/// It holds one pooled `reqwest` client (rustls), reused by every call;
/// cloning it is cheap and shares the pool.
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
    pub(crate) request_timeout: Duration,
    capabilities: Capabilities,
    pub(crate) api_key: Option<Secret>,
}

impl fmt::Debug for OpenAiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("OpenAiClient")
            .field("api_key", &i.api_key)
            .field("base_url", &i.base_url)
            .field("model", &i.model)
            .field("embedding_model", &i.embedding_model)
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

    /// The base URL requests go to, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    pub(crate) fn from_builder(b: OpenAiClientBuilder) -> Result<Self, ConfigError> {
        let base_url = b.base_url.trim().trim_end_matches('/').to_owned();
        let parsed = Url::parse(&base_url).map_err(|e| invalid("base_url", e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("base_url", "must start with http:// or https://"));
        }
        let api_key = b.api_key.filter(|k| !k.expose().trim().is_empty());
        if api_key.is_none() && parsed.host_str() == Some("api.openai.com") {
            return Err(ConfigError::Missing {
                name: "OPENAI_API_KEY".to_owned(),
                hint: "OpenAI's API needs a key: set OPENAI_API_KEY or call \
                       OpenAiClientBuilder::api_key (local servers at another base URL need none)"
                    .to_owned(),
            });
        }
        if b.model.trim().is_empty() {
            return Err(invalid("model", "must not be empty"));
        }
        if b.embedding_model.trim().is_empty() {
            return Err(invalid("embedding_model", "must not be empty"));
        }
        if b.connect_timeout.is_zero() {
            return Err(invalid("connect_timeout", "must be more than zero"));
        }
        if b.request_timeout.is_zero() {
            return Err(invalid("request_timeout", "must be more than zero"));
        }
        if b.embedding_batch_size == 0 {
            return Err(invalid("embedding_batch_size", "must be at least 1"));
        }
        let join = |path: &str| {
            Url::parse(&format!("{base_url}/{path}"))
                .map_err(|e| invalid("base_url", e.to_string()))
        };
        let (chat_url, embeddings_url) = (join("chat/completions")?, join("embeddings")?);

        let mut headers = HeaderMap::new();
        if let Some(key) = &api_key {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose().trim()))
                .map_err(|_| {
                    invalid("api_key", "contains characters an HTTP header cannot carry")
                })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let named = [
            ("openai-organization", b.organization.as_ref()),
            ("openai-project", b.project.as_ref()),
        ];
        let extra = named
            .into_iter()
            .filter_map(|(n, v)| v.map(|v| (n, v.as_str())))
            .chain(b.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        for (name, value) in extra {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(name, "is not a valid HTTP header name"))?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| invalid(name, "has a value an HTTP header cannot carry"))?;
            value.set_sensitive(true);
            headers.append(header, value);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(b.connect_timeout)
            .default_headers(headers)
            .user_agent(concat!("klieo-openai/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid("http client", chain(&e)))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                chat_url,
                embeddings_url,
                model: b.model,
                embedding_model: b.embedding_model,
                embedding_batch_size: b.embedding_batch_size,
                embedding_dimensions: b.embedding_dimensions,
                request_timeout: b.request_timeout,
                capabilities: b.capabilities,
                api_key,
            }),
        })
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub(crate) fn secret(&self) -> Option<&Secret> {
        self.inner.api_key.as_ref()
    }

    /// POSTs a JSON body; a non-2xx status becomes its [`LlmError`].
    pub(crate) async fn post(
        &self,
        url: &Url,
        body: Vec<u8>,
        timeout: Duration,
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
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| from_reqwest(&e, self.secret()))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        debug!(
            status = status.as_u16(),
            path = url.path(),
            "error status from the model server"
        );
        Err(from_response(resp, self.secret()).await)
    }

    fn chat_body(&self, req: &ChatRequest, stream: bool) -> Result<Vec<u8>, LlmError> {
        let model = req.model.as_deref().unwrap_or(&self.inner.model);
        let body = ChatBody::new(req, model, stream)?;
        serde_json::to_vec(&body)
            .map_err(|e| LlmError::bad_request(format!("the request cannot be encoded: {e}")))
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

    fn capabilities(&self) -> &Capabilities {
        &self.inner.capabilities
    }

    async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError> {
        let body = self.chat_body(&req, false)?;
        let timeout = req.timeout.unwrap_or(self.inner.request_timeout);
        debug!(
            messages = req.messages.len(),
            tools = req.tools.len(),
            bytes = body.len(),
            "chat completion request"
        );
        let started = Instant::now();
        let resp = self
            .post(&self.inner.chat_url, body, timeout, false)
            .await?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| from_reqwest(&e, self.secret()))?;
        let reply = parse_completion(&bytes, self.secret());
        debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            ok = reply.is_ok(),
            "chat completion reply"
        );
        reply
    }

    async fn stream(&self, req: ChatRequest) -> Result<ChunkStream, LlmError> {
        let body = self.chat_body(&req, true)?;
        let timeout = req.timeout.unwrap_or(self.inner.request_timeout);
        debug!(
            messages = req.messages.len(),
            tools = req.tools.len(),
            bytes = body.len(),
            "chat completion stream request"
        );
        let resp = self.post(&self.inner.chat_url, body, timeout, true).await?;
        stream::chunk_stream(resp, self.inner.api_key.clone()).await
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, LlmError> {
        embed::embed(self, texts).await
    }
}
