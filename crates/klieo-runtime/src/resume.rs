//! Resuming a run whose process stopped: the journal tells where it was.
//!
//! Completed model calls are not asked again, and recorded tool results
//! are not run again. The tools of a step that was pending (its reply
//! written down, not all its results) are settled first: a call whose
//! result is in the log keeps it, an idempotent tool's call without one
//! runs again with the same call id, a call of a tool a person watches
//! waits for them to settle it (see `in_doubt`), any other is reported to
//! the model as interrupted with an unknown outcome. Then the loop goes on
//! from the next step. The log gains one `Resumed` episode and otherwise
//! reads as if the run had not stopped.

use crate::approval::{self, Decisions};
use crate::context::AgentContext;
use crate::dispatch::{bounded, dispatch_tools, result_text, PreparedCalls};
use crate::engine::{start_with, Engine, Mode};
use crate::fact::{Fact, ToolCallEnd};
use crate::in_doubt;
use crate::journal::Memories;
use crate::options::RunOptions;
use crate::run::{Extras, Run};
use klieo_types::{
    Episode, Error, Journal, Message, PendingStep, RunId, RunRecord, ToolCall, ToolOutcome,
};
use std::sync::Arc;

fn not_resumable(run: RunId, reason: impl Into<String>) -> Error {
    Error::NotResumable {
        run,
        reason: reason.into(),
    }
}

/// The journal of `memories`, or why the run `run` cannot be resumed
/// without one.
pub(crate) fn journal_of(memories: &Memories, run: RunId) -> Result<Arc<dyn Journal>, Error> {
    memories.journal_ref().cloned().ok_or_else(|| {
        not_resumable(
            run,
            "the context's memories are not a journal: give the agent one store \
             that is (with_memory(store), such as klieo_sqlite::SqliteStore)",
        )
    })
}

/// What `journal` holds of `run`, or why it cannot be resumed.
pub(crate) async fn record_of(journal: &dyn Journal, run: RunId) -> Result<RunRecord, Error> {
    journal.run(run).await?.ok_or_else(|| {
        not_resumable(
            run,
            "its store has no record of it: was it started on this store?",
        )
    })
}

/// Continues the run `ctx.run_id()` (on the thread its journal recorded) to
/// its answer.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// use klieo_runtime::{resume_steps, AgentContext, RunOptions};
/// use klieo_types::testing::ScriptedLlm;
/// use klieo_types::Error;
///
/// // In-memory memories are not a journal: there is nothing to resume from.
/// let ctx = AgentContext::new(ScriptedLlm::new());
/// let err = resume_steps(&ctx, "", RunOptions::default()).await.unwrap_err();
/// assert!(matches!(err, Error::NotResumable { .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn resume_steps(
    ctx: &AgentContext,
    system_prompt: &str,
    opts: RunOptions,
) -> Result<String, Error> {
    let journal = journal_of(&ctx.memories, ctx.run_id)?;
    let record = record_of(journal.as_ref(), ctx.run_id).await?;
    let run = Run::new(
        ctx.clone(),
        system_prompt,
        record.thread,
        opts,
        Extras::default(),
    )?;
    resume_run(Arc::new(run), journal, Why::Restart).await
}

/// Why a run is taken up again.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    /// Its process stopped; the log gains `Resumed`.
    Restart,
    /// A person decided the call it waited on.
    Decision,
    /// Another agent of its team handed it to this one.
    Handoff,
}

/// [`resume_steps`] for a run already built on the recorded thread, to
/// its answer.
pub(crate) async fn resume_run(
    run: Arc<Run>,
    journal: Arc<dyn Journal>,
    why: Why,
) -> Result<String, Error> {
    resume_engine(run, journal, why, Mode::Blocking)
        .await?
        .finish()
        .await
}

/// Takes the run up again from what `journal` holds: checks that it can
/// go on, then starts the engine in `mode` with the settling of its
/// pending step (and, after a restart, its `Resumed`) as the prelude.
pub(crate) async fn resume_engine(
    run: Arc<Run>,
    journal: Arc<dyn Journal>,
    why: Why,
    mode: Mode,
) -> Result<Engine, Error> {
    let prepared = prepare(&run, journal.as_ref()).await;
    let Prepared {
        episodes,
        steps,
        pending,
        seen,
        decisions,
    } = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            // Not taken up (it ended, its log cannot be read): its span
            // ends with why, as a failed run's does (one still waiting for
            // a person is not refused: see the spans' view).
            let _ = run.emit(Fact::NotStarted { error: &e });
            if why == Why::Decision {
                // The lease taken to record the decision is let go: the
                // run is for whoever takes it up next.
                let _ = journal.release(run.ctx.run_id, run.holder()).await;
            }
            return Err(e);
        }
    };
    let prelude = move |run: Arc<Run>| async move {
        let mut expected = Some(seen);
        if why == Why::Handoff {
            run.fence_at(seen);
        }
        if why == Why::Restart {
            // The pending step stays pending: this commit states it again.
            let resumed = run.emit(Fact::Resumed { steps });
            let mut resumed = run
                .commit()
                .with_episodes(resumed.episode.into_iter().collect())
                .with_expected_episodes(seen);
            resumed.pending.clone_from(&pending);
            run.write(&mut resumed).await?;
            expected = None;
        }
        let mut step = steps;
        if let Some(pending) = pending {
            step = pending.step;
            let recorded = recorded_results(&episodes, step);
            settle(&run, pending, &decisions, &recorded, expected).await?;
        }
        Ok(step)
    };
    let (id, holder) = (run.ctx.run_id, run.holder().to_owned());
    let started = start_with(run, mode, prelude).await;
    // The engine gives up the lease it held; one it could not take over
    // is let go here (giving up twice is harmless), unless a write to the
    // store failed: then it runs out, as the engine's does.
    if let Err(e) = &started {
        if why == Why::Decision && !matches!(e, Error::Memory(_)) {
            let _ = journal.release(id, &holder).await;
        }
    }
    started
}

/// The results the log holds of step `step`'s calls, by call id.
fn recorded_results(episodes: &[Episode], step: u32) -> Vec<(&str, &ToolOutcome)> {
    episodes
        .iter()
        .filter_map(|e| match e {
            Episode::ToolCall {
                step: of,
                call_id,
                result,
                ..
            } if *of == step => Some((&**call_id, result)),
            _ => None,
        })
        .collect()
}

/// Finishes a pending step's tool calls and writes the step whole. A call
/// whose result is `recorded` keeps it. A step that waited for approval
/// runs every call not denied (none had run); a step whose process
/// stopped runs again only its idempotent calls without a result.
///
/// `expected` fences the step's first write when nothing else did.
async fn settle(
    run: &Run,
    pending: PendingStep,
    decisions: &Decisions,
    recorded: &[(&str, &ToolOutcome)],
    expected: Option<u64>,
) -> Result<(), Error> {
    let PendingStep {
        step,
        reply,
        started,
        ..
    } = pending;
    if !started {
        // From here on the tools may have run.
        let mut dispatching = run
            .commit()
            .with_pending(PendingStep::new(step, reply.clone()));
        dispatching.expected_episodes = expected;
        run.write(&mut dispatching).await?;
    }
    let tools = &run.ctx.tools;
    let result_of = |call: &ToolCall| {
        let found = recorded.iter().find(|(id, _)| **id == *call.id);
        found.map(|(_, outcome)| *outcome)
    };
    let runs_now = |call: &ToolCall| {
        result_of(call).is_none()
            && decisions.denial(&call.id).is_none()
            && decisions.settlement(&call.id).is_none()
            && (!started || tools.policy(&call.name).idempotent())
    };
    let mut now: Vec<ToolCall> = reply
        .tool_calls
        .iter()
        .filter(|c| runs_now(c))
        .cloned()
        .collect();
    let (mut ran_messages, mut ran_episodes) = (Vec::new(), Vec::new());
    let args = PreparedCalls::prepare(&mut now, tools.as_ref());
    let mut dispatched =
        dispatch_tools(run, step, &now, args, &mut ran_messages, &mut ran_episodes).await;
    if let Some(stopped) = dispatched
        .stop_if_waiting(run, step, &now, &mut ran_episodes)
        .await
    {
        // A call waits with another run for a person (again): the step
        // stays open.
        return Err(stopped);
    }
    let mut ran_messages = ran_messages.into_iter();
    let mut messages = Vec::with_capacity(1 + reply.tool_calls.len());
    let mut episodes = Vec::with_capacity(reply.tool_calls.len());
    for call in &reply.tool_calls {
        if let Some(outcome) = result_of(call) {
            // In the log already: the model gets the result it had.
            let _ = run.emit(Fact::ToolResultRead {
                step,
                call,
                outcome,
            });
            messages.push(Message::tool_result(call.id.clone(), result_text(outcome)));
            continue;
        }
        if runs_now(call) {
            messages.extend(ran_messages.next());
            // A call not started (another failed for good) has no episode.
            let ran = ran_episodes.iter().position(
                |e| matches!(e, Episode::ToolCall { call_id, .. } if *call_id == call.id),
            );
            if let Some(index) = ran {
                episodes.push(ran_episodes.remove(index));
            }
            continue;
        }
        let outcome = match (decisions.denial(&call.id), decisions.settlement(&call.id)) {
            (Some(reason), _) => ToolOutcome::Denied {
                reason: reason.to_owned(),
            },
            // What a person said the call in doubt did.
            (None, Some(settled)) => settled.clone(),
            (None, None) => ToolOutcome::Interrupted,
        };
        // A person's words are bounded as a tool's are.
        let (outcome, text) = bounded(outcome, run.opts.max_tool_result_bytes);
        messages.push(Message::tool_result(call.id.clone(), text));
        let never_ran = run.emit(Fact::ToolCallEnded(ToolCallEnd {
            step,
            // After the calls that ran again, as the log has them.
            index: usize::MAX,
            call,
            args: call.recorded_arguments(),
            outcome,
            error_kind: None,
            latency_ms: 0,
            span: None,
        }));
        episodes.extend(never_ran.episode);
    }
    // A hand-off is written with the step that asked for it.
    let handoff = run.handoff_unless_failed(&reply.tool_calls, dispatched.fatal.as_ref());
    let mut all = Vec::with_capacity(1 + messages.len());
    all.push(reply);
    all.extend(messages);
    let commit = run.commit().with_messages(all).with_episodes(episodes);
    dispatched.write_step(run, commit, handoff).await
}

/// What a run taken up read of its journal, checked (see [`prepare`]).
struct Prepared {
    episodes: Vec<Episode>,
    steps: u32,
    pending: Option<PendingStep>,
    seen: u64,
    decisions: Decisions,
}

/// Reads `run`'s log and pending step from `journal` and checks that it
/// can go on: not ended, and its open step's calls no longer waiting on
/// a person (else the wait is recorded and is the error).
async fn prepare(run: &Run, journal: &dyn Journal) -> Result<Prepared, Error> {
    let id = run.ctx.run_id;
    let episodes = journal.replay(id).await?;
    match episodes.last() {
        Some(Episode::Completed { .. }) => {
            return Err(not_resumable(
                id,
                "it already completed; its answer is in its thread",
            ))
        }
        Some(Episode::Failed { error }) => {
            return Err(not_resumable(
                id,
                format!("it already ended without an answer ({error}); start a new run"),
            ))
        }
        None => return Err(not_resumable(id, "it has no episodes in its store")),
        Some(_) => {}
    }
    let pending = journal.pending(id).await?;
    run.take_up_from_log(&episodes, pending.as_ref()).await?;
    // A compaction that failed is not tried again by the run, taken up or
    // not.
    if episodes
        .iter()
        .any(|e| matches!(e, Episode::CompactionFailed { .. }))
    {
        run.give_up_compaction();
    }
    let steps = episodes
        .iter()
        .filter(|e| matches!(e, Episode::LlmCall { .. }))
        .count();
    let steps = u32::try_from(steps).unwrap_or(u32::MAX);
    run.set_pending(pending.clone());
    // Every process acting on what it read here expects the log as read:
    // of two resuming (or deciding) at once, the first write of one wins
    // and the other's is refused before anything runs.
    let seen = u64::try_from(episodes.len()).unwrap_or(u64::MAX);
    let decisions = Decisions::of_last_step(&episodes);
    if let Some(waiting) = pending.as_ref().filter(|p| !p.started) {
        approval::still_waiting(run, waiting, &decisions, &episodes, seen).await?;
    }
    if let Some(started) = pending.as_ref().filter(|p| p.started) {
        let recorded = recorded_results(&episodes, started.step);
        in_doubt::still_in_doubt(run, started, &decisions, &recorded, &episodes, seen).await?;
    }
    Ok(Prepared {
        episodes,
        steps,
        pending,
        seen,
        decisions,
    })
}
