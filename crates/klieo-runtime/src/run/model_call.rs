//! A run's model calls: `complete` and opening a stream, under the retry
//! policy and within its total budget, each failed attempt a fact of the
//! run.

use super::Run;
use crate::fact::Fact;
use crate::race::race;
use crate::stream::{whole_reply, ChunkPump, PumpEvent};
use klieo_retry::{retry_notify, RetryDecision, RetryError, RetryPolicy};
use klieo_types::{ChatRequest, ChatResponse, Episode, Error, LlmError, TimeLimit, ToolChoice};
use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use tokio::time::{Duration, Instant};
use tracing::{Instrument, Span};

/// What cuts a model call off (see `Run::deadline`).
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// The budget's working time ran out.
    Time,
    /// The call's reservation on its key lapsed, after this long.
    Reservation(Duration),
}

/// How opening a stream failed: before the call was made or answered
/// (`Init`, which the first cycle returns from `run_steps_streaming`
/// itself), or in the stream's first item after retries (`InBand`).
pub(crate) enum OpenFailure {
    Init(Error),
    InBand(Error),
}

/// A stream failure seen while opening it, for the retry classifier.
enum OpenError {
    Init(LlmError),
    FirstItem(LlmError),
}

impl OpenError {
    fn llm(&self) -> &LlmError {
        match self {
            OpenError::Init(e) | OpenError::FirstItem(e) => e,
        }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.llm().fmt(f)
    }
}

/// `call`, or the budget's timeout (as `E`, by `wrap`) if it is still
/// running when `budget` ends (see [`race`]: a call done at once makes
/// no timer).
async fn within<T, E>(
    budget: Option<(Instant, Duration)>,
    call: impl Future<Output = Result<T, E>>,
    wrap: impl FnOnce(LlmError) -> E,
) -> Result<T, E> {
    let Some((end, length)) = budget else {
        return call.await;
    };
    // No token is raced: a call not done ran past the budget.
    match race(pin!(call), Some(end), None).await.done() {
        Some(done) => done,
        None => Err(wrap(LlmError::timeout(TimeLimit::RetryBudget, length))),
    }
}

/// The retry classifier for model calls: transient errors are retried,
/// after the server's requested delay when it gave one. The run's own
/// limits passing (the retry budget, a key's reservation) are not: the
/// deadline of a retry would have passed as well.
pub(crate) fn classify(error: &LlmError) -> RetryDecision {
    let own_limit = matches!(
        error,
        LlmError::Timeout {
            limit: TimeLimit::RetryBudget | TimeLimit::KeyReservation,
            ..
        }
    );
    if own_limit || !error.retryable() {
        RetryDecision::Stop
    } else if let Some(delay) = error.retry_after() {
        RetryDecision::RetryAfter(delay)
    } else {
        RetryDecision::Retry
    }
}

impl Run {
    /// The model call of cycle `step` replied `reply` after `latency`
    /// (told by `span`): emits what its client says came first (a wait
    /// for a rate limit, each provider a client of several passed over),
    /// then the reply, and appends their episodes, the journal's view of
    /// the reply, to `episodes`.
    pub(crate) fn reply_ended(
        &self,
        step: u32,
        reply: &ChatResponse,
        latency: Duration,
        span: &Span,
        episodes: &mut Vec<Episode>,
    ) {
        if let Some(usage) = &reply.usage {
            self.input_reported(usage.input_tokens);
        }
        episodes.extend(self.prompt_at_unwritten());
        if let Some(info) = &reply.info {
            if let Some(wait) = &info.rate_wait {
                episodes.extend(self.emit(Fact::RateLimitWaited { step, wait }).episode);
            }
            for switch in &info.switches {
                episodes.extend(self.emit(Fact::ProviderSwitched { step, switch }).episode);
            }
        }
        let settled = self.budgeted().then(|| {
            let mut spend = self.lock_spend();
            let settled = spend.settle(&self.opts.budget, reply);
            (settled, spend.report())
        });
        // A child under its caller's budget counts the call there too;
        // its log keeps what the call was counted as, for the caller.
        let covered = self.covered().and_then(|covered| covered.settle(reply));
        let counted = match (settled.as_ref().map(|(own, _)| own), covered.as_ref()) {
            // Priced by the caller when the run's own budget prices nothing.
            (Some(own), Some(caller)) if own.cost_micros.is_none() => Some(caller),
            (own, caller) => own.or(caller),
        };
        let ended = self.emit(Fact::ModelCallEnded {
            step,
            reply,
            latency,
            span,
            spend: counted,
        });
        if let Some((settled, spent)) = &settled {
            let _ = self.emit(Fact::BudgetSettled {
                step,
                settled,
                spent,
                span,
            });
        }
        episodes.extend(ended.episode);
    }

    /// One attempt of a model call failed; `retried` when another follows.
    fn attempt_failed(&self, error: &LlmError, retried: bool) {
        let _ = self.emit(Fact::AttemptFailed { error, retried });
    }

    /// The end of a model call's retry budget, when it has one: from now,
    /// less `question`, the time the run's client took to say its window
    /// for this call, the first (it is part of making the call; what the
    /// run did between, such as compacting its thread, is not).
    fn budget(&self, question: Option<Duration>) -> Option<(Instant, Duration)> {
        let budget = self.opts.retry.total_budget()?;
        let now = Instant::now();
        let began = match question {
            Some(question) => now.checked_sub(question).unwrap_or(now),
            None => now,
        };
        // A budget past what the clock can hold is no budget.
        Some((began.checked_add(budget)?, budget))
    }

    /// The retry policy of a call whose client took `question` to say its
    /// window: the policy counts its budget from the first attempt, so the
    /// question's time is taken off it (`shortened` holds it), and no
    /// retry is made that the call's budget has no room for.
    fn policy<'a>(
        &'a self,
        question: Option<Duration>,
        shortened: &'a mut Option<RetryPolicy>,
    ) -> &'a RetryPolicy {
        let policy = &self.opts.retry;
        match (question, policy.total_budget()) {
            (Some(question), Some(budget)) => shortened.insert(
                policy
                    .clone()
                    .with_total_budget(Some(budget.saturating_sub(question))),
            ),
            _ => policy,
        }
    }

    /// When a model call must end, and why: the budget's working time
    /// runs out, or the call's reservation on its key lapses (whichever
    /// comes first); `None` when neither applies.
    fn deadline(&self) -> Option<(Instant, Cut)> {
        if self.opts.budget.time().is_none() && self.opts.budget.key().is_none() {
            return None;
        }
        let spend = self.lock_spend();
        // A limit past what the clock can hold is no limit.
        let time = self.opts.budget.time().and_then(|max| {
            let at = self.began.checked_add(max.saturating_sub(spend.logged()))?;
            Some((at, Cut::Time))
        });
        let held = spend
            .held()
            .map(|hold| (hold.until, Cut::Reservation(hold.ttl)));
        match (time, held) {
            (Some(time), Some(held)) => Some(if held.0 < time.0 { held } else { time }),
            (time, held) => time.or(held),
        }
    }

    /// What `call` (a model call's attempts, pinned where its caller made
    /// them) gives, or the error it is cut off with when the budget's time
    /// runs out first (`Error::BudgetExceeded`) or its key's reservation
    /// lapses (a timeout). A run with neither awaits `call`: no race, no
    /// timer.
    async fn in_time<T>(&self, call: Pin<&mut impl Future<Output = T>>) -> Result<T, Error> {
        let Some((deadline, cut)) = self.deadline() else {
            return Ok(call.await);
        };
        // No token is raced: a call not done ran past the deadline.
        race(call, Some(deadline), None)
            .await
            .done()
            .ok_or_else(|| match cut {
                Cut::Time => {
                    let worked = self.began.elapsed();
                    self.lock_spend().out_of_time(&self.opts.budget, worked)
                }
                Cut::Reservation(ttl) => {
                    Error::Llm(LlmError::timeout(TimeLimit::KeyReservation, ttl))
                }
            })
    }

    /// `complete` under the retry policy, within its budgets, its attempts
    /// and their failures told within `span`.
    pub(crate) async fn complete(
        &self,
        req: &ChatRequest,
        span: &Span,
    ) -> Result<ChatResponse, Error> {
        let question = self.window_asked();
        let budget = self.budget(question);
        let mut shortened = None;
        let policy = self.policy(question, &mut shortened);
        let call = || {
            within(
                budget,
                self.ctx.llm.complete(req.clone()),
                std::convert::identity,
            )
        };
        let retried = |error: &LlmError, _| self.attempt_failed(error, true);
        let cancel = &self.ctx.cancel;
        let mut attempts = pin!(retry_notify(policy, cancel, classify, retried, call));
        // Within the call's span, polled where it is pinned: instrumenting
        // the attempts themselves would move them (see docs/PERFORMANCE.md).
        let mut in_span = attempts.as_mut().instrument(span.clone());
        let outcome = self.in_time(Pin::new(&mut in_span)).await?;
        if let Err(RetryError::Failed(e)) = &outcome {
            let _in_call = span.enter();
            self.attempt_failed(e, false);
        }
        outcome.map_err(|e| e.into_inner().map_or(Error::Cancelled, Error::Llm))
    }

    /// Opens the cycle's stream and pulls its first event.
    ///
    /// A request that lets the model choose tools (`tool_choice` auto, or
    /// none given) on a provider that cannot stream such calls
    /// ([`Capabilities::streamed_auto_tool_calls`], or an `Unsupported`
    /// answer to the stream) is sent blocking, and its reply relayed as
    /// chunks: the model keeps its choice, and the consumer gets the same
    /// items, only not token by token. Forcing a tool instead would change
    /// what the model is asked.
    ///
    /// [`Capabilities::streamed_auto_tool_calls`]: klieo_types::Capabilities::streamed_auto_tool_calls
    pub(crate) async fn open_stream(
        &self,
        req: &ChatRequest,
    ) -> Result<(ChunkPump, PumpEvent), OpenFailure> {
        if !self.streams(req) {
            return self.open_blocking(req).await;
        }
        let model_chooses = model_chooses(req);
        match self.open_streamed(req).await {
            Ok((_, PumpEvent::Failed(Error::Llm(LlmError::Unsupported(_)))))
            | Err(OpenFailure::Init(Error::Llm(LlmError::Unsupported(_))))
                if model_chooses =>
            {
                // Sent blocking after all: its span (the current one) says
                // so.
                Span::current().record("gen_ai.request.stream", false);
                self.open_blocking(req).await
            }
            opened => opened,
        }
    }

    /// Whether a streamed cycle's `req` goes out streamed: not on a
    /// provider that does not stream, nor one that lets the model choose
    /// tools on a provider that cannot stream such calls (see
    /// [`open_stream`](Self::open_stream)); those are sent blocking.
    pub(crate) fn streams(&self, req: &ChatRequest) -> bool {
        let caps = self.ctx.llm.capabilities();
        caps.streaming() && (!model_chooses(req) || caps.streamed_auto_tool_calls())
    }

    /// A blocking call under the retry policy, its reply as a stream.
    async fn open_blocking(
        &self,
        req: &ChatRequest,
    ) -> Result<(ChunkPump, PumpEvent), OpenFailure> {
        let reply = self
            .complete(req, &Span::current())
            .await
            .map_err(OpenFailure::Init)?;
        let mut pump = ChunkPump::new(
            whole_reply(reply),
            self.ctx.cancel.clone(),
            self.opts.max_response_bytes,
        );
        let first = pump.next_event().await;
        Ok((pump, first))
    }

    /// Opens a stream under the retry policy and pulls its first event,
    /// within the budget's time (a reply being streamed is not cut: its
    /// idle and request timeouts bound it). A retryable failure before
    /// the first chunk is retried like an init error; the consumer has
    /// seen nothing yet.
    async fn open_streamed(
        &self,
        req: &ChatRequest,
    ) -> Result<(ChunkPump, PumpEvent), OpenFailure> {
        let cancel = &self.ctx.cancel;
        let question = self.window_asked();
        let budget = self.budget(question);
        let mut shortened = None;
        let policy = self.policy(question, &mut shortened);
        let attempt = || async {
            let stream = self
                .ctx
                .llm
                .stream(req.clone())
                .await
                .map_err(OpenError::Init)?;
            let mut pump = ChunkPump::new(stream, cancel.clone(), self.opts.max_response_bytes);
            match pump.next_event().await {
                PumpEvent::Failed(Error::Llm(e)) if e.retryable() => Err(OpenError::FirstItem(e)),
                first => Ok((pump, first)),
            }
        };
        let bounded = || within(budget, attempt(), OpenError::Init);
        let retried = |e: &OpenError, _| self.attempt_failed(e.llm(), true);
        let attempts = pin!(retry_notify(
            policy,
            cancel,
            |e| classify(e.llm()),
            retried,
            bounded
        ));
        let outcome = self.in_time(attempts).await.map_err(OpenFailure::Init)?;
        match &outcome {
            // Sent blocking instead (`open_stream`): no attempt failed.
            Err(RetryError::Failed(OpenError::Init(LlmError::Unsupported(_))))
                if model_chooses(req) => {}
            Err(RetryError::Failed(e)) => self.attempt_failed(e.llm(), false),
            _ => {}
        }
        match outcome {
            Ok(opened) => Ok(opened),
            Err(RetryError::Failed(OpenError::FirstItem(e))) => {
                Err(OpenFailure::InBand(Error::Llm(e)))
            }
            Err(e) => Err(OpenFailure::Init(match e.into_inner() {
                Some(OpenError::Init(e) | OpenError::FirstItem(e)) => Error::Llm(e),
                None => Error::Cancelled,
            })),
        }
    }
}

/// Whether `req` lets the model choose among tools (`tool_choice` auto, or
/// none given).
fn model_chooses(req: &ChatRequest) -> bool {
    !req.tools.is_empty() && matches!(req.tool_choice, None | Some(ToolChoice::Auto))
}
