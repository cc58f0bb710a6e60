//! [`Run`]: the state one run shares between its steps, and the steps'
//! common parts: building a request and recording episodes. Calling the
//! model under the retry policy is `model_call`'s.

mod answer;
mod compact;
mod fit;
mod ledger;
mod model_call;
mod prompt_at;
mod record;
mod request;
mod taken_up;

pub(crate) use answer::Verdict;
pub(crate) use fit::ModelFit;
pub(crate) use ledger::check_ledger;
pub(crate) use model_call::OpenFailure;

use record::Fence;

use crate::context::AgentContext;
use crate::fact::{Emitted, Fact};
use crate::options::Budget;
use crate::options::RunOptions;
use crate::output::OutputSpec;
use crate::repeats::Repeats;
use crate::spend::{Cover, Covered, Spend};
use crate::summary::Progress;
use crate::team::cut_off::Caller;
use crate::team::handoff::{HandedOff, Seat};
use crate::telemetry;
use klieo_types::{
    Commit, Error, Journal, Message, PendingStep, RunId, ThreadId, ToolSet, Toolbox, Transcript,
};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
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
    /// The words this process asked a repair with (user messages the run
    /// wrote, not the user): pre-LLM guardrails do not read them.
    repair_prompts: Mutex<Vec<String>>,
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
    /// one, which `budgeted` says once; shared with its children's
    /// cover).
    spend: Arc<Mutex<Spend>>,
    /// The budget of the run whose call started this one, covering it.
    covered: Option<Covered>,
    budgeted: bool,
    /// When this process took the run up: its working time here, for a
    /// time limit.
    began: tokio::time::Instant,
    /// What the run knows of its model's window (see `fit`).
    fit: fit::Fit,
    /// Set once a compaction failed: the run does not try again.
    compaction_given_up: AtomicBool,
    /// Set when the run's lease stopped it (see `lease::hold`): its end
    /// is then not a cancel of its own, and it writes nothing more.
    pub(crate) lease_end: Arc<crate::lease::LeaseEnd>,
    /// The thread's newest message when this run first read it: the run
    /// never summarises it or what came after.
    compaction_limit: prompt_at::PromptAt,
    /// The largest history budget the run's prompt was found not to fit
    /// in, read to the message (0: none yet; see `Run::read_history`).
    prompt_left: AtomicUsize,
    /// The call that started this run, when it is a child run.
    parent: Option<ParentCall>,
    /// Its agent's seat, when the run is a team's.
    seat: Option<Seat>,
    /// What the run hands its tool calls: its own cancellation (not its
    /// lease's), for the child runs they start, and those children cut
    /// off by it (an `Arc`: cheap to hand each call).
    pub(crate) caller: Arc<Caller>,
    /// The hand-off that ended this agent's part of the run.
    pub(crate) handoff: OnceLock<HandedOff>,
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
    /// The call of another run that starts this one (a child run).
    pub(crate) parent: Option<ParentCall>,
    /// The agent's seat in a team whose run this is.
    pub(crate) seat: Option<Seat>,
    /// The budget of the run whose call starts this one, covering it.
    pub(crate) cover: Option<Cover>,
    /// The token the run is cancelled by, when not its agent's (a child
    /// run, cancelled with the run that called it).
    pub(crate) cancel: Option<tokio_util::sync::CancellationToken>,
    /// Who this process is to the run's lease, when it is one already (a
    /// team's run, its next part after a hand-off).
    pub(crate) holder: Option<String>,
    /// The span of the part before (a team's run, after a hand-off),
    /// which this run's span follows from: a link between the two
    /// traces. Held open until this run's span is made.
    pub(crate) follows: Option<Span>,
}

/// The call of another run that started a child run.
#[derive(Debug, Clone)]
pub(crate) struct ParentCall {
    pub(crate) run: RunId,
    pub(crate) step: u32,
    pub(crate) call_id: String,
    /// How deep the parent is in its tree (0 for a root).
    pub(crate) depth: usize,
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
            None => {
                let holder = extras.holder.clone();
                (
                    opts,
                    holder.unwrap_or_else(|| format!("worker-{}", RunId::new())),
                )
            }
        };
        opts.validate()?;
        opts.budget.check_client(ctx.llm.as_ref())?;
        // A team's agent is offered the hand-offs of its seat as tools
        // (past the team's limit too: calling one ends the run with
        // `HandoffLimit`, where a tool taken away would make a model's
        // forced call a refused request).
        let ctx = match extras.seat.as_ref().filter(|s| !s.routes.is_empty()) {
            Some(seat) => {
                let routes = seat.routes.iter().cloned();
                let handoffs = routes.fold(ToolSet::new(), ToolSet::add_tool);
                let tools = Toolbox::new().add_shared("", Arc::clone(&ctx.tools));
                ctx.with_tools(tools.add_source(handoffs))
            }
            None => ctx,
        };
        // A run's own cancellation, which its children share; a leased
        // run is also stopped when its lease is lost, and only it.
        let spend = Arc::new(Mutex::new(Spend::new(&opts.budget, &ctx.llm.models())));
        let covered = match &extras.cover {
            Some(cover) => Some(cover.covering(ctx.llm.as_ref())?),
            None => None,
        };
        // Its own budget and its callers' cover its children.
        let cover = Cover::of(&opts.budget, &spend, covered.as_ref().map(Covered::cover));
        let progress = Progress::new(ctx.run_id, thread.clone(), extras.events, extras.summary);
        let depth = extras
            .parent
            .as_ref()
            .map_or(0, |p| p.depth.saturating_add(1));
        let caller = Arc::new(Caller::new(
            ctx.cancel.clone(),
            cover,
            progress.relay(),
            depth,
        ));
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
        if let Some(before) = &extras.follows {
            span.follows_from(before);
        }
        let system_prompt = match &extras.output {
            Some(spec) => spec.instructions(system_prompt, !ctx.tools.catalogue().is_empty()),
            None => system_prompt.to_owned(),
        };
        let run = Self {
            progress,
            output: extras.output,
            repairs: AtomicU32::new(0),
            repair_prompts: Mutex::new(Vec::new()),
            repeats: Repeats::default(),
            pending: Mutex::new(None),
            fence: Mutex::new(Fence::Unknown),
            holder,
            spend,
            covered,
            began: tokio::time::Instant::now(),
            fit: fit::Fit::default(),
            compaction_given_up: AtomicBool::new(false),
            lease_end: Arc::default(),
            compaction_limit: prompt_at::PromptAt::default(),
            prompt_left: AtomicUsize::new(0),
            parent: extras.parent,
            seat: extras.seat,
            caller,
            handoff: OnceLock::new(),
            budgeted: opts.budget != Budget::default(),
            system: {
                let mut system = Transcript::new();
                if !system_prompt.is_empty() {
                    system.push(Message::system(system_prompt));
                }
                system
            },
            ctx,
            opts,
            thread,
            run_id,
            span,
        };
        ledger::check_ledger(&run.opts.budget, &run.ctx.memories)?;
        Ok(run)
    }

    /// An empty commit for this run and its thread.
    pub(crate) fn commit(&self) -> Commit {
        Commit::new(self.ctx.run_id, self.thread.clone())
    }

    /// The call that started this run, when it is a child run.
    pub(crate) fn parent(&self) -> Option<&ParentCall> {
        self.parent.as_ref()
    }

    /// Its agent's seat, when the run is a team's.
    pub(crate) fn seat(&self) -> Option<&Seat> {
        self.seat.as_ref()
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

    /// Tells the user's and the spans' views of `fact`, whose episode the
    /// journal's view made and the engine wrote already: for a fact that
    /// happened only if its commit went in.
    pub(crate) fn tell(&self, fact: &Fact<'_>) {
        self.progress.observe(fact);
        let _ = self.in_spans(fact);
    }

    /// The spans' view of `fact`: the span it opens, if any. Skipped when
    /// nothing could take what it makes (`telemetry::observed`). Inlined
    /// into `emit`: rustc stopped doing so on its own once `Spend` grew,
    /// which cost a step about 50 instructions.
    #[inline]
    fn in_spans(&self, fact: &Fact<'_>) -> Option<Span> {
        match telemetry::observed() {
            true => self.tracer().observe(fact),
            false => None,
        }
    }

    /// Emits `fact` to the run's views: the user's (events and summary)
    /// and the spans' keep what they need of it at once; the journal's
    /// episode is handed back, for the caller to write in the commit the
    /// fact belongs to, and so is the span a fact that begins work opens.
    /// The spans' view is skipped when nothing could take what it makes
    /// (`telemetry::observed`): the span handed back is then a disabled one.
    pub(crate) fn emit(&self, fact: Fact<'_>) -> Emitted {
        self.progress.observe(&fact);
        let span = self.in_spans(&fact);
        let episode = self.ctx.memories.episode(fact);
        Emitted { episode, span }
    }

    pub(crate) fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Whether a run that took `done` steps may take another
    /// (`RunOptions::max_steps`).
    pub(crate) fn steps_left(&self, done: u32) -> bool {
        done < self.opts.max_steps
    }

    /// Checks, before cycle `done + 1`, that the run may go on.
    pub(crate) fn check_next_step(&self, done: u32) -> Result<(), Error> {
        if self.ctx.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        if !self.steps_left(done) {
            return Err(Error::MaxStepsExceeded {
                steps: self.opts.max_steps,
            });
        }
        Ok(())
    }

    /// Emits what the call of cycle `step` (told by `span`) was reserved
    /// as, if it was reserved in tokens.
    pub(crate) fn reserved(&self, step: u32, span: &Span) {
        if !self.budgeted() {
            return;
        }
        let reserved = self.lock_spend().reservation();
        if let Some((tokens, cost_micros)) = reserved {
            let _ = self.emit(Fact::BudgetReserved {
                step,
                tokens,
                cost_micros,
                span,
            });
        }
    }

    /// The budget of the run whose call started this one, when it
    /// covers it.
    pub(crate) fn covered(&self) -> Option<&Covered> {
        self.covered.as_ref()
    }

    /// Whether the run has a budget to keep.
    fn budgeted(&self) -> bool {
        self.budgeted
    }

    fn lock_spend(&self) -> std::sync::MutexGuard<'_, Spend> {
        self.spend.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Compacts no more in this run (its log says a compaction failed).
    pub(crate) fn give_up_compaction(&self) {
        self.compaction_given_up.store(true, Ordering::Relaxed);
    }

    /// Checks and counts the `calls` tool calls of a reply against the
    /// budget, and against its caller's when it is a covered child.
    pub(crate) fn check_tool_calls(&self, calls: usize) -> Result<(), Error> {
        if let Some(covered) = &self.covered {
            covered.check_tool_calls(calls)?;
        }
        if self.budgeted() {
            self.lock_spend().tool_calls(&self.opts.budget, calls)?;
        }
        if let Some(covered) = &self.covered {
            covered.count_tool_calls(calls);
        }
        Ok(())
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
