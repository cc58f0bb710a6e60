//! With no `tracing` subscriber set, `tracing` writes a run's spans and
//! events to a `log` logger instead (its `log` feature, which this crate's
//! dev-dependencies ask for, as sqlx does): a run's
//! telemetry reaches such a logger as `tracing`'s own macros would send
//! it. Its own test binary: a subscriber set by any other test of the
//! process would turn the fall-back off.
#![allow(clippy::unwrap_used, clippy::panic)]

use klieo::prelude::*;
use klieo::types::testing::ScriptedLlm;
use klieo::types::LlmError;
use std::sync::Mutex;

/// What the logger was given: each record's target and text.
static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A logger that keeps what it is given, at `INFO` and above.
struct Kept;

impl log::Log for Kept {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let kept = format!("{} {}", record.target(), record.args());
            RECORDS.lock().unwrap().push(kept);
        }
    }

    fn flush(&self) {}
}

#[tokio::test(start_paused = true)]
async fn a_failed_attempt_reaches_a_log_logger_when_no_subscriber_is_set() {
    log::set_logger(&Kept).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let llm = ScriptedLlm::new()
        .then_error(LlmError::server("overloaded"))
        .then_text("done");
    let ctx = AgentContext::new(llm);
    let thread = ThreadId::new("t");
    let answer = run_steps(&ctx, "sys", thread, RunOptions::default()).await;
    assert_eq!(answer.unwrap(), "done");
    let records = RECORDS.lock().unwrap();
    let told = records
        .iter()
        .any(|r| r.starts_with("klieo_runtime") && r.contains("exception"));
    assert!(told, "the failed attempt's `exception` event: {records:?}");
}
