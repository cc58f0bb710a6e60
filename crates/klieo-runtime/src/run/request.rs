//! Building a cycle's request: the system prompt, the newest history that
//! fits (the model's window when it is known, and the run's history
//! budget), the tools and the cycle's tool choice, checked by the pre-LLM
//! guardrails and reserved against the budgets.

use super::compact::{Besides, Room};
use super::fit::{estimate, estimate_of, history_budget, reply_room, Fixed};
use super::Run;
use crate::guardrail::check_pre_llm;
use crate::spend::{Start, Window};
use klieo_types::{
    BudgetLimit, ChatRequest, Error, History, ResponseFormat, Role, ThreadSummary, ToolChoice,
    ToolDef, Transcript,
};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The longest a run waits for its client to say what its window is.
const WINDOW_QUESTION_TIMEOUT: Duration = Duration::from_secs(30);

/// How a request fits the model's window: the history it may hold, what
/// it holds besides, and the room kept for the reply.
struct Fitted {
    history: usize,
    fixed: Fixed,
    reply: u32,
    /// The server's tokens per estimated token, in thousandths.
    scale: u64,
}

impl Run {
    /// The request of cycle `step`: system prompt, the history that fits
    /// the window and the budget, the tools and this cycle's tool choice;
    /// checked by the pre-LLM guardrails. With it, the budget's limit that
    /// lowered its `max_tokens` last, if one did (see `spend::ran_out`).
    pub(crate) async fn request(
        &self,
        step: u32,
    ) -> Result<(ChatRequest, Option<BudgetLimit>), Error> {
        let tools = self.ctx.tools.catalogue();
        let mut tool_choice = None;
        if !tools.is_empty() {
            // A team's agent's part starts at its own first step.
            let since = self.seat().map_or(0, |seat| seat.since);
            tool_choice = self.opts.tool_choice_for(
                step.saturating_sub(since),
                self.repeats.last_round_repeated(),
            );
        }
        let mut format = ResponseFormat::Text;
        if let Some(spec) = &self.output {
            // With tools, the format would keep the model from calling
            // them: it applies once an answer is being repaired.
            let repairing = self.repairs.load(Ordering::Relaxed) > 0;
            if tools.is_empty() || repairing {
                format = spec.format().clone();
            }
            if repairing && !tools.is_empty() {
                tool_choice = Some(ToolChoice::None);
            }
        }
        let fitted = self.fitted(&tools, &format).await?;
        let history_budget = fitted
            .as_ref()
            .map_or(self.opts.max_history_tokens, |f| f.history);
        // Fitted to a window, the history's start moves in quarters of
        // its budget: the requests of a run, and of a session, start alike
        // until then, for servers that cache prompts.
        let granule = match &fitted {
            Some(_) => (history_budget / 4).max(1),
            None => 1,
        };
        let memory = self.ctx.short_term();
        // Read at once from memories kept in this process, with no future
        // made for it (what `read_history` does for them), unless its
        // start moves in granules (see `read_history`).
        let at_once = match granule {
            1 => self
                .ctx
                .memories
                .history_now(&self.thread, history_budget, 1),
            _ => None,
        };
        let mut history = match at_once {
            Some(history) => history,
            None => self.read_history(history_budget, granule).await?,
        };
        // Where the run's own messages begin, at its first read: they stay
        // in its requests, its compaction never summarises them, and a
        // team's later part that compacts where this one does not reads
        // it from the log.
        self.note_prompt_at(
            &history,
            self.opts.compaction.is_some() || self.seat().is_some(),
        );
        if self.opts.compaction.is_some() {
            // Fitted to a window, what the run's request spends besides
            // its history: a summary call may spend as much.
            let room = Room {
                history: history_budget,
                besides: fitted.as_ref().map(|f| Besides {
                    estimated: estimate_of(&f.fixed, 0),
                    reply: f.reply,
                    scale: f.scale,
                }),
            };
            // Read again at once after a summary, to the message: what the
            // compaction kept beside it fits the budget, and a start moved
            // by a quarter could drop the oldest of it (the run's prompt),
            // neither summarised nor sent.
            let compacted =
                self.compacted(step, history, room, || self.read_history(history_budget, 1));
            // Boxed: its future is large, and every step's request would
            // carry it otherwise.
            history = Box::pin(compacted).await?;
        }
        if history.messages.is_empty() && history.summary.is_some() {
            // The newest turn does not fit beside the summary: it goes
            // without it, as the thread's plain window, which is cut
            // inside the thread (the summary covers what came before), so
            // it opens on the user's words.
            let plain = memory.load(&self.thread, history_budget).await?;
            history = History::unnumbered(plain);
            super::prompt_at::open_on_the_users_words(&mut history);
        }
        if history.messages.is_empty() {
            self.check_newest_turn_fits(history_budget).await?;
        }
        self.with_prompt(&mut history, history_budget);
        if let Some(seen) = self
            .seat()
            .and_then(|seat| seat.history.apply(&history.messages, &seat.agent))
            .filter(|seen| !seen.is_empty())
        {
            // A team's agent sees the thread as its seat says; a view that
            // leaves nothing of the window (only tool traffic before the
            // hand-off fits) leaves the window as it is.
            history.messages = seen;
            history.tokens = None;
        }
        // Where the history starts, for the budgets' calibration (a seat's
        // view filters a window that grows as the window does).
        let start = match history.first {
            Some(first) => Some(Start::Index(first)),
            None => history
                .messages
                .iter()
                .next()
                .map(|m| Start::Message(digest(m))),
        };
        let window = start.map(|start| Window {
            start,
            summary: history.summary.as_ref().map(|s| s.through),
        });
        if let Some(fitted) = &fitted {
            let summary = history
                .summary
                .as_ref()
                .map_or(0, ThreadSummary::estimated_tokens);
            let read = summary as u64 + history.message_tokens();
            self.fit.sent(estimate_of(&fitted.fixed, read));
        }
        // The history as a model reads it (`History::transcript`): the
        // summary's message first, when there is one.
        let messages = Transcript::concat(&[&self.system, &history.transcript()]);
        let mut req = ChatRequest::new(messages);
        req.tools = tools;
        req.tool_choice = tool_choice;
        req.response_format = format;
        req.temperature = self.opts.temperature;
        req.max_tokens = self.opts.max_tokens;
        if !self.opts.guardrails.is_empty() {
            let read = self.as_guardrails_read(&req);
            check_pre_llm(&self.opts.guardrails, &read, &self.ctx.cancel).await?;
        }
        if self.budgeted() || self.covered().is_some() {
            if let (None, Some(fitted)) = (req.max_tokens, &fitted) {
                // A budget bounds the reply: by the room the window keeps.
                req.max_tokens = Some(fitted.reply);
            }
        }
        // The limit that lowers `max_tokens` last is the one a reply cut
        // there ran out of.
        let mut cut = None;
        if let Some(covered) = self.covered() {
            cut = covered.reserve(&mut req, window)?;
        }
        if self.budgeted() {
            let worked = self.began.elapsed();
            let own = self
                .lock_spend()
                .reserve(&self.opts.budget, &mut req, worked, window)?;
            cut = own.or(cut);
            if let Some(key) = self.opts.budget.key() {
                cut = self.reserve_on_key(key, &mut req).await?.or(cut);
            }
            self.lock_spend().noted(&self.opts.budget, &req);
        }
        if let Some(covered) = self.covered() {
            covered.noted(&req);
        }
        Ok((req, cut))
    }

    /// The thread's history under a budget of `budget` tokens, its start
    /// moved in granules of `granule`: when the stable cut falls inside
    /// a newest turn that the budget holds whole (a call and its
    /// results), and so loads nothing, cut exactly.
    async fn read_history(&self, budget: usize, granule: usize) -> Result<History, Error> {
        let memories = &self.ctx.memories;
        let history = memories.load_history(&self.thread, budget, granule).await?;
        // Past a summary, a start moved by a quarter may pass the run's own
        // prompt, which no summary says: the history is read to the message
        // then, as when a quarter leaves nothing.
        let prompt = self.compaction_limit.get();
        let past = |read: &History| match (&read.summary, read.first, prompt) {
            (Some(summary), Some(first), Some(prompt)) => {
                summary.through <= prompt && first > prompt
            }
            _ => false,
        };
        // A budget no larger than the one the prompt last did not fit in
        // will not fit it either.
        let passed_prompt = past(&history) && budget > self.prompt_left.load(Ordering::Relaxed);
        if granule > 1 && (history.messages.is_empty() || passed_prompt) {
            let exact = memories.load_history(&self.thread, budget, 1).await?;
            if history.messages.is_empty() || !past(&exact) {
                return Ok(exact);
            }
            // The prompt is out of the window to the message too: no more
            // reads for it until the budget grows.
            self.prompt_left.store(budget, Ordering::Relaxed);
        }
        Ok(history)
    }

    /// How a request with `tools` and `format` fits the model's window;
    /// `None` when the window is not known (the client's capabilities do
    /// not say, after it was asked once).
    async fn fitted(
        &self,
        tools: &Arc<[ToolDef]>,
        format: &ResponseFormat,
    ) -> Result<Option<Fitted>, Error> {
        let Some(window) = self.window().await else {
            return Ok(None);
        };
        let reply = reply_room(window, self.opts.max_tokens);
        let fixed = Fixed {
            system: estimate(&self.system),
            tools: self.fit.tools(tools),
            schema: format.estimated_tokens() as u64,
        };
        let scale = self.ctx.model_fit.scale();
        let history = history_budget(window, scale, &fixed, reply, self.opts.max_history_tokens)?;
        Ok(Some(Fitted {
            history,
            fixed,
            reply,
            scale,
        }))
    }

    /// The model's context window: asked of the client once per run (a
    /// known window once for every run of its context), within the retry
    /// policy's total budget and [`WINDOW_QUESTION_TIMEOUT`], and given up
    /// when the run is cancelled. The call the question is for counts the
    /// question's time against its retry budget (see `Run::budget`).
    async fn window(&self) -> Option<u32> {
        if let Some(window) = self.ctx.model_fit.window() {
            return Some(window);
        }
        if let Some(window) = self.fit.window() {
            return window;
        }
        let asked = tokio::time::Instant::now();
        let bound = self
            .opts
            .retry
            .total_budget()
            .map_or(WINDOW_QUESTION_TIMEOUT, |b| b.min(WINDOW_QUESTION_TIMEOUT));
        let asking = tokio::time::timeout(bound, self.ctx.llm.discover_capabilities());
        let caps = tokio::select! {
            caps = asking => caps.ok(),
            () = self.ctx.cancel.cancelled() => None,
        };
        self.fit.asked(asked.elapsed());
        let window = caps.and_then(|caps| caps.max_context_tokens());
        // A window the client did not say is asked for again by the next
        // run: the client may learn it meanwhile.
        match window {
            Some(known) => self.ctx.model_fit.set_window(known),
            None => self.fit.set_window(None),
        }
        window
    }

    /// How long the run's client took to answer about its window, if the
    /// call that question was for has not taken it yet.
    pub(crate) fn window_asked(&self) -> Option<Duration> {
        self.fit.take_asked()
    }

    /// The server counted `input` tokens for the request in flight.
    pub(crate) fn input_reported(&self, input: u32) {
        let sent = self.fit.take_sent();
        if sent > 0 {
            self.ctx.model_fit.reported(sent, input);
        }
    }

    /// Fails with `Error::NewestTurnTooLarge` when the thread has
    /// messages but its newest turn is over the history budget of
    /// `budget` tokens (a memory then loads nothing): a request without
    /// it would ask the model about nothing. An empty thread is left to
    /// the model.
    async fn check_newest_turn_fits(&self, budget: usize) -> Result<(), Error> {
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
            max_history_tokens: budget,
        })
    }
}

/// A digest of `message`, which tells a history's first message from
/// another's in a memory that does not number them.
fn digest(message: &klieo_types::Message) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut hasher = foldhash::fast::FixedState::default().build_hasher();
    message.role.hash(&mut hasher);
    message.content.hash(&mut hasher);
    for call in &message.tool_calls {
        call.id.hash(&mut hasher);
    }
    message.tool_call_id.hash(&mut hasher);
    hasher.finish()
}
