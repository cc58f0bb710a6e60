//! [`OtelError`]: why telemetry could not be set up, flushed or shut down.

use thiserror::Error;

/// Why telemetry could not be set up, flushed or shut down.
///
/// Each message says what happened at this layer; a cause it wraps is its
/// [`source`](std::error::Error::source), not repeated in the message.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OtelError {
    /// The OTLP exporter could not be built from the settings (an endpoint
    /// that is not a URL, a protocol other than `http/protobuf`).
    #[error(
        "the OTLP exporter could not be built: {reason}; check the OTEL_EXPORTER_OTLP_* variables"
    )]
    Exporter {
        /// What is wrong, in this layer's words.
        reason: String,
        /// The exporter's own error, when it refused.
        #[source]
        cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The TLS settings of the exporter's HTTP client could not be made
    /// (over `https`, a system without root certificates); the source says
    /// which setting and what to install.
    #[error("the OTLP exporter's HTTP client could not be set up: its cause says what to fix")]
    Client(#[from] klieo_types::ConfigError),
    /// The process has a global `tracing` subscriber already; add
    /// [`layer`](crate::layer) to it instead of calling [`init`](crate::init).
    #[error("a global tracing subscriber is set already: add klieo_otel::layer(...) to yours instead of calling init()")]
    SubscriberTaken,
    /// Sending what was left, or stopping the exporter, failed.
    #[error("the OTLP exporter did not flush or shut down: {reason}")]
    Flush {
        /// What failed, in this layer's words.
        reason: String,
        /// The SDK's (or the thread's) own error.
        #[source]
        cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_client_error_says_its_cause_once_through_the_chain() {
        let cause = klieo_types::ConfigError::Invalid {
            name: "base_url".into(),
            reason: "is https, but the system's root certificates could not be loaded".into(),
            cause: None,
        };
        let error = OtelError::from(cause.clone());
        let chain = klieo_types::ErrorChain(&error).texts();
        let told = chain.join(": ");
        assert_eq!(
            told.matches("root certificates").count(),
            1,
            "the cause is printed once along the chain: {told}"
        );
        assert_eq!(chain.last(), Some(&cause.to_string()));
    }

    #[test]
    fn a_flush_failure_keeps_the_sdks_error_as_its_source() {
        let sdk = std::io::Error::other("connection refused by collector");
        let error = OtelError::Flush {
            reason: "the exporter failed".into(),
            cause: Some(Box::new(sdk)),
        };
        assert!(!error.to_string().contains("connection refused"), "{error}");
        let source = error.source().map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("connection refused by collector"));
    }

    #[test]
    fn the_error_crosses_threads() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<OtelError>();
    }
}
