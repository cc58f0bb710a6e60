//! What a run taken up again (after a crash, a person's decision, or a
//! team's hand-off) reads of its log before it goes on: its spend, its
//! children's, where its own messages begin, the repairs of its answer
//! it has asked for, and the tool calls it has made.

use super::Run;
use crate::options::AfterToolCalls;
use crate::spend::Spend;
use crate::team::tree::children_spent;
use klieo_types::{Episode, Error, FinishReason, PendingStep, ToolCall};
use std::sync::atomic::Ordering;

impl Run {
    /// Takes up what the run's log (`episodes`, and its open step `open`)
    /// says it did: what it and its children spent, and where its own
    /// messages begin in its thread.
    pub(crate) async fn take_up_from_log(
        &self,
        episodes: &[Episode],
        open: Option<&PendingStep>,
    ) -> Result<(), Error> {
        self.spent_as_logged(episodes, open);
        self.prompt_at_as_logged(episodes);
        self.repairs_as_logged(episodes);
        self.repeats_as_logged(episodes, open);
        self.count_children(episodes).await
    }

    /// Notes the tool calls of each step the log holds, in order, and
    /// those of its open step (all of them, from its reply), as the run
    /// noted them when it made them (`AfterToolCalls::AutoUntilRepeat`):
    /// a run taken up knows the calls it repeats as one that never
    /// stopped does. In a team, only the current agent's part counts, as
    /// an agent handed a run begins with no calls noted.
    fn repeats_as_logged(&self, episodes: &[Episode], open: Option<&PendingStep>) {
        if self.opts.after_tool_calls != AfterToolCalls::AutoUntilRepeat {
            return;
        }
        let since = self.seat().map_or(0, |seat| seat.since);
        let open_step = open.map(|open| open.step);
        let mut round = Vec::new();
        let mut round_step = None;
        for episode in episodes {
            let Episode::ToolCall {
                step, name, args, ..
            } = episode
            else {
                continue;
            };
            if *step <= since || Some(*step) == open_step {
                continue;
            }
            if round_step != Some(*step) {
                self.repeats.note_logged(&round);
                round.clear();
                round_step = Some(*step);
            }
            round.push((&**name, args));
        }
        self.repeats.note_logged(&round);
        if let Some(open) = open.filter(|open| open.step > since) {
            let mut calls = open.reply.tool_calls.clone();
            let args: Vec<_> = calls.iter_mut().map(ToolCall::take_arguments).collect();
            if !calls.is_empty() {
                self.repeats.note(&calls, &args);
            }
        }
    }

    /// Counts the repairs a typed run asked for before it was taken up:
    /// each answer its log holds (of the current agent's part, in a team)
    /// is one that did not fit (an answer that
    /// fits, or one past the last repair, ends the run, which is then not
    /// taken up). So the run gets no more repairs than its options allow,
    /// and a repair's request asks for the answer's format, as it would
    /// have in one process.
    fn repairs_as_logged(&self, episodes: &[Episode]) {
        if self.output.is_none() {
            return;
        }
        // In a team, the current agent's part: one handed a run begins
        // with no repairs asked.
        let since = self.seat().map_or(0, |seat| seat.since);
        let answers = episodes
            .iter()
            .filter(|e| {
                // An answer: a reply that stopped with no call, or one cut
                // by `length` (whose calls, cut too, are not run).
                matches!(
                    e,
                    Episode::LlmCall {
                        step,
                        tool_calls: 0,
                        finish_reason: FinishReason::Stop,
                        ..
                    } | Episode::LlmCall {
                        step,
                        finish_reason: FinishReason::Length,
                        ..
                    } if *step > since
                )
            })
            .count();
        let answers = u32::try_from(answers).unwrap_or(u32::MAX);
        self.repairs.store(answers, Ordering::Relaxed);
    }

    /// Takes the spend recorded in the run's log, and its open step's
    /// calls, as its spend so far (a run taken up again), with what its
    /// calls taught of its input's size.
    fn spent_as_logged(&self, episodes: &[Episode], open: Option<&PendingStep>) {
        let mut logged = Spend::from_log(&self.opts.budget, &self.ctx.llm.models(), episodes);
        if let Some(open) = open {
            logged.count_open_calls(open, episodes);
        }
        if let Some(covered) = self.covered() {
            covered.take_up(&logged);
        }
        *self.lock_spend() = logged;
    }

    /// Adds what the run's children spent, as their logs record it, to
    /// the spend its own log (`episodes`) showed: a run taken up again, or
    /// handed on, whose budget covers its children.
    async fn count_children(&self, episodes: &[Episode]) -> Result<(), Error> {
        let Some(budget) = self.opts.budget.for_children() else {
            return Ok(());
        };
        let spent = children_spent(&self.ctx.memories, &budget, self.ctx.run_id, episodes).await?;
        self.lock_spend().add_counts(&spent);
        Ok(())
    }
}
