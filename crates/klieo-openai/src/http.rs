//! The pooled HTTP client a provider holds: its default headers (the key
//! and any extra headers, all marked sensitive) and klieo-provider's TLS
//! settings (rustls on ring, the system's roots).

use crate::config::{invalid, OpenAiClientBuilder};
use klieo_provider::{error_chain, tls_config, Secret};
use klieo_types::ConfigError;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};

/// The HTTP client for `b`'s settings, sending `api_key` as a bearer token.
pub(crate) fn client(
    b: &OpenAiClientBuilder,
    api_key: Option<&Secret>,
    https: bool,
) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config(https)?)
        .connect_timeout(b.connect_timeout)
        .default_headers(headers(b, api_key)?)
        .user_agent(concat!("klieo-openai/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| invalid("http client", error_chain(&e)))
}

fn headers(b: &OpenAiClientBuilder, api_key: Option<&Secret>) -> Result<HeaderMap, ConfigError> {
    let mut headers = HeaderMap::new();
    if let Some(key) = api_key {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
            .map_err(|_| invalid("api_key", "contains characters an HTTP header cannot carry"))?;
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
    Ok(headers)
}
