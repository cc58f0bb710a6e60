//! Ending the pipeline never blocks a runtime's thread: `shutdown` and
//! `flush` are awaited while a thread of their own waits on the exporter;
//! a drop inside a runtime hands the shutdown to such a thread, and a drop
//! outside one waits until the spans are sent.

use klieo_otel::Telemetry;
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The bound on every wait here: never reached when the code is right.
const BOUND: Duration = Duration::from_secs(30);

/// An exporter that keeps the names of the spans it is sent, and whose
/// shutdown, when gated, waits until the test lets it go (or [`BOUND`]
/// passes), then says on `outcome` whether it was let go.
#[derive(Debug)]
struct Gate {
    sent: Arc<Mutex<Vec<String>>>,
    release: Option<Mutex<Receiver<()>>>,
    outcome: Sender<bool>,
}

impl SpanExporter for Gate {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut sent = self.sent.lock().unwrap();
        sent.extend(batch.into_iter().map(|s| s.name.into_owned()));
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        let released = self
            .release
            .as_ref()
            .is_none_or(|gate| gate.lock().unwrap().recv_timeout(BOUND).is_ok());
        let _ = self.outcome.send(released);
        Ok(())
    }
}

/// A guard over a provider with a [`Gate`], and the test's ends of it: the
/// release (when `gated`), the outcome, and the spans sent. A gated gate
/// sits behind a simple processor, whose shutdown calls the exporter's on
/// the same thread with no time limit of its own: a shutdown that blocked
/// its caller would block it until the gate is let go. An ungated one sits
/// behind a batch processor, which holds the span until a flush or the
/// shutdown sends it.
struct Rig {
    telemetry: Telemetry,
    release: Sender<()>,
    outcome: Receiver<bool>,
    sent: Arc<Mutex<Vec<String>>>,
}

fn rig(gated: bool) -> Rig {
    let (release, gate) = mpsc::channel();
    let (told, outcome) = mpsc::channel();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let exporter = Gate {
        sent: Arc::clone(&sent),
        release: gated.then(|| Mutex::new(gate)),
        outcome: told,
    };
    let builder = SdkTracerProvider::builder();
    let provider = if gated {
        builder.with_simple_exporter(exporter).build()
    } else {
        builder
            .with_span_processor(BatchSpanProcessor::builder(exporter).build())
            .build()
    };
    provider.tracer("test").in_span("batched", |_| {});
    Rig {
        telemetry: Telemetry::new(provider),
        release,
        outcome,
        sent,
    }
}

#[tokio::test(flavor = "current_thread")]
async fn shutdown_is_awaited_while_the_runtime_thread_runs_on() {
    let Rig {
        telemetry,
        release,
        outcome,
        sent,
    } = rig(true);
    // The release is sent by this runtime's only thread: it is sent only
    // if awaiting the shutdown leaves that thread free.
    let release = async move { release.send(()).unwrap() };
    let (ended, ()) = tokio::join!(telemetry.shutdown(), release);
    ended.unwrap();
    assert_eq!(outcome.recv_timeout(BOUND), Ok(true));
    assert_eq!(*sent.lock().unwrap(), ["batched"]);
}

/// An exporter that never ends its shutdown is given up on after the
/// guard's bound (a short one here).
#[tokio::test(flavor = "current_thread")]
async fn a_shutdown_the_exporter_never_ends_is_given_up_after_its_bound() {
    let rig = rig(true);
    let telemetry = rig.telemetry.with_end_bound(Duration::from_millis(50));
    let ended = telemetry.shutdown().await;
    assert!(
        ended
            .as_ref()
            .is_err_and(|e| e.to_string().contains("did not finish within")),
        "{ended:?}"
    );
    // The gate is let go, and the thread that waited on it ends.
    rig.release.send(()).unwrap();
    assert_eq!(rig.outcome.recv_timeout(BOUND), Ok(true));
}

#[tokio::test(flavor = "current_thread")]
async fn shutdown_sends_what_is_batched() {
    let rig = rig(false);
    rig.telemetry.shutdown().await.unwrap();
    assert_eq!(*rig.sent.lock().unwrap(), ["batched"]);
    assert_eq!(
        rig.outcome.try_recv(),
        Ok(true),
        "the exporter was shut down"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn flush_sends_what_is_batched() {
    let rig = rig(false);
    rig.telemetry.flush().await.unwrap();
    assert_eq!(*rig.sent.lock().unwrap(), ["batched"]);
    rig.telemetry.shutdown().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_drop_inside_a_runtime_does_not_wait_for_the_exporter() {
    let rig = rig(true);
    drop(rig.telemetry);
    // A drop that waited for the exporter would have waited out BOUND
    // before this release, and the gate would say it was not let go.
    rig.release.send(()).unwrap();
    assert_eq!(rig.outcome.recv_timeout(BOUND), Ok(true));
}

#[test]
fn a_drop_outside_a_runtime_sends_the_spans_before_it_returns() {
    let rig = rig(false);
    drop(rig.telemetry);
    assert_eq!(*rig.sent.lock().unwrap(), ["batched"]);
    assert_eq!(
        rig.outcome.try_recv(),
        Ok(true),
        "the exporter was shut down"
    );
}
