//! Settings of an [`AnthropicClient`]: the [`AnthropicClientBuilder`], its
//! defaults and the environment variables it reads.

use crate::client::AnthropicClient;
use klieo_provider::builder::ClientBuilder;
use klieo_provider::options::ClientOptions;
use klieo_types::{Capabilities, ConfigError};
use std::fmt;

/// Anthropic's own endpoint, the default base URL (requests go to
/// `{base_url}/v1/messages`).
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The model used when none is set.
pub const DEFAULT_MODEL: &str = "claude-sonnet-4-5";
/// The `max_tokens` sent when a request sets none (the API requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// The `anthropic-version` header sent unless set.
pub const DEFAULT_API_VERSION: &str = "2023-06-01";

/// Builds an [`AnthropicClient`]. Get one from [`AnthropicClient::builder`]
/// or, preset from the environment, [`AnthropicClientBuilder::from_env`].
///
/// # Default
///
/// - base URL [`DEFAULT_BASE_URL`] (Anthropic itself, which needs an API
///   key; any other base URL, such as llama.cpp's server, works without);
/// - model [`DEFAULT_MODEL`]; `max_tokens` [`DEFAULT_MAX_TOKENS`] when a
///   request sets none; `anthropic-version` [`DEFAULT_API_VERSION`];
/// - prompt caching on: `cache_control` breakpoints on the last tool, the
///   system prompt and the conversation's last block, so the next step of
///   a run reads its prefix from Anthropic's cache (`Usage`'s
///   `cached_input_tokens` and `cache_creation_tokens` say what it read
///   and wrote); [`with_prompt_caching`](AnthropicClientBuilder::with_prompt_caching)
///   turns it off;
/// - timeouts as klieo-openai's: connect 10 s, first byte 30 s, idle 60 s,
///   a blocking call 120 s (each a typed `LlmError::Timeout`);
/// - capabilities: tools, streaming (tool calls too), usage in streams;
///   no JSON mode, JSON schema or embeddings (the runtime then asks for
///   typed output in the instructions).
///
/// ```
/// use klieo_anthropic::AnthropicClient;
/// use klieo_provider::builder::ClientBuilder;
///
/// let client = AnthropicClient::builder()
///     .with_api_key("sk-ant-example")
///     .with_model("claude-haiku-4-5")
///     .with_max_tokens(1024)
///     .build()?;
/// assert_eq!(klieo_types::LlmClient::model(&client), "claude-haiku-4-5");
/// assert!(!format!("{client:?}").contains("sk-ant-example"));
/// # Ok::<(), klieo_types::ConfigError>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct AnthropicClientBuilder {
    /// Key, base URL, model, headers, time limits, capabilities, name.
    pub(crate) common: ClientOptions,
    pub(crate) max_tokens: u32,
    pub(crate) api_version: String,
    pub(crate) prompt_caching: bool,
}

impl Default for AnthropicClientBuilder {
    fn default() -> Self {
        Self {
            common: ClientOptions::new(DEFAULT_BASE_URL, DEFAULT_MODEL),
            max_tokens: DEFAULT_MAX_TOKENS,
            api_version: DEFAULT_API_VERSION.to_owned(),
            prompt_caching: true,
        }
    }
}

impl fmt::Debug for AnthropicClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("AnthropicClientBuilder");
        self.common.debug_fields(&mut s);
        s.field("max_tokens", &self.max_tokens)
            .field("api_version", &self.api_version)
            .field("prompt_caching", &self.prompt_caching)
            .finish()
    }
}

impl ClientBuilder for AnthropicClientBuilder {
    fn options(&mut self) -> &mut ClientOptions {
        &mut self.common
    }
}

impl AnthropicClientBuilder {
    /// A builder with the defaults listed above.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder preset from the environment: `ANTHROPIC_API_KEY`,
    /// `ANTHROPIC_BASE_URL` and `ANTHROPIC_MODEL`. Unset or empty
    /// variables leave the default. Later setter calls override what it
    /// read.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut b = Self::default();
        b.common.read_env("ANTHROPIC", lookup);
        b
    }

    /// The `max_tokens` sent when a request sets none.
    pub fn with_max_tokens(mut self, tokens: u32) -> Self {
        self.max_tokens = tokens;
        self
    }

    /// The `anthropic-version` header.
    pub fn with_api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// Whether requests mark their stable prefix for Anthropic's prompt
    /// cache (on by default; see the list above). A server that does not
    /// cache ignores the marks (llama.cpp's accepts them).
    pub fn with_prompt_caching(mut self, on: bool) -> Self {
        self.prompt_caching = on;
        self
    }

    /// Checks the settings and builds the client.
    ///
    /// Fails with [`ConfigError::Missing`] when the base URL is
    /// Anthropic's own and no API key is set, and with
    /// [`ConfigError::Invalid`] for a base URL that is not `http(s)://`, an
    /// empty model, a zero `max_tokens` or timeout, or a header that
    /// cannot be sent.
    pub fn build(self) -> Result<AnthropicClient, ConfigError> {
        AnthropicClient::from_builder(self)
    }
}

/// The capabilities a client declares unless told otherwise.
pub(crate) fn default_capabilities() -> Capabilities {
    Capabilities::default()
        .with_json_mode(false)
        .with_json_schema(false)
        .with_embeddings(false)
        .with_usage_in_streams(true)
        .with_streamed_auto_tool_calls(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use klieo_http::secret::Secret;

    #[test]
    fn the_environment_presets_key_url_and_model() {
        let b = AnthropicClientBuilder::from_lookup(|name| match name {
            "ANTHROPIC_API_KEY" => Some(" sk-ant-env \n".into()),
            "ANTHROPIC_BASE_URL" => Some("http://127.0.0.1:9".into()),
            "ANTHROPIC_MODEL" => Some("  ".into()),
            _ => None,
        });
        assert_eq!(b.common.api_key().map(Secret::expose), Some("sk-ant-env"));
        assert_eq!(b.common.base_url(), "http://127.0.0.1:9");
        assert_eq!(
            b.common.model(),
            DEFAULT_MODEL,
            "an empty variable leaves the default"
        );
        assert!(!format!("{b:?}").contains("sk-ant-env"));
    }
}
