//! [`Telemetry`]: the pipeline's guard, whose flush and shutdown run on a
//! thread of their own so that async code never waits on the exporter.

use crate::{ExportFailures, OtelError};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::fmt;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;
use tokio::sync::oneshot;

/// The telemetry pipeline [`init`](crate::init) set up: keep it while the
/// program runs, and end it with [`shutdown`](Self::shutdown), which sends
/// the spans still batched and stops the exporter.
///
/// Flushing and shutting down wait for the exporter (each export is bounded
/// by `OTEL_EXPORTER_OTLP_TIMEOUT`, 10 s by default), at most 15 s
/// ([`with_end_bound`](Self::with_end_bound)). Both run on a thread of
/// their own and are awaited, on any executor, so a runtime's worker
/// threads never wait on them.
///
/// # Dropping it
///
/// A `Telemetry` dropped without [`shutdown`](Self::shutdown) shuts the
/// pipeline down itself:
///
/// - outside a tokio runtime (a synchronous `main`), on a thread of its
///   own that the dropping thread waits for, until the spans are sent or
///   the bound passes;
/// - inside a tokio runtime, on a thread of its own that the drop does
///   **not** wait for, so that no worker thread blocks. If the process
///   ends first (returning from `#[tokio::main]`), the spans still batched
///   are lost: await [`shutdown`](Self::shutdown) instead.
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), klieo_otel::OtelError> {
/// let telemetry = klieo_otel::init()?;
/// // ... run agents ...
/// telemetry.shutdown().await?; // sends what is left
/// # Ok(())
/// # }
/// ```
pub struct Telemetry {
    provider: SdkTracerProvider,
    /// The batches its exporter failed to send, when it was told.
    failures: Option<ExportFailures>,
    /// The longest an end waits for the exporter.
    bound: Duration,
    /// Whether [`shutdown`](Self::shutdown) has the pipeline's end in
    /// hand, so that dropping the guard leaves it alone.
    ended: bool,
}

impl Telemetry {
    /// A guard for a tracer provider you built yourself (with
    /// [`provider`](crate::provider) and a [`layer`](crate::layer) on your
    /// own subscriber), for its flush, shutdown and drop as described
    /// above.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), klieo_otel::OtelError> {
    /// let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    /// let telemetry = klieo_otel::Telemetry::new(provider);
    /// telemetry.shutdown().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(provider: SdkTracerProvider) -> Self {
        Self {
            provider,
            failures: None,
            bound: DEFAULT_END_BOUND,
            ended: false,
        }
    }

    /// Reports from [`flush`](Self::flush) and [`shutdown`](Self::shutdown)
    /// the batches of spans the exporter failed to send since the last
    /// report (as [`OtelError::Flush`]), which the SDK's batch processor
    /// would keep quiet: [`init`](crate::init) sets it; a provider of your
    /// own with an [`OtlpExporter`](crate::OtlpExporter) gives its
    /// [`failures`](crate::OtlpExporter::failures).
    pub fn with_failures(mut self, failures: ExportFailures) -> Self {
        self.failures = Some(failures);
        self
    }

    /// Sets the longest [`flush`](Self::flush), [`shutdown`](Self::shutdown)
    /// or a drop waits for the exporter (default 15 s): past it they give
    /// up ([`OtelError::Flush`]), and an exporter with no bound of its own
    /// (behind a simple processor) does not hold the program's end. A
    /// `flush` through the SDK's batch processor gives up after 5 s
    /// whatever this is: the processor's own wait.
    pub fn with_end_bound(mut self, bound: Duration) -> Self {
        self.bound = bound;
        self
    }

    /// The tracer provider, for spans of your own.
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// Sends the spans batched so far, on a thread of its own.
    ///
    /// # Errors
    ///
    /// [`OtelError::Flush`] when the exporter fails, or failed to send a
    /// batch since the last report (see [`with_failures`](Self::with_failures)),
    /// or the thread cannot be started.
    pub async fn flush(&self) -> Result<(), OtelError> {
        let provider = self.provider.clone();
        let flushed = off_thread("klieo-otel-flush", self.bound, move || {
            provider.force_flush()
        })
        .await;
        // Taken whatever the flush said: a failure it reports itself is
        // not reported again by the next one.
        let unsent = self.unsent();
        flushed.and(unsent)
    }

    /// [`OtelError::Flush`] when the exporter failed to send a batch since
    /// the last report.
    fn unsent(&self) -> Result<(), OtelError> {
        match self.failures.as_ref().and_then(ExportFailures::take) {
            None => Ok(()),
            Some((batches, last)) => Err(OtelError::Flush {
                reason: format!("{batches} batch(es) of spans could not be sent and are lost"),
                cause: Some(last.into()),
            }),
        }
    }

    /// Sends the spans still batched and stops the exporter, on a thread of
    /// its own. Spans ended afterwards are not exported.
    ///
    /// # Errors
    ///
    /// [`OtelError::Flush`] when the exporter fails to send or stop, or
    /// failed to send a batch since the last report (see
    /// [`with_failures`](Self::with_failures)), or the thread cannot be
    /// started.
    pub async fn shutdown(mut self) -> Result<(), OtelError> {
        self.ended = true;
        let (provider, bound) = (self.provider.clone(), self.bound);
        let end = move || provider.shutdown_with_timeout(bound);
        let ended = off_thread("klieo-otel-shutdown", bound, end).await;
        let unsent = self.unsent();
        ended.and(unsent)
    }
}

/// The longest `flush`, `shutdown` or a drop waits for the exporter unless
/// told: a batch's export is bounded by its own timeout (10 s by default),
/// and an exporter with none (behind a simple processor) is given up on
/// after this.
const DEFAULT_END_BOUND: Duration = Duration::from_secs(15);

/// Runs `work` on a new thread named `name` and awaits its result, for at
/// most `bound` (see [`on_thread`]): the wait is a thread's, so it needs
/// no runtime's timer and may be awaited on any executor.
async fn off_thread(
    name: &str,
    bound: Duration,
    work: impl FnOnce() -> OTelSdkResult + Send + 'static,
) -> Result<(), OtelError> {
    let (tx, rx) = oneshot::channel();
    let name = name.to_owned();
    let waiter = std::thread::Builder::new().name(format!("{name}-wait"));
    let waited = waiter.spawn(move || {
        let _ = tx.send(on_thread(&name, bound, work));
    });
    if let Err(e) = waited {
        return Err(no_thread(e));
    }
    rx.await.unwrap_or_else(|_| {
        Err(OtelError::Flush {
            reason: "the thread waiting for it panicked".into(),
            cause: None,
        })
    })
}

/// Runs `work` on a new thread named `name` and waits for its result, for
/// at most `bound`; past it, the thread is left to finish, or not.
fn on_thread(
    name: &str,
    bound: Duration,
    work: impl FnOnce() -> OTelSdkResult + Send + 'static,
) -> Result<(), OtelError> {
    let (done, finished) = std::sync::mpsc::channel();
    let worker = std::thread::Builder::new().name(name.to_owned());
    worker
        .spawn(move || {
            // The receiver is gone only if the wait stopped.
            let _ = done.send(work());
        })
        .map_err(no_thread)?;
    match finished.recv_timeout(bound) {
        Ok(done) => done.map_err(|e| OtelError::Flush {
            reason: "the exporter failed".into(),
            cause: Some(Box::new(e)),
        }),
        Err(RecvTimeoutError::Timeout) => Err(OtelError::Flush {
            reason: format!(
                "the exporter did not finish within {} ms",
                bound.as_millis()
            ),
            cause: None,
        }),
        Err(RecvTimeoutError::Disconnected) => Err(OtelError::Flush {
            reason: "the thread doing it panicked".into(),
            cause: None,
        }),
    }
}

/// The error of a thread that could not be started.
fn no_thread(e: std::io::Error) -> OtelError {
    OtelError::Flush {
        reason: "a thread to do it could not be started".into(),
        cause: Some(Box::new(e)),
    }
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

impl Drop for Telemetry {
    /// Shuts the pipeline down unless [`shutdown`](Self::shutdown) did:
    /// here outside a tokio runtime, on a thread not waited for inside one.
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let (provider, bound) = (self.provider.clone(), self.bound);
        if tokio::runtime::Handle::try_current().is_err() {
            // Waited for, up to a bound: an exporter that never ends does
            // not hold the program's end.
            let end = move || provider.shutdown_with_timeout(bound);
            if let Err(e) = on_thread("klieo-otel-shutdown", bound, end) {
                tracing::warn!(error = %e, "the OTLP exporter did not shut down cleanly");
            }
            return;
        }
        let end = move || {
            if let Err(e) = provider.shutdown_with_timeout(bound) {
                tracing::warn!(error = %e, "the OTLP exporter did not shut down cleanly");
            }
        };
        let spawned = std::thread::Builder::new()
            .name("klieo-otel-shutdown".into())
            .spawn(end);
        if let Err(e) = spawned {
            tracing::warn!(
                error = %e,
                "the OTLP exporter was not shut down: no thread could be started for it"
            );
        }
    }
}
