//! The pooled HTTP client a provider holds: its default headers (the key
//! and any extra headers, all marked sensitive) and klieo-provider's TLS
//! settings (rustls on ring, the system's roots).

use crate::config::OpenAiClientBuilder;
use klieo_http::client::{build as http_client, sensitive_header};
use klieo_http::secret::Secret;
use klieo_types::ConfigError;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};

/// The HTTP client for `b`'s settings, sending `api_key` as a bearer token.
pub(crate) fn client(
    b: &OpenAiClientBuilder,
    api_key: Option<&Secret>,
    https: bool,
) -> Result<reqwest::Client, ConfigError> {
    let agent = concat!("klieo-openai/", env!("CARGO_PKG_VERSION"));
    http_client(
        https,
        b.common.connect_timeout(),
        headers(b, api_key)?,
        agent,
    )
}

fn headers(b: &OpenAiClientBuilder, api_key: Option<&Secret>) -> Result<HeaderMap, ConfigError> {
    let mut headers = HeaderMap::new();
    if let Some(key) = api_key {
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| {
                ConfigError::invalid("api_key", "contains characters an HTTP header cannot carry")
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
        .chain(
            b.common
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str())),
        );
    for (name, value) in extra {
        sensitive_header(&mut headers, name, name, value)?;
    }
    Ok(headers)
}
