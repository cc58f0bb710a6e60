//! The spans of a blocking and a streamed run, as the SDK's in-memory
//! exporter captures them, against the golden files.

use crate::golden;
use crate::support::{as_json, failing_run, run, Mode};
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, SdkTracerProvider, SimpleSpanProcessor, SpanData,
};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Registry;

/// The spans of one run in `mode`.
async fn captured(mode: Mode, capture: bool) -> Vec<SpanData> {
    traced(run(mode, capture)).await
}

/// The spans `body` makes.
async fn traced(body: impl std::future::Future<Output = ()>) -> Vec<SpanData> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(klieo_otel::Shaped::new(SimpleSpanProcessor::new(
            exporter.clone(),
        )))
        .build();
    let subscriber = Registry::default().with(klieo_otel::layer(&provider));
    {
        let _default = tracing::subscriber::set_default(subscriber);
        body.await;
    }
    provider.force_flush().unwrap();
    exporter.get_finished_spans().unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_blocking_run_gives_the_golden_spans() {
    let spans = captured(Mode::Blocking, false).await;
    golden::check("blocking", &as_json(&spans));
}

#[tokio::test(start_paused = true)]
async fn a_streamed_run_with_content_capture_gives_the_golden_spans() {
    let spans = captured(Mode::Streamed, true).await;
    golden::check("streamed", &as_json(&spans));
}

#[tokio::test(start_paused = true)]
async fn no_content_is_recorded_unless_asked_for() {
    let spans = captured(Mode::Blocking, false).await;
    let content = [
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.definitions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
    ];
    for span in &spans {
        for kv in &span.attributes {
            assert!(
                !content.contains(&kv.key.as_str()),
                "{} has {}",
                span.name,
                kv.key
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_run_marks_its_spans_with_the_error_type() {
    let spans = traced(failing_run()).await;
    golden::check("failing", &as_json(&spans));
}
