//! The pooled HTTP client every HTTP client of klieo builds the same way:
//! the kit's TLS settings, a connect timeout, sensitive headers, and time
//! limits checked to be above zero.

use klieo_types::ConfigError;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::time::Duration;

/// Fails with [`ConfigError::Invalid`] naming the first of `limits` that is
/// zero.
pub fn check_timeouts(limits: &[(&str, Duration)]) -> Result<(), ConfigError> {
    match limits.iter().find(|(_, limit)| limit.is_zero()) {
        Some((name, _)) => Err(ConfigError::invalid(*name, "must be more than zero")),
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
        .map_err(|_| ConfigError::invalid(setting, "is not a valid HTTP header name"))?;
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| ConfigError::invalid(setting, "has a value an HTTP header cannot carry"))?;
    value.set_sensitive(true);
    headers.append(header, value);
    Ok(())
}

/// The pooled HTTP client of a provider: the kit's TLS settings for an
/// `https` base URL or not, `connect_timeout`, `headers` on every request
/// and `user_agent`. It follows no redirect: reqwest would send a key in a
/// header of its own name (`x-api-key`, `api-key`, an added header) on to
/// whatever host a redirect names, so a `3xx` reply is handed back as it
/// is, for the caller to report.
///
/// # Errors
///
/// [`ConfigError`] when the TLS settings cannot be made (an `https` URL on
/// a system without root certificates) or reqwest refuses them.
pub fn build(
    https: bool,
    connect_timeout: Duration,
    headers: HeaderMap,
    user_agent: &str,
) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(crate::tls::client_config(https)?)
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .user_agent(user_agent)
        .build()
        .map_err(|e| {
            ConfigError::invalid_from(
                "http client",
                "reqwest could not build a client from these settings",
                e,
            )
        })
}
