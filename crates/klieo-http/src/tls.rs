//! The TLS settings of a provider's HTTP client: rustls with the ring
//! crypto provider, trusting the system's root certificates. They are
//! handed to reqwest whole (`tls_backend_preconfigured`), so nothing
//! depends on a process-wide default crypto provider, and a program that
//! installs another one for its own use is not disturbed.

use klieo_types::ConfigError;
use std::sync::Arc;

/// The TLS settings for a client whose base URL is `https` or not.
///
/// Over `https` the system's roots are loaded and a system with none is a
/// [`ConfigError`] saying what to install. Over plain `http` (a local model
/// server) no root is loaded, so a machine without any still works; a
/// redirect to `https` then fails verification rather than going unchecked.
///
/// ```
/// let tls = klieo_http::tls::client_config(false)?;
/// let client = reqwest::Client::builder()
///     .tls_backend_preconfigured(tls)
///     .build()?;
/// # drop(client);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn client_config(https: bool) -> Result<rustls::ClientConfig, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| {
            ConfigError::invalid_from("tls", "rustls has no usable protocol version", e)
        })?;
    let mut config = if https {
        let verifier = rustls_platform_verifier::Verifier::new(provider).map_err(|e| {
            ConfigError::invalid_from(
                "base_url",
                "is https, but the system's root certificates could not be loaded: \
                 install them (Debian and Ubuntu: `apt install ca-certificates`) or \
                 point SSL_CERT_FILE at a PEM bundle",
                e,
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
