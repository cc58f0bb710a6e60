//! [`ClientOptions`]: what every HTTP provider's builder holds alike, read
//! from the environment, shown and checked the same way.

use klieo_http::client::check_timeouts;
use klieo_http::secret::{Hidden, Secret};
use klieo_http::url::shown_base_url;
use klieo_types::{Capabilities, ConfigError, LlmError, TimeLimit};
use reqwest::Url;
use std::fmt;
use std::future::Future;
use std::time::Duration;

/// The longest wait for a connection, unless set otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait for a streamed reply to start, unless set otherwise.
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a streamed reply may go without finishing a line, unless
/// set otherwise.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The deadline of a whole blocking call, unless set otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// `call`, or [`LlmError::Timeout`] of `limit` if it takes `after` or more.
pub async fn within<T>(
    limit: TimeLimit,
    after: Duration,
    call: impl Future<Output = Result<T, LlmError>>,
) -> Result<T, LlmError> {
    tokio::time::timeout(after, call)
        .await
        .unwrap_or(Err(LlmError::timeout(limit, after)))
}

/// The settings every HTTP provider's builder has: key, base URL, model,
/// extra headers, time limits, declared capabilities and the provider's
/// name in traces. A provider's builder holds one beside its own settings
/// and gets their setters from [`ClientBuilder`](crate::builder::ClientBuilder);
/// the provider reads them with the getters here.
///
/// # Default
/// - API key: none (a provider reads `{PREFIX}_API_KEY`)
/// - base URL and model: the provider's own, as it makes these options
/// - headers: none beyond the provider's own
/// - connect timeout: [`DEFAULT_CONNECT_TIMEOUT`] (10 s)
/// - first byte timeout: [`DEFAULT_FIRST_BYTE_TIMEOUT`] (30 s)
/// - idle timeout: [`DEFAULT_IDLE_TIMEOUT`] (60 s between two chunks)
/// - request timeout: [`DEFAULT_REQUEST_TIMEOUT`] (120 s for a whole
///   blocking call)
/// - capabilities: none declared (the provider asks the server, or
///   assumes)
/// - provider name in traces: the provider's own
///
/// ```
/// use klieo_provider::options::ClientOptions;
///
/// let mut s = ClientOptions::new("https://api.example.com/v1", "small");
/// s.read_env("EXAMPLE", |name| (name == "EXAMPLE_MODEL").then(|| " large ".to_owned()));
/// assert_eq!(s.model(), "large");
/// assert_eq!(s.base_url_setting(), "base_url");
/// # Ok::<(), klieo_types::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct ClientOptions {
    /// The API key; never shown.
    pub(crate) api_key: Option<Secret>,
    /// The base URL, as given.
    pub(crate) base_url: String,
    /// The variable the base URL came from, for error messages.
    pub(crate) base_url_var: Option<String>,
    /// The model requests go to unless they name another.
    pub(crate) model: String,
    /// Extra headers sent with every request; values never shown.
    pub(crate) headers: Vec<(String, String)>,
    /// The longest wait for a connection.
    pub(crate) connect_timeout: Duration,
    /// The longest wait for a streamed reply to start.
    pub(crate) first_byte_timeout: Duration,
    /// The longest a streamed reply may go without finishing a line.
    pub(crate) idle_timeout: Duration,
    /// The deadline of a whole blocking call.
    pub(crate) request_timeout: Duration,
    /// The capabilities declared instead of the provider's defaults.
    pub(crate) capabilities: Option<Capabilities>,
    /// `gen_ai.provider.name` instead of the provider's default.
    pub(crate) provider_name: Option<String>,
}

impl ClientOptions {
    /// Settings with this base URL and model and the default time limits.
    pub fn new(base_url: &str, model: &str) -> Self {
        Self {
            api_key: None,
            base_url: base_url.to_owned(),
            base_url_var: None,
            model: model.to_owned(),
            headers: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            first_byte_timeout: DEFAULT_FIRST_BYTE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            capabilities: None,
            provider_name: None,
        }
    }

    /// Reads `{prefix}_API_KEY`, `{prefix}_BASE_URL` and `{prefix}_MODEL`
    /// through `lookup` (trimmed); unset or empty ones leave what is set.
    pub fn read_env(&mut self, prefix: &str, lookup: impl Fn(&str) -> Option<String>) {
        let get = |suffix: &str| {
            lookup(&format!("{prefix}_{suffix}"))
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if let Some(key) = get("API_KEY") {
            self.api_key = Some(Secret::new(key));
        }
        if let Some(url) = get("BASE_URL") {
            self.base_url = url;
            self.base_url_var = Some(format!("{prefix}_BASE_URL"));
        }
        if let Some(model) = get("MODEL") {
            self.model = model;
        }
    }

    /// The API key as set (possibly empty; see [`key`](Self::key)).
    pub fn api_key(&self) -> Option<&Secret> {
        self.api_key.as_ref()
    }

    /// The base URL, as given.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The model requests go to unless they name another.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Extra headers sent with every request; values never shown.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The longest wait for a connection.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The longest wait for a streamed reply to start.
    pub fn first_byte_timeout(&self) -> Duration {
        self.first_byte_timeout
    }

    /// The longest a streamed reply may go without finishing a line.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// The deadline of a whole blocking call.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The capabilities declared instead of the provider's defaults.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.capabilities.as_ref()
    }

    /// What errors call the base URL setting: its variable, or `base_url`.
    pub fn base_url_setting(&self) -> &str {
        self.base_url_var.as_deref().unwrap_or("base_url")
    }

    /// The API key, when one is set and not empty.
    pub fn key(&self) -> Option<Secret> {
        self.api_key.clone().filter(|k| !k.expose().is_empty())
    }

    /// What a client of these options sends to `base_url` that must never
    /// show: the key, the added headers' values, and the URL's
    /// credentials (see [`Hidden`]).
    pub fn hidden(&self, base_url: &Url) -> Hidden {
        let key = self.key();
        let headers = self.headers.iter().map(|(_, value)| value.as_str());
        Hidden::new(key.as_ref(), Some(base_url)).also(headers)
    }

    /// Checks what every provider needs: a model, and time limits above
    /// zero.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the setting.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.model.trim().is_empty() {
            return Err(ConfigError::invalid(
                "model",
                "must not be empty: name the model requests go to (with_model, or the \
                 provider's MODEL variable)",
            ));
        }
        check_timeouts(&[
            ("connect_timeout", self.connect_timeout),
            ("first_byte_timeout", self.first_byte_timeout),
            ("idle_timeout", self.idle_timeout),
            ("request_timeout", self.request_timeout),
        ])
    }

    /// The provider's name in traces: the one set, else `own` when `url`
    /// is on `own_host` (the provider's own API), else `{own}_compatible`.
    pub fn provider_name_for(&self, url: &Url, own_host: &str, own: &str) -> String {
        match &self.provider_name {
            Some(name) => name.clone(),
            None if url.host_str() == Some(own_host) => own.to_owned(),
            None => format!("{own}_compatible"),
        }
    }

    /// Adds these settings to a `Debug` of the builder holding them: the
    /// key as `Secret` shows it, the URL without credentials, header names
    /// only.
    pub fn debug_fields(&self, s: &mut fmt::DebugStruct<'_, '_>) {
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        s.field("api_key", &self.api_key)
            .field("base_url", &shown_base_url(&self.base_url))
            .field("model", &self.model)
            .field("headers", &header_names)
            .field("connect_timeout", &self.connect_timeout)
            .field("first_byte_timeout", &self.first_byte_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("capabilities", &self.capabilities)
            .field("provider_name", &self.provider_name);
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("ClientOptions");
        self.debug_fields(&mut s);
        s.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_presets_and_a_setter_overrides() {
        let mut s = ClientOptions::new("https://api.example.com", "m");
        s.read_env("EX", |name| match name {
            "EX_API_KEY" => Some(" sk-secret ".into()),
            "EX_BASE_URL" => Some("http://127.0.0.1:1/v1".into()),
            "EX_MODEL" => Some("  ".into()),
            _ => None,
        });
        assert_eq!(
            s.key().map(|k| k.expose().to_owned()).as_deref(),
            Some("sk-secret")
        );
        assert_eq!(s.base_url_setting(), "EX_BASE_URL");
        assert_eq!(s.model, "m", "an empty variable leaves the default");
        s.base_url_var = None;
        assert_eq!(s.base_url_setting(), "base_url");
        assert!(!format!("{s:?}").contains("sk-secret"));
    }

    #[test]
    fn the_provider_name_follows_the_host_unless_set() {
        let mut s = ClientOptions::new("x", "m");
        let own = Url::parse("https://api.example.com/v1").unwrap_or_else(|_| unreachable!());
        let other = Url::parse("http://127.0.0.1:8080").unwrap_or_else(|_| unreachable!());
        assert_eq!(s.provider_name_for(&own, "api.example.com", "ex"), "ex");
        assert_eq!(
            s.provider_name_for(&other, "api.example.com", "ex"),
            "ex_compatible"
        );
        s.provider_name = Some("vllm".into());
        assert_eq!(s.provider_name_for(&own, "api.example.com", "ex"), "vllm");
        assert!(s.check().is_ok());
        s.model = " ".into();
        assert!(s.check().is_err());
    }
}
