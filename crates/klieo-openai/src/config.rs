//! Settings of an [`OpenAiClient`]: the [`OpenAiClientBuilder`], its defaults
//! and the environment variables it reads.

use crate::client::OpenAiClient;
use klieo_provider::builder::ClientBuilder;
use klieo_provider::options::ClientOptions;
use klieo_types::{Capabilities, ConfigError};
use reqwest::Url;
use std::fmt;

/// OpenAI's own endpoint, the default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// The chat model used when none is set.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";
/// The embedding model used when none is set.
pub const DEFAULT_EMBEDDING_MODEL: &str = "text-embedding-3-small";
/// Texts per embeddings request, unless set.
pub const DEFAULT_EMBEDDING_BATCH_SIZE: usize = 256;

/// Builds an [`OpenAiClient`]. Get one from [`OpenAiClient::builder`] or,
/// preset from the environment, [`OpenAiClientBuilder::from_env`].
///
/// # Default
///
/// - base URL [`DEFAULT_BASE_URL`] (OpenAI itself, which needs an API key;
///   any other base URL works without one);
/// - model [`DEFAULT_MODEL`], embedding model [`DEFAULT_EMBEDDING_MODEL`];
/// - timeouts (each a [`LlmError::Timeout`](klieo_types::LlmError::Timeout)
///   naming its [`TimeLimit`](klieo_types::TimeLimit)): connect 10 s; a
///   streamed reply must start within 30 s (first byte) and never go 60 s
///   without a new line (idle), and is otherwise never cut, however long
///   it runs; a blocking call must finish within 120 s (request timeout).
///   With klieo's runtime on top, its retry budget (80 s by default) bounds
///   a model call and all its retries, so a stalled or trickling server
///   gives a typed error within 80 s;
/// - embeddings in batches of 256 texts, no `dimensions`;
/// - capabilities: derived from the base URL ([`default_capabilities`]):
///   OpenAI itself does everything; another server (llama.cpp, vLLM,
///   Ollama) is assumed to do JSON mode but not strict JSON schema, and
///   not to report usage in streams, until it says more: the first
///   `discover_capabilities` (a typed run calls it, and so does the
///   client before a request that forces a tool by name) asks the
///   server's `GET /props`, which llama.cpp's server answers (JSON schema,
///   usage in streams, its context window, its template's tool support);
///   an answer is kept, a server not reachable yet is asked again.
///   Capabilities declared with `with_capabilities`
///   ([`ClientBuilder::with_capabilities`]) win, and then nothing is asked.
///
/// ```
/// use klieo_openai::OpenAiClient;
/// use klieo_provider::builder::ClientBuilder;
/// use std::time::Duration;
///
/// let client = OpenAiClient::builder()
///     .with_api_key("sk-example")
///     .with_model("gpt-4o")
///     .with_request_timeout(Duration::from_secs(30))
///     .build()?;
/// assert_eq!(klieo_types::LlmClient::model(&client), "gpt-4o");
/// assert!(!format!("{client:?}").contains("sk-example"));
/// # Ok::<(), klieo_types::ConfigError>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct OpenAiClientBuilder {
    /// Key, base URL, model, headers, time limits, capabilities, name.
    pub(crate) common: ClientOptions,
    pub(crate) organization: Option<String>,
    pub(crate) project: Option<String>,
    pub(crate) embedding_model: String,
    pub(crate) embedding_batch_size: usize,
    pub(crate) embedding_dimensions: Option<u32>,
}

impl Default for OpenAiClientBuilder {
    fn default() -> Self {
        Self {
            common: ClientOptions::new(DEFAULT_BASE_URL, DEFAULT_MODEL),
            organization: None,
            project: None,
            embedding_model: DEFAULT_EMBEDDING_MODEL.to_owned(),
            embedding_batch_size: DEFAULT_EMBEDDING_BATCH_SIZE,
            embedding_dimensions: None,
        }
    }
}

impl fmt::Debug for OpenAiClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("OpenAiClientBuilder");
        self.common.debug_fields(&mut s);
        s.field("organization", &self.organization)
            .field("project", &self.project)
            .field("embedding_model", &self.embedding_model)
            .field("embedding_batch_size", &self.embedding_batch_size)
            .field("embedding_dimensions", &self.embedding_dimensions)
            .finish()
    }
}

impl ClientBuilder for OpenAiClientBuilder {
    fn options(&mut self) -> &mut ClientOptions {
        &mut self.common
    }
}

impl OpenAiClientBuilder {
    /// A builder with the defaults listed above.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder preset from the environment: `OPENAI_API_KEY`,
    /// `OPENAI_BASE_URL`, `OPENAI_MODEL`, `OPENAI_EMBEDDING_MODEL`,
    /// `OPENAI_ORG_ID` and `OPENAI_PROJECT_ID`. Unset or empty variables
    /// leave the default. Later setter calls override what it read.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut b = Self::default();
        b.common.read_env("OPENAI", &lookup);
        if let Some(model) = get("OPENAI_EMBEDDING_MODEL") {
            b = b.with_embedding_model(model.trim());
        }
        if let Some(org) = get("OPENAI_ORG_ID") {
            b = b.with_organization(org.trim());
        }
        if let Some(project) = get("OPENAI_PROJECT_ID") {
            b = b.with_project(project.trim());
        }
        b
    }

    /// The `OpenAI-Organization` header.
    pub fn with_organization(mut self, organization: impl Into<String>) -> Self {
        self.organization = Some(organization.into());
        self
    }

    /// The `OpenAI-Project` header.
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// The model [`embed`](klieo_types::LlmClient::embed) uses.
    pub fn with_embedding_model(mut self, model: impl Into<String>) -> Self {
        self.embedding_model = model.into();
        self
    }

    /// How many texts go in one embeddings request.
    pub fn with_embedding_batch_size(mut self, size: usize) -> Self {
        self.embedding_batch_size = size;
        self
    }

    /// The `dimensions` asked of the embedding model (OpenAI's
    /// `text-embedding-3-*` can shorten their vectors); unset by default.
    pub fn with_embedding_dimensions(mut self, dimensions: u32) -> Self {
        self.embedding_dimensions = Some(dimensions);
        self
    }

    /// Checks the settings and builds the client, with its one pooled HTTP
    /// client.
    ///
    /// Fails with [`ConfigError::Missing`] when the base URL is OpenAI's own
    /// and no API key is set, and with [`ConfigError::Invalid`] for a base
    /// URL that is not `http(s)://`, an empty model, a zero timeout or batch
    /// size, or a header that cannot be sent.
    pub fn build(self) -> Result<OpenAiClient, ConfigError> {
        OpenAiClient::from_builder(self)
    }
}

/// The capabilities a client declares unless told otherwise: all of them
/// for OpenAI's own API; for any other server, tools, streaming (streamed
/// tool calls under `auto` until a reply shows otherwise), JSON mode and
/// embeddings, but not strict JSON schema (llama-cpp-python's server
/// rejects it) nor usage in streams.
///
/// ```
/// use klieo_openai::default_capabilities;
///
/// assert!(default_capabilities("https://api.openai.com/v1").json_schema());
/// let local = default_capabilities("http://127.0.0.1:8080/v1");
/// assert!(local.json_mode() && !local.json_schema() && !local.usage_in_streams());
/// ```
pub fn default_capabilities(base_url: &str) -> Capabilities {
    let openai = Url::parse(base_url).is_ok_and(|u| is_openai(&u));
    Capabilities::default()
        .with_json_mode(true)
        .with_embeddings(true)
        .with_json_schema(openai)
        .with_usage_in_streams(openai)
}

/// Whether `url` is OpenAI's own API.
pub(crate) fn is_openai(url: &Url) -> bool {
    url.host_str()
        .is_some_and(|h| h.eq_ignore_ascii_case("api.openai.com"))
}

/// Whether the server at `url` is OpenAI's own API or Azure OpenAI's,
/// which take a reply's bound as `max_completion_tokens` (their reasoning
/// models refuse `max_tokens`) and call ids of at most 40 bytes.
pub(crate) fn is_openai_or_azure(url: &Url) -> bool {
    let azure = url
        .host_str()
        .is_some_and(|h| h.to_ascii_lowercase().ends_with(".openai.azure.com"));
    is_openai(url) || azure
}

#[cfg(test)]
mod tests {
    use super::*;
    use klieo_http::secret::Secret;

    #[test]
    fn openai_and_azure_take_max_completion_tokens_other_servers_do_not() {
        let takes = |url: &str| Url::parse(url).is_ok_and(|u| is_openai_or_azure(&u));
        assert!(takes("https://api.openai.com/v1"));
        assert!(takes("https://acme.openai.azure.com/openai/v1"));
        assert!(!takes("http://127.0.0.1:8080/v1"));
        assert!(!takes("https://openai.azure.com.evil.example/v1"));
    }

    #[test]
    fn env_lookup_fills_the_builder_and_skips_empty_values() {
        let b = OpenAiClientBuilder::from_lookup(|name| match name {
            "OPENAI_API_KEY" => Some("sk-env-key".into()),
            "OPENAI_BASE_URL" => Some("http://127.0.0.1:9/v1".into()),
            "OPENAI_MODEL" => Some("smollm2".into()),
            "OPENAI_EMBEDDING_MODEL" => Some("  ".into()),
            _ => None,
        });
        assert_eq!(b.common.api_key().map(Secret::expose), Some("sk-env-key"));
        assert_eq!(b.common.base_url(), "http://127.0.0.1:9/v1");
        assert_eq!(b.common.model(), "smollm2");
        assert_eq!(b.embedding_model, DEFAULT_EMBEDDING_MODEL);
        assert!(!format!("{b:?}").contains("sk-env-key"));
    }

    #[test]
    fn a_base_url_without_a_scheme_names_the_value_and_its_variable() {
        for (url, why) in [
            ("127.0.0.1:8080/v1", "is not a URL with a scheme"),
            ("localhost:8080/v1", "has the scheme `localhost:`"),
        ] {
            let b = OpenAiClientBuilder::from_lookup(|name| {
                (name == "OPENAI_BASE_URL").then(|| url.to_owned())
            });
            let e = b.build().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains(&format!("`{url}` {why}")), "{e}");
            assert!(e.contains("add http:// or https://"), "{e}");
            assert!(e.starts_with("invalid value for `OPENAI_BASE_URL`"), "{e}");
        }
        let e = OpenAiClientBuilder::new()
            .with_base_url("user:sk-secret@host/v1")
            .build()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("`…@host/v1` has the scheme `user:`"), "{e}");
        assert!(!e.contains("sk-secret"), "{e}");
    }
}
