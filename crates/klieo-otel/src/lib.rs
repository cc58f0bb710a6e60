//! OpenTelemetry export of klieo's spans.
//!
//! klieo's runtime names and attributes its spans after the OpenTelemetry
//! GenAI semantic conventions (`invoke_agent {agent}`, `chat {model}`,
//! `execute_tool {tool}`; docs/TELEMETRY.md lists each attribute). This
//! crate sends them to any OTLP receiver (Jaeger, Tempo, Langfuse, an
//! OpenTelemetry Collector) over OTLP/HTTP with protobuf, through the
//! `tracing-opentelemetry` bridge:
//!
//! ```no_run
//! # fn main() -> Result<(), klieo_otel::OtelError> {
//! // OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 OTEL_SERVICE_NAME=my-agent
//! let telemetry = klieo_otel::init()?;
//! // ... run agents ...
//! drop(telemetry); // sends what is left
//! # Ok(())
//! # }
//! ```
//!
//! # Configuration
//!
//! The standard variables, read by the OTLP exporter and the SDK:
//!
//! - `OTEL_EXPORTER_OTLP_ENDPOINT` (default `http://localhost:4318`;
//!   `/v1/traces` is appended) or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
//!   (used as it is)
//! - `OTEL_EXPORTER_OTLP_HEADERS` / `OTEL_EXPORTER_OTLP_TRACES_HEADERS`
//!   (`key=value,key2=value2`, such as an authorization header)
//! - `OTEL_EXPORTER_OTLP_TIMEOUT` / `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`
//!   (milliseconds, default 10 000): the bound on each export request
//! - `OTEL_EXPORTER_OTLP_PROTOCOL` / `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`:
//!   `http/protobuf` (the default) is the one built; another value
//!   (`grpc`, `http/json`) is refused with an [`OtelError`]
//! - `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`
//! - `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true` to record
//!   message contents (the runtime reads it; off by default)
//!
//! Spans are batched and sent from a thread of the SDK's own; HTTPS uses
//! the same rustls settings as klieo's providers.

#![deny(missing_docs)]

mod shape;

pub use shape::Shaped;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use std::fmt;
use std::time::Duration;
use thiserror::Error;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

/// Why telemetry could not be set up.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OtelError {
    /// The OTLP exporter could not be built from the settings (an endpoint
    /// that is not a URL, a protocol other than `http/protobuf`).
    #[error(
        "the OTLP exporter could not be built: {reason}; check the OTEL_EXPORTER_OTLP_* variables"
    )]
    Exporter {
        /// What the exporter said.
        reason: String,
    },
    /// The HTTP client for the exporter could not be built.
    #[error("the OTLP exporter's HTTP client could not be built: {0}")]
    Client(#[from] klieo_types::ConfigError),
    /// The process has a global `tracing` subscriber already; add
    /// [`layer`] to it instead of calling [`init`].
    #[error("a global tracing subscriber is set already: add klieo_otel::layer(...) to yours instead of calling init()")]
    SubscriberTaken,
    /// Sending what was left, or stopping the exporter, failed.
    #[error("the OTLP exporter did not flush or shut down: {reason}")]
    Flush {
        /// What the SDK said.
        reason: String,
    },
}

/// The telemetry pipeline [`init`] set up: keep it while the program
/// runs. Dropping it sends the spans still batched and stops the
/// exporter (bounded by the exporter's timeout).
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// The tracer provider, for spans of your own.
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// Sends the spans batched so far.
    ///
    /// # Errors
    ///
    /// [`OtelError::Flush`] when the exporter fails.
    pub fn flush(&self) -> Result<(), OtelError> {
        self.provider.force_flush().map_err(|e| OtelError::Flush {
            reason: e.to_string(),
        })
    }
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "the OTLP exporter did not shut down cleanly");
        }
    }
}

/// Sets up export of klieo's spans over OTLP/HTTP, configured from the
/// `OTEL_*` variables, as the process's global `tracing` subscriber.
///
/// # Errors
///
/// [`OtelError::Exporter`] for settings the exporter refuses,
/// [`OtelError::SubscriberTaken`] when the process has a subscriber
/// already (use [`layer`] with it).
pub fn init() -> Result<Telemetry, OtelError> {
    let provider = provider(otlp_exporter(None)?);
    let subscriber = Registry::default().with(layer(&provider));
    tracing::subscriber::set_global_default(subscriber).map_err(|_| OtelError::SubscriberTaken)?;
    Ok(Telemetry { provider })
}

/// The OTLP/HTTP (protobuf) span exporter: to `endpoint` (the full
/// `…/v1/traces` URL) when given, else where the `OTEL_EXPORTER_OTLP_*`
/// variables say.
///
/// # Errors
///
/// [`OtelError::Exporter`] for settings the exporter refuses.
pub fn otlp_exporter(endpoint: Option<&str>) -> Result<SpanExporter, OtelError> {
    check_protocol()?;
    let https = endpoint.map_or_else(
        || {
            [
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ]
            .iter()
            .any(|v| std::env::var(v).is_ok_and(|url| url.trim().starts_with("https")))
        },
        |url| url.trim().starts_with("https"),
    );
    let client = http_client(https, export_timeout()?)?;
    let mut builder = SpanExporter::builder().with_http().with_http_client(client);
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    builder.build().map_err(|e| OtelError::Exporter {
        reason: e.to_string(),
    })
}

/// The first of `names` that is set (and not empty), with its value.
fn first_set(names: &[&'static str]) -> Option<(&'static str, String)> {
    names.iter().find_map(|name| {
        let value = std::env::var(name).ok()?;
        let value = value.trim().to_owned();
        (!value.is_empty()).then_some((*name, value))
    })
}

/// Refuses a protocol other than `http/protobuf`: the exporter would fall
/// back to it with only a warning, and the spans go to the wrong port.
fn check_protocol() -> Result<(), OtelError> {
    let names = [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ];
    match first_set(&names) {
        Some((name, value)) if value != "http/protobuf" => Err(OtelError::Exporter {
            reason: format!(
                "{name} is `{value}`, but klieo-otel sends OTLP over http/protobuf only: unset \
                 it or set it to http/protobuf, with the endpoint at the receiver's HTTP port \
                 (4318 by convention)"
            ),
        }),
        _ => Ok(()),
    }
}

/// The bound on one export: `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` or
/// `OTEL_EXPORTER_OTLP_TIMEOUT`, in milliseconds, else 10 s.
fn export_timeout() -> Result<Duration, OtelError> {
    let names = [
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ];
    let Some((name, value)) = first_set(&names) else {
        return Ok(DEFAULT_EXPORT_TIMEOUT);
    };
    match value.parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(OtelError::Exporter {
            reason: format!("{name} is `{value}`: give a number of milliseconds above zero"),
        }),
    }
}

/// The bound on one export when no variable sets it (the specification's
/// default).
const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// A blocking HTTP client with klieo's TLS settings, built on a thread of
/// its own: reqwest's blocking client must not be made inside an async
/// runtime, and `init` is usually called from one.
fn http_client(https: bool, timeout: Duration) -> Result<reqwest::blocking::Client, OtelError> {
    let tls = klieo_provider::tls_config(https)?;
    let build = move || {
        reqwest::blocking::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(timeout)
            .build()
    };
    let built = std::thread::spawn(build)
        .join()
        .map_err(|_| OtelError::Exporter {
            reason: "building the HTTP client panicked".into(),
        })?;
    built.map_err(|e| OtelError::Exporter {
        reason: format!("the HTTP client: {e}"),
    })
}

/// A tracer provider batching spans to `exporter`, each shaped to the
/// conventions' types ([`Shaped`]), with the resource the `OTEL_*`
/// variables describe.
pub fn provider(exporter: SpanExporter) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_span_processor(Shaped::new(BatchSpanProcessor::builder(exporter).build()))
        .with_resource(Resource::builder().build())
        .build()
}

/// What is exported: spans and events at INFO and above, but rmcp's only
/// at WARN (an MCP connection's span lasts as long as the connection, and
/// its events carry what the server sends).
fn spans_exported() -> Targets {
    Targets::new()
        .with_default(Level::INFO)
        .with_target("rmcp", Level::WARN)
}

/// The `tracing` layer that turns spans at level INFO and above (klieo's
/// and your own; rmcp's at WARN) into OpenTelemetry spans of `provider`. Code locations,
/// thread names, `tracing` targets and busy/idle times are left out.
pub fn layer<S>(provider: &SdkTracerProvider) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("klieo"))
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_level(false)
        .with_tracked_inactivity(false)
        .with_filter(spans_exported())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test for the variables: they are the process's, shared by
    /// every test thread of this binary.
    #[test]
    fn a_protocol_or_timeout_klieo_cannot_honour_is_refused_by_name() {
        std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
        let refused = check_protocol().map_err(|e| e.to_string());
        std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
        let accepted = check_protocol().is_ok();
        std::env::remove_var("OTEL_EXPORTER_OTLP_PROTOCOL");
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("OTEL_EXPORTER_OTLP_PROTOCOL is `grpc`")),
            "{refused:?}"
        );
        assert!(accepted);

        assert_eq!(export_timeout().ok(), Some(DEFAULT_EXPORT_TIMEOUT));
        std::env::set_var("OTEL_EXPORTER_OTLP_TIMEOUT", "2500");
        let set = export_timeout().ok();
        std::env::set_var("OTEL_EXPORTER_OTLP_TIMEOUT", "soon");
        let bad = export_timeout().map_err(|e| e.to_string());
        std::env::remove_var("OTEL_EXPORTER_OTLP_TIMEOUT");
        assert_eq!(set, Some(Duration::from_millis(2500)));
        assert!(bad.is_err_and(|e| e.contains("`soon`")));
    }
}
