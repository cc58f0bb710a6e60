//! [`run_steps_streaming`]: a run's chunks as they arrive, from the
//! engine (`engine.rs`) in streamed mode, driven by the consumer's polls.

use crate::context::AgentContext;
use crate::engine::{start, Engine, Mode};
use crate::options::RunOptions;
use crate::run::{Extras, Run};
use crate::summary::RunEvent;
use futures_core::Stream;
use klieo_types::{ChatChunk, ChunkStream, Error, LlmError, ThreadId};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Runs the agent like [`run_steps`](crate::run_steps), handing out the
/// model's chunks as they arrive, across every cycle of the run (after a
/// round of tool calls, the next cycle's chunks follow on the same stream).
///
/// # Terminal-error contract
///
/// On any ending other than an answer, the stream yields exactly one last
/// `Err` item, then ends:
///
/// - cancellation through `ctx.cancel()` → `LlmError::Cancelled`;
/// - the consumer dropped the stream → nobody is left to see an item; the
///   run stops and records `Episode::Failed { error: "consumer-dropped" }`
///   (after an `LlmCall` finished `interrupted` for the call it cut off),
///   or `"cancelled"` when `ctx.cancel()` had fired;
/// - `max_steps` reached → `LlmError::Server` with message
///   `"max steps exceeded: N"`;
/// - a tool failed for good → `LlmError::Server` with message `"tool: …"`;
/// - a provider error mid-stream → that `LlmError`, its variant kept;
/// - a reply over `max_response_bytes` → `LlmError::Server` with message
///   `"response exceeded max_response_bytes cap"`;
/// - a guardrail refusal or hand-off → `LlmError::Server` with message
///   `"refused: …"` / `"handoff to AGENT: …"`.
///
/// Those `Server` items are the run's own endings, not the provider's:
/// each carries the run's typed [`Error`] in its `cause` field (also its
/// `source()`, and [`LlmError::cause`]), and is exactly as retryable as
/// that cause, so a tool failure or max steps is never `retryable()`.
/// [`Agent::stream`](crate::Agent::stream) hands out the typed `Error`
/// itself.
///
/// An error while opening the first cycle's stream that retrying cannot
/// fix (`Unauthorized`, say) is returned by this function itself, so
/// `let stream = run_steps_streaming(..).await?;` sees it; in later cycles
/// it arrives as the terminal item. A retryable provider error before the
/// first chunk of a cycle reached the consumer is retried like an init
/// error, under `opts.retry`; after that it is forwarded, never replayed.
///
/// # Episodes
///
/// As in a blocking run: `Started`, one `LlmCall` per cycle (with the
/// provider's token usage when it reported any, `null` when not), one
/// `ToolCall` per tool call, `Completed`; a failed run records `Failed`
/// with the texts of [`terminal_for`](crate::terminal_for): `cancelled`,
/// `consumer-dropped`, `max steps exceeded: N`, and so on. Every episode of
/// the run is recorded before the stream yields its last item.
///
/// # Back-pressure and cost
///
/// The loop runs inside the returned stream, in the consumer's task: no
/// task is spawned and no channel sits between provider and consumer. The
/// provider's stream is polled only when the consumer asks for the next
/// item, so a slow consumer slows the provider down; cancellation is
/// raced against a provider that is waiting.
///
/// ```
/// use klieo_runtime::{run_steps_streaming, AgentContext, RunOptions};
/// use klieo_types::testing::{text_chunks, ScriptedLlm};
/// use klieo_types::{Message, ThreadId};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let llm = ScriptedLlm::new().then_chunks(text_chunks(&["Hel", "lo"], None));
/// let ctx = AgentContext::new(llm);
/// let thread = ThreadId::new("t");
/// ctx.short_term().append(&thread, vec![Message::user("Hi")]).await?;
///
/// let mut stream = run_steps_streaming(&ctx, "", thread, RunOptions::default()).await?;
/// let mut text = String::new();
/// // With `use klieo::prelude::*` (which has `StreamExt`): `stream.next().await`.
/// while let Some(chunk) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
///     text.push_str(&chunk?.delta);
/// }
/// assert_eq!(text, "Hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn run_steps_streaming(
    ctx: &AgentContext,
    system_prompt: &str,
    thread: ThreadId,
    opts: RunOptions,
) -> Result<ChunkStream, Error> {
    let run = Run::new(ctx.clone(), system_prompt, thread, opts, Extras::default())?;
    Ok(Box::pin(Chunks(
        start(Arc::new(run), None, Mode::Streamed).await?,
    )))
}

/// What the run's stream hands out: the model's chunks and, when the run
/// queues them, its other events.
pub(crate) enum Item {
    Chunk(ChatChunk),
    Event(RunEvent),
}

/// How a streamed run ended without an answer: the run's own error, and
/// the terminal item of the chunk-stream contract (both recorded as
/// `Failed` before they are handed out).
pub(crate) struct Ended {
    pub(crate) error: Error,
    pub(crate) item: LlmError,
}

/// The chunk stream of [`run_steps_streaming`]: the chunks, and the
/// terminal item of the contract.
struct Chunks(Engine);

impl Stream for Chunks {
    type Item = Result<ChatChunk, LlmError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let inner = &mut self.get_mut().0;
        loop {
            return match Pin::new(&mut *inner).poll_next(cx) {
                Poll::Ready(Some(Ok(Item::Chunk(chunk)))) => Poll::Ready(Some(Ok(chunk))),
                Poll::Ready(Some(Ok(Item::Event(_)))) => continue,
                Poll::Ready(Some(Err(ended))) => Poll::Ready(Some(Err(ended.item))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}
