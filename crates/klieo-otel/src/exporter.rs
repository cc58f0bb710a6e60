//! [`otlp_exporter`]: the OTLP/HTTP span exporter, configured from the
//! `OTEL_EXPORTER_OTLP_*` variables, and the checks klieo adds to them.

use crate::client::OnFirstSend;
use crate::OtelError;
use opentelemetry_otlp::{SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter as Export};
use opentelemetry_sdk::Resource;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The OTLP/HTTP span exporter [`otlp_exporter`] builds: the SDK's, whose
/// `Debug` would show the headers it sends (a collector's token from
/// `OTEL_EXPORTER_OTLP_HEADERS`) and its endpoint; this one's shows
/// neither. It notes each batch it fails to send ([`failures`](Self::failures)):
/// the SDK's batch processor drops the result of an export, so a flush or
/// a shutdown would say nothing of spans lost.
pub struct OtlpExporter {
    inner: SpanExporter,
    failures: ExportFailures,
    /// The endpoint it was given, kept out of the failures it notes.
    endpoint: Option<String>,
}

impl From<SpanExporter> for OtlpExporter {
    /// An exporter built by hand (other headers, another transport), for
    /// [`provider`](crate::provider).
    fn from(exporter: SpanExporter) -> Self {
        Self {
            inner: exporter,
            failures: ExportFailures::default(),
            endpoint: None,
        }
    }
}

impl OtlpExporter {
    /// The batches it fails to send, for
    /// [`Telemetry::with_failures`](crate::Telemetry::with_failures) to
    /// report.
    pub fn failures(&self) -> ExportFailures {
        self.failures.clone()
    }
}

/// The batches of spans an [`OtlpExporter`] failed to send since they were
/// last reported, and the last failure (without the endpoint's
/// credentials or the headers' values).
#[derive(Debug, Clone, Default)]
pub struct ExportFailures(Arc<Mutex<Option<(u64, String)>>>);

impl ExportFailures {
    fn note(&self, failure: String) {
        let mut noted = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let batches = noted.as_ref().map_or(0, |(n, _)| *n);
        *noted = Some((batches.saturating_add(1), failure));
    }

    /// How many batches were not sent since the last call, and the last
    /// failure; `None` when every one was.
    pub(crate) fn take(&self) -> Option<(u64, String)> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpExporter").finish_non_exhaustive()
    }
}

impl Export for OtlpExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let sent = self.inner.export(batch);
        async move {
            let result = sent.await;
            if let Err(e) = &result {
                self.failures
                    .note(without_settings(e, self.endpoint.as_deref()));
            }
            result
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Whether `url`'s scheme is `https`, in any case (`HTTPS://…`), as the
/// HTTP client reads it.
fn is_https(url: &str) -> bool {
    url.trim()
        .get(..6)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https:"))
}

/// The OTLP/HTTP (protobuf) span exporter: to `endpoint` (the full
/// `…/v1/traces` URL) when given, else where the `OTEL_EXPORTER_OTLP_*`
/// variables say.
///
/// Building it waits for nothing, so it may be called from async code.
/// It sends with a blocking HTTP client, built when it first sends: put it
/// behind a batch processor (as [`provider`](crate::provider) does), whose
/// thread does the sending, never behind a simple processor on a runtime.
///
/// # Errors
///
/// [`OtelError::Exporter`] for settings the exporter refuses,
/// [`OtelError::Client`] when the TLS settings for an `https` endpoint
/// cannot be made.
pub fn otlp_exporter(endpoint: Option<&str>) -> Result<OtlpExporter, OtelError> {
    check_protocol()?;
    // The endpoint the exporter will use: the one given (an empty one is
    // none), else the traces variable, else the base one (the SDK's order).
    let https = match endpoint.filter(|url| !url.trim().is_empty()) {
        Some(url) => is_https(url),
        None => first_set(&[
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ])
        .is_some_and(|(_, url)| is_https(&url)),
    };
    let tls = klieo_http::tls::client_config(https)?;
    let client = OnFirstSend::new(tls, export_timeout()?);
    let mut builder = SpanExporter::builder().with_http().with_http_client(client);
    // Trimmed, as it was read to choose TLS (an empty one is none).
    if let Some(endpoint) = endpoint.map(str::trim).filter(|url| !url.is_empty()) {
        builder = builder.with_endpoint(endpoint);
    }
    let exporter = builder.build().map_err(|e| OtelError::Exporter {
        reason: "the exporter refused its settings".into(),
        cause: Some(without_settings(&e, endpoint).into()),
    })?;
    Ok(OtlpExporter {
        inner: exporter,
        failures: ExportFailures::default(),
        endpoint: endpoint.map(str::to_owned),
    })
}

/// The exporter's `error` as text without the endpoint it may quote
/// (given, or from the environment), which may carry the collector's
/// token: each is shown without credentials. (The SDK quotes no header
/// value: one it cannot use is dropped.)
fn without_settings(error: &dyn std::error::Error, endpoint: Option<&str>) -> String {
    let mut text = error.to_string();
    let from_env = |names: &[&'static str]| first_set(names).map(|(_, value)| value);
    let endpoints = [
        endpoint.map(str::to_owned),
        from_env(&["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]),
        from_env(&["OTEL_EXPORTER_OTLP_ENDPOINT"]),
    ];
    for url in endpoints.into_iter().flatten() {
        let url = url.trim().to_owned();
        if !url.is_empty() {
            text = text.replace(&url, &klieo_http::url::shown_raw_url(&url));
        }
    }
    text
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
        // Compared as the specification's values are written, any case.
        Some((name, value)) if !value.trim().eq_ignore_ascii_case("http/protobuf") => {
            Err(OtelError::Exporter {
                reason: format!(
                "{name} is `{value}`, but klieo-otel sends OTLP over http/protobuf only: unset \
                 it or set it to http/protobuf, with the endpoint at the receiver's HTTP port \
                 (4318 by convention)"
            ),
                cause: None,
            })
        }
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
            cause: None,
        }),
    }
}

/// The bound on one export when no variable sets it (the specification's
/// default).
const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_https_endpoint_is_known_in_any_case() {
        for https in ["https://c:4318", " HTTPS://c:4318", "Https://c"] {
            assert!(is_https(https), "{https}");
        }
        for plain in ["http://c:4318", "httpsx://c", "", "http"] {
            assert!(!is_https(plain), "{plain}");
        }
    }

    /// One test for the variables: they are the process's, shared by
    /// every test thread of this binary.
    #[test]
    fn the_variables_klieo_cannot_honour_are_refused_and_headers_never_shown() {
        std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
        let refused = check_protocol().map_err(|e| e.to_string());
        std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "HTTP/Protobuf ");
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

        // A collector's token, in the headers and in the endpoint.
        std::env::set_var(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20sk-head-SECRET",
        );
        let exporter = otlp_exporter(Some("http://127.0.0.1:4318/v1/traces?key=sk-url-SECRET"));
        std::env::remove_var("OTEL_EXPORTER_OTLP_HEADERS");
        let shown = format!("{exporter:?}");
        assert!(exporter.is_ok(), "{shown}");
        assert!(!shown.contains("SECRET"), "{shown}");

        // An endpoint the exporter refuses: its error says so without it.
        let refused = otlp_exporter(Some("http://127.0.0.1:4318/v1/traces?key=sk-url-SECRET x"));
        let chain = match refused {
            Err(e) => format!("{}", klieo_types::ErrorChain(&e)),
            Ok(_) => String::from("built"),
        };
        assert!(!chain.contains("SECRET"), "{chain}");
        assert!(chain.contains("refused its settings"), "{chain}");
    }
}
