//! The pooled HTTP client a provider holds: its default headers (the key
//! and any extra headers, all marked sensitive) and its TLS settings.
//!
//! TLS is rustls with the ring crypto provider, trusting the system's root
//! certificates. The settings are handed to reqwest whole, so nothing
//! depends on a process-wide default crypto provider, and a program that
//! installs another one for its own use is not disturbed.

use crate::body::chain;
use crate::config::{invalid, OpenAiClientBuilder};
use crate::redact::Secret;
use klieo_types::ConfigError;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use std::sync::Arc;

/// The HTTP client for `b`'s settings, sending `api_key` as a bearer token.
pub(crate) fn client(
    b: &OpenAiClientBuilder,
    api_key: Option<&Secret>,
    https: bool,
) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(client_config(https)?)
        .connect_timeout(b.connect_timeout)
        .default_headers(headers(b, api_key)?)
        .user_agent(concat!("klieo-openai/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| invalid("http client", chain(&e)))
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

/// The TLS settings for a client whose base URL is `https` or not.
///
/// Over `https` the system's roots are loaded and a system with none is a
/// [`ConfigError`] saying what to install. Over plain `http` (a local model
/// server) no root is loaded, so a machine without any still works; a
/// redirect to `https` then fails verification rather than going unchecked.
fn client_config(https: bool) -> Result<rustls::ClientConfig, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("tls", format!("rustls has no usable protocol version: {e}")))?;
    let mut config = if https {
        let verifier = rustls_platform_verifier::Verifier::new(provider).map_err(|e| {
            invalid(
                "base_url",
                format!(
                    "is https, but the system's root certificates could not be \
                     loaded ({e}): install them (Debian and Ubuntu: \
                     `apt install ca-certificates`) or point SSL_CERT_FILE at a \
                     PEM bundle"
                ),
            )
        })?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_needs_no_root_certificates() {
        let config = client_config(false).expect("no roots are loaded for http");
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
    }
}
