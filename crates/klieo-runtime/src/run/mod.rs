//! [`Run`]: the state one run shares between its steps, and the steps'
//! common parts: building a request and recording episodes. Calling the
//! model under the retry policy is `model_call`'s.

mod model_call;

pub(crate) use model_call::{OpenFailure, ReplyEpisodes};

use crate::context::AgentContext;
use crate::fact::{Emitted, Fact};
use crate::guardrail::check_pre_llm;
use crate::options::Budget;
use crate::options::RunOptions;
use crate::output::OutputSpec;
use crate::repeats::Repeats;
use crate::spend::Spend;
use crate::stream::terminal_for;
use crate::summary::Progress;
use crate::telemetry;
use klieo_types::{
    ChatRequest, Commit, Episode, Error, Journal, LlmError, Message, PendingStep, Role, RunId,
    ThreadId, ToolChoice, Transcript,
};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tracing::Span;

/// One run's context, options and thread, shared by its steps.
pub(crate) struct Run {
    pub(crate) ctx: AgentContext,
    pub(crate) opts: RunOptions,
    pub(crate) thread: ThreadId,
    /// The system prompt, as the start of every request (one shared
    /// block, so a request copies no message of it).
    system: Transcript,
    run_id: String,
    pub(crate) span: Span,
    /// The tally of steps and tool calls, and events for a consumer.
    pub(crate) progress: Progress,
    /// The output a typed run must end with.
    output: Option<OutputSpec>,
    /// Answers of a typed run that did not fit, so far.
    repairs: AtomicU32,
    /// The tool calls made so far.
    pub(crate) repeats: Repeats,
    /// The pending step the last write left, which lone episodes keep.
    pending: Mutex<Option<PendingStep>>,
    /// How many episodes the run's journal holds, as this run last saw
    /// it: every write expects exactly that many (see [`Run::write`]).
    fence: Mutex<Fence>,
    /// Who this process is to the run's lease.
    holder: String,
    /// What the run spent against its budget (counted only when it has
    /// one, which `budgeted` says once).
    spend: Mutex<Spend>,
    budgeted: bool,
    /// When this process took the run up: its working time here, for a
    /// time limit.
    began: tokio::time::Instant,
}

/// What a run knows of its journal's episode count.
#[derive(Clone, Copy)]
enum Fence {
    /// Nothing: writes are not fenced (no journal, or a write's outcome
    /// unknown).
    Unknown,
    /// The journal holds this many of the run's episodes.
    Episodes(u64),
}

impl Fence {
    fn expected(self) -> Option<u64> {
        match self {
            Self::Unknown => None,
            Self::Episodes(n) => Some(n),
        }
    }
}

/// What a run does beyond the seed's loop.
#[derive(Default)]
pub(crate) struct Extras {
    /// Queue [`RunEvent`](crate::RunEvent)s for a consumer that wants more
    /// than chunks.
    pub(crate) events: bool,
    /// Keep a [`RunSummary`](crate::RunSummary) (an agent's runs; the
    /// low-level loops return none, so keep none).
    pub(crate) summary: bool,
    /// End with an answer of this shape.
    pub(crate) output: Option<OutputSpec>,
    /// Drive the run under this lease, which a worker's claim took: the
    /// holder it took it as, and its time to live (whatever the options
    /// say).
    pub(crate) lease: Option<(String, std::time::Duration)>,
}

/// What a typed run does with an answer.
pub(crate) enum Verdict {
    /// It fits (or the run is not typed).
    Fits,
    /// It does not; the model is asked again with this message.
    Repair(Message),
}

impl Run {
    /// A run of `ctx` on `thread`, shaped by `extras`; `Error::Config`
    /// when `opts` cannot work, before anything runs.
    pub(crate) fn new(
        ctx: AgentContext,
        system_prompt: &str,
        thread: ThreadId,
        opts: RunOptions,
        extras: Extras,
    ) -> Result<Self, Error> {
        let (opts, holder) = match extras.lease {
            Some((holder, ttl)) => (opts.with_lease_ttl(Some(ttl)), holder),
            None => (opts, format!("worker-{}", RunId::new())),
        };
        opts.validate()?;
        opts.budget.check_model(ctx.llm.model())?;
        // A leased run is stopped when its lease is lost, and only it.
        let ctx = match opts.lease_ttl {
            Some(_) => {
                let cancel = ctx.cancel.child_token();
                ctx.with_cancel(cancel)
            }
            None => ctx,
        };
        let run_id = ctx.run_id.to_string();
        let span = telemetry::run_span(&telemetry::RunLabels {
            agent: &ctx.agent_name,
            run_id: &run_id,
            thread: thread.as_str(),
            llm: ctx.llm.as_ref(),
        });
        let system_prompt = match &extras.output {
            Some(spec) => spec.instructions(system_prompt),
            None => system_prompt.to_owned(),
        };
        Ok(Self {
            progress: Progress::new(ctx.run_id, thread.clone(), extras.events, extras.summary),
            output: extras.output,
            repairs: AtomicU32::new(0),
            repeats: Repeats::default(),
            pending: Mutex::new(None),
            fence: Mutex::new(Fence::Unknown),
            holder,
            spend: Mutex::new(Spend::new(&opts.budget, ctx.llm.model())),
            began: tokio::time::Instant::now(),
            budgeted: opts.budget != Budget::default(),
            system: {
                let mut system = Transcript::new();
                if !system_prompt.is_empty() {
                    system.push_shared(Arc::new(Message::system(system_prompt)));
                }
                system
            },
            ctx,
            opts,
            thread,
            run_id,
            span,
        })
    }

    /// An empty commit for this run and its thread.
    pub(crate) fn commit(&self) -> Commit {
        Commit::new(self.ctx.run_id, self.thread.clone())
    }

    /// The output a typed run must end with.
    pub(crate) fn output(&self) -> Option<&OutputSpec> {
        self.output.as_ref()
    }

    /// Who this process is to the run's lease.
    pub(crate) fn holder(&self) -> &str {
        &self.holder
    }

    /// Whether the run writes to a journal.
    pub(crate) fn journaled(&self) -> bool {
        self.ctx.memories.journal_ref().is_some()
    }

    /// The journal the run writes to, if it writes to one.
    pub(crate) fn journal(&self) -> Option<Arc<dyn Journal>> {
        self.ctx.memories.journal_ref().cloned()
    }

    /// Writes `commit`: in one transaction when the memories are a journal,
    /// refused while another worker holds the run's lease.
    ///
    /// Fenced: once the run knows how many episodes its journal holds (a
    /// new run from its `Started`, a resumed or decided one from the log
    /// it read), every write expects exactly that many and is refused
    /// with `MemoryError::Conflict` otherwise, so a second process that
    /// took the run up meanwhile (a resume racing this one, leases or
    /// not) stops this one at its next write, before any tool of a new
    /// step runs. A commit that states its own expectation is fenced by
    /// it.
    pub(crate) async fn write(&self, mut commit: Commit) -> Result<(), Error> {
        // Only a journal keeps leases and counts episodes.
        if self.journaled() {
            if self.opts.lease_ttl.is_some() {
                commit.holder = Some(self.holder.clone());
            }
            if commit.expected_episodes.is_none() {
                commit.expected_episodes = self.lock_fence().expected();
            }
        }
        let after = commit
            .expected_episodes
            .map(|n| n.saturating_add(commit.episodes.len() as u64));
        // Separate memories keep no pending step: nothing to copy.
        let pending = if self.journaled() {
            commit.pending.clone()
        } else {
            commit.pending.take()
        };
        // A write abandoned mid-way (its future dropped) may or may not
        // be in, so the count is unknown until it returns; one that
        // failed wrote nothing.
        let before = std::mem::replace(&mut *self.lock_fence(), Fence::Unknown);
        if let Err(e) = self.ctx.memories.commit(commit).await {
            *self.lock_fence() = before;
            return Err(e.into());
        }
        *self.lock_fence() = after.map_or(Fence::Unknown, Fence::Episodes);
        *self.pending.lock().unwrap_or_else(PoisonError::into_inner) = pending;
        Ok(())
    }

    /// Starts the fence of a new run, whose journal holds none of its
    /// episodes yet.
    pub(crate) fn fence_new(&self) {
        *self.lock_fence() = Fence::Episodes(0);
    }

    fn lock_fence(&self) -> std::sync::MutexGuard<'_, Fence> {
        self.fence.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one episode, leaving the run's pending step as it is.
    pub(crate) async fn record(&self, episode: Episode) -> Result<(), Error> {
        self.record_all(vec![episode]).await
    }

    /// Records episodes in one commit, leaving the run's pending step as
    /// it is.
    pub(crate) async fn record_all(&self, episodes: Vec<Episode>) -> Result<(), Error> {
        let mut commit = self.commit().with_episodes(episodes);
        commit.pending = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        self.write(commit).await
    }

    /// The run's pending step as its journal now holds it (for a resumed
    /// run, as found there).
    pub(crate) fn set_pending(&self, pending: Option<PendingStep>) {
        *self.pending.lock().unwrap_or_else(PoisonError::into_inner) = pending;
    }

    /// Emits `fact` to the run's views: the user's (events and summary)
    /// and the spans' keep what they need of it at once; the journal's
    /// episode is handed back, for the caller to write in the commit the
    /// fact belongs to, and so is the span a fact that begins work opens.
    pub(crate) fn emit(&self, fact: Fact<'_>) -> Emitted {
        self.progress.observe(&fact);
        let span = self.tracer().observe(&fact);
        let episode = self.ctx.memories.episode(fact);
        Emitted { episode, span }
    }

    /// Records how the run ended without an answer (`Episode::Failed`, with
    /// the texts of [`terminal_for`], unless the run is left to be
    /// resumed) and returns the terminal item a streaming consumer sees. A
    /// failure to record is logged, not raised: the run's own error
    /// matters more.
    pub(crate) async fn record_failure(&self, error: &Error) -> LlmError {
        let terminal = terminal_for(error, self.ctx.cancel.is_cancelled());
        let failed = self.emit(Fact::Failed {
            error,
            terminal: &terminal,
        });
        if let Some(failed) = failed.episode {
            if let Err(e) = self.record(failed).await {
                tracing::warn!(run_id = self.run_id, error = %e, "could not record the run's failure");
            }
        }
        terminal.item
    }

    /// Checks a typed run's answer: fits, ask again, or (repairs used up)
    /// `Error::InvalidOutput`.
    pub(crate) fn judge(&self, answer: &str) -> Result<Verdict, Error> {
        let Some(spec) = &self.output else {
            return Ok(Verdict::Fits);
        };
        let Err(reason) = spec.check(answer) else {
            return Ok(Verdict::Fits);
        };
        let attempts = self.repairs.fetch_add(1, Ordering::Relaxed) + 1;
        if attempts > self.opts.output_repairs {
            return Err(Error::InvalidOutput {
                reason,
                reply: answer.to_owned(),
                attempts,
            });
        }
        Ok(Verdict::Repair(Message::user(spec.repair_prompt(&reason))))
    }

    pub(crate) fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Checks, before cycle `done + 1`, that the run may go on.
    pub(crate) fn check_next_step(&self, done: u32) -> Result<(), Error> {
        if self.ctx.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        if done >= self.opts.max_steps {
            return Err(Error::MaxStepsExceeded {
                steps: self.opts.max_steps,
            });
        }
        Ok(())
    }

    /// The request of cycle `step`: system prompt, the history that fits
    /// the budget, the tools and this cycle's tool choice; checked by the
    /// pre-LLM guardrails.
    pub(crate) async fn request(&self, step: u32) -> Result<ChatRequest, Error> {
        let history = self
            .ctx
            .short_term()
            .load(&self.thread, self.opts.max_history_tokens)
            .await?;
        if history.is_empty() {
            self.check_newest_turn_fits().await?;
        }
        let mut req = ChatRequest::new(Transcript::concat(&[&self.system, &history]));
        req.tools = self.ctx.tools.catalogue();
        if !req.tools.is_empty() {
            req.tool_choice = self
                .opts
                .tool_choice_for(step, self.repeats.last_round_repeated());
        }
        req.temperature = self.opts.temperature;
        req.max_tokens = self.opts.max_tokens;
        if let Some(spec) = &self.output {
            // With tools, the format would keep the model from calling
            // them: it applies once an answer is being repaired.
            let repairing = self.repairs.load(Ordering::Relaxed) > 0;
            if req.tools.is_empty() || repairing {
                req.response_format = spec.format().clone();
            }
            if repairing && !req.tools.is_empty() {
                req.tool_choice = Some(ToolChoice::None);
            }
        }
        check_pre_llm(&self.opts.guardrails, &req).await?;
        if self.budgeted() {
            let worked = self.began.elapsed();
            self.lock_spend()
                .reserve(&self.opts.budget, &mut req, worked)?;
        }
        Ok(req)
    }

    /// Whether the run has a budget to keep.
    fn budgeted(&self) -> bool {
        self.budgeted
    }

    fn lock_spend(&self) -> std::sync::MutexGuard<'_, Spend> {
        self.spend.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the spend recorded in the run's log as its spend so far (a
    /// run taken up again).
    pub(crate) fn spent_as_logged(&self, episodes: &[Episode]) {
        let logged = Spend::from_log(&self.opts.budget, self.ctx.llm.model(), episodes);
        *self.lock_spend() = logged;
    }

    /// Checks and counts the `calls` tool calls of a reply against the
    /// budget.
    pub(crate) fn check_tool_calls(&self, calls: usize) -> Result<(), Error> {
        if !self.budgeted() {
            return Ok(());
        }
        self.lock_spend().tool_calls(&self.opts.budget, calls)
    }

    /// Fails with `Error::NewestTurnTooLarge` when the thread has
    /// messages but its newest turn is over the history budget (a memory
    /// then loads nothing): a request without it would ask the model
    /// about nothing. An empty thread is left to the model.
    async fn check_newest_turn_fits(&self) -> Result<(), Error> {
        let all = self.ctx.short_term().load(&self.thread, usize::MAX).await?;
        if all.is_empty() {
            return Ok(());
        }
        // The newest turn: the last message, and back over tool results to
        // the call that asked for them.
        let mut tokens = 0;
        for message in all.iter().rev() {
            tokens += message.estimated_tokens();
            if message.role != Role::Tool {
                break;
            }
        }
        Err(Error::NewestTurnTooLarge {
            thread: self.thread.clone(),
            tokens,
            max_history_tokens: self.opts.max_history_tokens,
        })
    }

    /// The spans' view of this run.
    fn tracer(&self) -> telemetry::Tracer<'_> {
        telemetry::Tracer {
            labels: telemetry::RunLabels {
                agent: &self.ctx.agent_name,
                run_id: &self.run_id,
                thread: self.thread.as_str(),
                llm: self.ctx.llm.as_ref(),
            },
            span: &self.span,
            capture: telemetry::capture(self.opts.capture_content),
        }
    }
}
