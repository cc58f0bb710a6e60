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
//! # #[tokio::main]
//! # async fn main() -> Result<(), klieo_otel::OtelError> {
//! // OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 OTEL_SERVICE_NAME=my-agent
//! let telemetry = klieo_otel::init()?;
//! // ... run agents ...
//! telemetry.shutdown().await?; // sends what is left
//! # Ok(())
//! # }
//! ```
//!
//! # Brief overview
//!
//! - [`init`]: the exporter, the provider and the bridge, installed as the
//!   process's `tracing` subscriber; it returns the [`Telemetry`] guard.
//! - [`Telemetry`]: flushes and shuts the pipeline down on a thread of its
//!   own ([`Telemetry::shutdown`] is awaited); what dropping it does
//!   inside and outside a tokio runtime is in its docs.
//! - [`layer`], [`provider`], [`otlp_exporter`]: the parts, for a program
//!   with a subscriber of its own.
//! - [`Shaped`]: the span processor that gives attributes the conventions'
//!   types and drops the `tracing` metadata the bridge adds to events.
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
//! Spans are batched and sent from a thread of the SDK's own, which also
//! builds the HTTP client when it first sends: setting up never waits, so
//! [`init`] may be called from async code. HTTPS uses the same rustls
//! settings as klieo's providers.

#![deny(missing_docs)]

mod client;
mod error;
mod exporter;
mod guard;
mod shape;

pub use error::OtelError;
pub use exporter::{otlp_exporter, ExportFailures, OtlpExporter};
pub use guard::Telemetry;
pub use shape::Shaped;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

/// Sets up export of klieo's spans over OTLP/HTTP, configured from the
/// `OTEL_*` variables, as the process's global `tracing` subscriber.
///
/// It waits for nothing (the HTTP client is built by the exporting thread
/// when it first sends), so it may be called on a runtime's worker. End
/// the pipeline with [`Telemetry::shutdown`].
///
/// # Errors
///
/// [`OtelError::Exporter`] for settings the exporter refuses,
/// [`OtelError::Client`] when an `https` endpoint's TLS settings cannot be
/// made, [`OtelError::SubscriberTaken`] when the process has a subscriber
/// already (use [`layer`] with it).
pub fn init() -> Result<Telemetry, OtelError> {
    let exporter = otlp_exporter(None)?;
    let failures = exporter.failures();
    let provider = provider(exporter);
    let subscriber = Registry::default().with(layer(&provider));
    tracing::subscriber::set_global_default(subscriber).map_err(|_| OtelError::SubscriberTaken)?;
    Ok(Telemetry::new(provider).with_failures(failures))
}

/// A tracer provider batching spans to `exporter`, each shaped to the
/// conventions' types ([`Shaped`]), with the resource the `OTEL_*`
/// variables describe.
pub fn provider(exporter: OtlpExporter) -> SdkTracerProvider {
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
/// and your own; rmcp's at WARN) into OpenTelemetry spans of `provider`.
/// Code locations, thread names, `tracing` targets and levels, and
/// busy/idle times are left out (of events too, once [`Shaped`] has seen
/// them: the bridge always adds `level` and `target` to an event).
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
