//! What a tool call's result becomes: the text the model reads, and the
//! episode the log records, written as soon as the result is in when
//! other calls of the step still run.

use crate::run::Run;
use klieo_types::{Episode, Error, ToolOutcome};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// What the model is told of a call that may or may not have had its effect.
const INTERRUPTED: &str = "error: the run was interrupted while this tool ran, and \
     it was not run again because it is not idempotent: whether it had its effect is unknown; \
     check before calling it again";

/// The result a call stopped by cancellation leaves in the thread.
const CANCELLED: &str = "error: cancelled, because the run was cancelled";

/// The text the model reads as a call's result: the same for a result
/// just in and for one read back from the log by a resumed run.
pub(crate) fn result_text(outcome: &ToolOutcome) -> String {
    match outcome {
        ToolOutcome::Ok {
            output: Value::String(text),
        } => text.clone(),
        // `to_string` starts its buffer at 128 bytes; `Display` grows one
        // from nothing.
        ToolOutcome::Ok { output } => serde_json::to_string(output).unwrap_or_default(),
        ToolOutcome::Error { message } => format!("error: {message}"),
        ToolOutcome::Cancelled => CANCELLED.to_owned(),
        ToolOutcome::Interrupted => INTERRUPTED.to_owned(),
        ToolOutcome::Denied { reason } => {
            format!("error: a person denied this call, so it did not run: {reason}")
        }
        _ => {
            "error: this call's outcome is of a kind this version of klieo does not know".to_owned()
        }
    }
}

type Write<'a> = Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'a>>;

/// Writes the episodes of calls that ended while others of their step
/// still run, so a crash before the step's end loses none of their
/// results. One write at a time: results that end during a write go in
/// the next. What is never written here goes in the step's own commit.
///
/// Only a run whose memories are a journal writes early: memories that
/// die with the process have no crash to survive, and their log keeps the
/// model's order.
pub(super) struct EarlyResults<'a> {
    run: &'a Run,
    enabled: bool,
    /// Ended, not yet written: (call index, episode).
    queue: Vec<(usize, Episode)>,
    writing: Option<(Vec<usize>, Write<'a>)>,
    /// By call index: whether its episode is in the log.
    written: Vec<bool>,
    /// The first write that failed (its episodes stay unwritten).
    pub(super) failed: Option<Error>,
}

impl<'a> EarlyResults<'a> {
    pub(super) fn new(run: &'a Run, calls: usize) -> Self {
        let enabled = run.journaled();
        Self {
            run,
            enabled,
            queue: Vec::new(),
            writing: None,
            // Nothing is written early without a journal.
            written: if enabled {
                vec![false; calls]
            } else {
                Vec::new()
            },
            failed: None,
        }
    }

    /// Queues the episode of call `index` to be written.
    pub(super) fn push(&mut self, index: usize, episode: Episode) {
        if self.enabled {
            self.queue.push((index, episode));
        }
    }

    /// Whether results are written early (the run has a journal).
    pub(super) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Leaves what is queued to the step's commit.
    pub(super) fn leave_queued(&mut self) {
        self.queue.clear();
    }

    /// Whether call `index`'s episode is in the log.
    pub(super) fn written(&self, index: usize) -> bool {
        self.written.get(index).copied().unwrap_or(false)
    }

    /// Drives the writes: ready when none is in flight and nothing is
    /// queued (or a write failed, which stops further ones).
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if let Some((indices, write)) = &mut self.writing {
                let Poll::Ready(result) = write.as_mut().poll(cx) else {
                    return Poll::Pending;
                };
                match result {
                    Ok(()) => {
                        for &index in indices.iter() {
                            if let Some(slot) = self.written.get_mut(index) {
                                *slot = true;
                            }
                        }
                    }
                    Err(e) => {
                        self.failed.get_or_insert(e);
                    }
                }
                self.writing = None;
            }
            if self.queue.is_empty() || self.failed.is_some() {
                return Poll::Ready(());
            }
            let mut queued = std::mem::take(&mut self.queue);
            queued.sort_by_key(|(index, _)| *index);
            let (indices, episodes) = queued.into_iter().unzip();
            let run = self.run;
            self.writing = Some((indices, Box::pin(run.record_all(episodes))));
        }
    }
}
