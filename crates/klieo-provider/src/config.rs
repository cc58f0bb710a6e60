//! Settings every HTTP provider checks the same way: its base URL, and a
//! wait bounded by one of its time limits.

use crate::secret::shown_raw_url;
use klieo_types::{ConfigError, LlmError, TimeLimit};
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
