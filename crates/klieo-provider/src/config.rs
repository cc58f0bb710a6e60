//! Settings every HTTP provider checks and builds the same way: its base
//! URL, its time limits, its headers and its pooled client, and a wait
//! bounded by one of its time limits.

use crate::secret::shown_raw_url;
use klieo_types::{ConfigError, LlmError, TimeLimit};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Url;
use std::future::Future;
use std::time::Duration;

/// The base URL `raw` parsed, trimmed and without a trailing `/`, or a
/// [`ConfigError::Invalid`] naming `name` (the setting, or the variable it
/// came from), showing the value without credentials, and asking for an
/// `http://` or `https://` URL like `example`.
///
/// ```
/// let url = klieo_provider::base_url(" http://127.0.0.1:8080/v1/ ", "base_url", "http://127.0.0.1:8080/v1")?;
/// assert_eq!(url.as_str(), "http://127.0.0.1:8080/v1");
/// let err = klieo_provider::base_url("localhost:8080", "MY_BASE_URL", "http://127.0.0.1:8080").unwrap_err();
/// assert!(err.to_string().contains("MY_BASE_URL"));
/// # Ok::<(), klieo_types::ConfigError>(())
/// ```
pub fn base_url(raw: &str, name: &str, example: &str) -> Result<Url, ConfigError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let not_http = |why: String| ConfigError::Invalid {
        name: name.to_owned(),
        reason: format!(
            "`{}` {why}: add http:// or https:// in front, as in {example}",
            shown_raw_url(trimmed)
        ),
    };
    let url =
        Url::parse(trimmed).map_err(|e| not_http(format!("is not a URL with a scheme ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        let scheme = url.scheme().to_owned();
        return Err(not_http(format!(
            "has the scheme `{scheme}:`, not http or https"
        )));
    }
    Ok(url)
}

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

fn invalid(name: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Fails with [`ConfigError::Invalid`] naming the first of `limits` that is
/// zero.
pub fn check_timeouts(limits: &[(&str, Duration)]) -> Result<(), ConfigError> {
    match limits.iter().find(|(_, limit)| limit.is_zero()) {
        Some((name, _)) => Err(invalid(name, "must be more than zero")),
        None => Ok(()),
    }
}

/// Appends the header `name: value` to `headers`, marked sensitive (so
/// reqwest never shows its value); `setting` names it in the error.
///
/// # Errors
///
/// [`ConfigError::Invalid`] for a name or value HTTP cannot carry.
pub fn sensitive_header(
    headers: &mut HeaderMap,
    setting: &str,
    name: &str,
    value: &str,
) -> Result<(), ConfigError> {
    let header = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| invalid(setting, "is not a valid HTTP header name"))?;
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| invalid(setting, "has a value an HTTP header cannot carry"))?;
    value.set_sensitive(true);
    headers.append(header, value);
    Ok(())
}

/// The pooled HTTP client of a provider: the kit's TLS settings for an
/// `https` base URL or not, `connect_timeout`, `headers` on every request
/// and `user_agent`.
///
/// # Errors
///
/// [`ConfigError`] when the TLS settings cannot be made (an `https` URL on
/// a system without root certificates) or reqwest refuses them.
pub fn http_client(
    https: bool,
    connect_timeout: Duration,
    headers: HeaderMap,
    user_agent: &str,
) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(crate::tls::tls_config(https)?)
        .connect_timeout(connect_timeout)
        .default_headers(headers)
        .user_agent(user_agent)
        .build()
        .map_err(|e| ConfigError::Invalid {
            name: "http client".to_owned(),
            reason: crate::body::error_chain(&e),
        })
}
