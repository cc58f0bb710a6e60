//! [`Telemetry`]: the pipeline's guard, whose flush and shutdown run on a
//! thread of their own so that async code never waits on the exporter.

use crate::OtelError;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::fmt;
use tokio::sync::oneshot;

/// The telemetry pipeline [`init`](crate::init) set up: keep it while the
/// program runs, and end it with [`shutdown`](Self::shutdown), which sends
/// the spans still batched and stops the exporter.
///
/// Flushing and shutting down wait for the exporter (each export is bounded
/// by `OTEL_EXPORTER_OTLP_TIMEOUT`, 10 s by default). Both run on a thread
/// of their own and are awaited, so a runtime's worker threads never wait
/// on them.
///
/// # Dropping it
///
/// A `Telemetry` dropped without [`shutdown`](Self::shutdown) shuts the
/// pipeline down itself:
///
/// - outside a tokio runtime (a synchronous `main`), on the dropping
///   thread, which waits until the spans are sent;
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
            ended: false,
        }
    }

    /// The tracer provider, for spans of your own.
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }

    /// Sends the spans batched so far, on a thread of its own.
    ///
    /// # Errors
    ///
    /// [`OtelError::Flush`] when the exporter fails (or the thread cannot
    /// be started).
    pub async fn flush(&self) -> Result<(), OtelError> {
        let provider = self.provider.clone();
        off_thread("klieo-otel-flush", move || provider.force_flush()).await
    }

    /// Sends the spans still batched and stops the exporter, on a thread of
    /// its own. Spans ended afterwards are not exported.
    ///
    /// # Errors
    ///
    /// [`OtelError::Flush`] when the exporter fails to send or stop (or
    /// the thread cannot be started).
    pub async fn shutdown(mut self) -> Result<(), OtelError> {
        self.ended = true;
        let provider = self.provider.clone();
        let end = move || provider.shutdown_with_timeout(ENDING);
        off_thread("klieo-otel-shutdown", end).await
    }
}

/// The longest `flush`, `shutdown` or a drop waits for the exporter: a
/// batch's export is bounded by its own timeout (10 s by default), and an
/// exporter with none (behind a simple processor) is given up on after
/// this.
const ENDING: std::time::Duration = std::time::Duration::from_secs(15);

/// Runs `work` on a new thread named `name` and awaits its result.
async fn off_thread(
    name: &str,
    work: impl FnOnce() -> OTelSdkResult + Send + 'static,
) -> Result<(), OtelError> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            // The receiver is gone only if the caller stopped waiting.
            let _ = tx.send(work());
        })
        .map_err(|e| OtelError::Flush {
            reason: "a thread to do it could not be started".into(),
            cause: Some(Box::new(e)),
        })?;
    match tokio::time::timeout(ENDING, rx).await {
        Ok(Ok(done)) => done.map_err(|e| OtelError::Flush {
            reason: "the exporter failed".into(),
            cause: Some(Box::new(e)),
        }),
        Ok(Err(_)) => Err(OtelError::Flush {
            reason: "the thread doing it panicked".into(),
            cause: None,
        }),
        // The thread is left to finish, or not: nobody waits for it.
        Err(_) => Err(OtelError::Flush {
            reason: format!("the exporter did not finish within {} s", ENDING.as_secs()),
            cause: None,
        }),
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
        let provider = self.provider.clone();
        let end = move || {
            if let Err(e) = provider.shutdown_with_timeout(ENDING) {
                tracing::warn!(error = %e, "the OTLP exporter did not shut down cleanly");
            }
        };
        if tokio::runtime::Handle::try_current().is_err() {
            // Waited for, up to a bound: an exporter that never ends does
            // not hold the program's end.
            let (done, ended) = std::sync::mpsc::channel();
            let ending = std::thread::Builder::new()
                .name("klieo-otel-shutdown".into())
                .spawn(move || {
                    end();
                    let _ = done.send(());
                });
            if ending.is_ok() && ended.recv_timeout(ENDING).is_err() {
                tracing::warn!("the OTLP exporter did not shut down within its bound");
            }
            return;
        }
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
