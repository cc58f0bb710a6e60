//! A run's spend as its journal records it, for a process that takes the
//! run up: what each `LlmCall` was counted as where the run had a budget
//! (estimates and cost included), else the usage it reported, priced
//! here when it was not priced there; each tool
//! call, those of its open step included; the working time they took;
//! and what the last call that reported its input taught of the next
//! one's (see `Calibration`).

use super::{Calibration, Spend};
use crate::options::Budget;
use klieo_types::{CallSpend, Episode, PendingStep};

impl Spend {
    /// What the log of a run shows it spent.
    pub(crate) fn from_log(budget: &Budget, models: &[String], episodes: &[Episode]) -> Self {
        let mut spend = Self::new(budget, models);
        // Tool calls of one step run together: the longest is their time.
        let mut step_tools: Option<(u32, u64)> = None;
        for episode in episodes {
            match episode {
                Episode::LlmCall {
                    tokens,
                    latency_ms,
                    spend: counted,
                    ..
                } => {
                    spend.model_calls += 1;
                    // A log's numbers are data, not trusted to be small.
                    spend.logged_ms = spend.logged_ms.saturating_add(*latency_ms);
                    // What the call taught, as the run kept it: a later
                    // call that reported nothing (or was answered by
                    // one of several providers) taught nothing new.
                    let counted = counted.as_deref().copied();
                    if let Some(taught) = counted.as_ref().and_then(Calibration::from_logged) {
                        spend.calibration = Some(taught);
                    }
                    let mut counted = counted.unwrap_or_else(|| {
                        CallSpend::new(
                            tokens.map_or(0, |u| u64::from(u.input_tokens)),
                            tokens.map_or(0, |u| u64::from(u.output_tokens)),
                            None,
                            false,
                        )
                    });
                    if counted.cost_micros.is_none() {
                        // Not priced where it was made (no budget there,
                        // or one without a cost limit, such as an earlier
                        // part's of a team's run): priced here, at this
                        // part's model, by its usage or else its count.
                        counted.cost_micros = spend.price.map(|price| match tokens {
                            Some(usage) => price.cost_micros(usage),
                            None => price.bound_micros(counted.input_tokens, counted.output_tokens),
                        });
                    }
                    spend.count(&counted);
                }
                Episode::ToolCall {
                    step, latency_ms, ..
                } => {
                    spend.tool_calls += 1;
                    step_tools = match step_tools {
                        Some((s, longest)) if s == *step => Some((s, longest.max(*latency_ms))),
                        Some((_, longest)) => {
                            spend.logged_ms = spend.logged_ms.saturating_add(longest);
                            Some((*step, *latency_ms))
                        }
                        None => Some((*step, *latency_ms)),
                    };
                }
                // The next part's agent may talk to another model, which
                // counts tokens its own way.
                Episode::HandedOff { .. } => spend.calibration = None,
                _ => {}
            }
        }
        if let Some((_, longest)) = step_tools {
            spend.logged_ms = spend.logged_ms.saturating_add(longest);
        }
        spend
    }

    /// Counts the calls of the run's open step (`open`) that its log
    /// (`episodes`) has no result of yet: each was counted when the model
    /// asked for it, as a call that ran is by its `ToolCall`.
    pub(crate) fn count_open_calls(&mut self, open: &PendingStep, episodes: &[Episode]) {
        let ended = episodes
            .iter()
            .filter(|e| matches!(e, Episode::ToolCall { step, .. } if *step == open.step))
            .count();
        let asked = open.reply.tool_calls.len().saturating_sub(ended);
        self.tool_calls += u64::try_from(asked).unwrap_or(u64::MAX);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::spend::{Start, Window};
    use klieo_types::{ChatRequest, ChatResponse, FinishReason, Message, Usage};
    use std::time::Duration;

    /// A request's window: the thread's first message, no summary.
    const SAME: Option<Window> = Some(Window {
        start: Start::Index(0),
        summary: None,
    });

    fn budget() -> Budget {
        Budget::new().with_total_tokens(10_000)
    }

    /// The log of a call to model `m` reserved at 540 input tokens (500
    /// bytes and the request's markers) that reported 120.
    fn taught() -> Episode {
        let mut spend = Spend::new(&budget(), &["m".to_owned()]);
        let first = || ChatRequest::new(vec![Message::user("word ".repeat(100))]);
        spend
            .reserve(&budget(), &mut first(), Duration::ZERO, SAME)
            .unwrap();
        let mut reply = ChatResponse::new(Message::assistant("ok"), FinishReason::Stop);
        reply.usage = Some(Usage::new(120, 10));
        let settled = spend.settle(&budget(), &reply);
        Episode::LlmCall {
            step: 1,
            tokens: reply.usage,
            latency_ms: 1,
            finish_reason: FinishReason::Stop,
            tool_calls: 0,
            spend: Some(Box::new(settled)),
        }
    }

    /// What a run of `model` taken up from `log` reserves as the input of
    /// the same message and a reply of 2 bytes (10 tokens more than
    /// before), with `instructions` if any.
    fn reserved_input(log: &[Episode], model: &str, instructions: Option<&str>) -> u64 {
        let mut messages: Vec<Message> = instructions.map(Message::system).into_iter().collect();
        messages.push(Message::user("word ".repeat(100)));
        messages.push(Message::assistant("ok"));
        let mut next = ChatRequest::new(messages);
        let mut taken_up = Spend::from_log(&budget(), &[model.to_owned()], log);
        taken_up
            .reserve(&budget(), &mut next, Duration::ZERO, SAME)
            .unwrap();
        taken_up.reserved_input
    }

    /// A run taken up again reserves its next call from what its log says
    /// the last call taught, as the run would have gone on.
    #[test]
    fn a_log_gives_back_what_its_calls_taught_of_the_input() {
        let call = taught();
        let Episode::LlmCall {
            spend: Some(spent), ..
        } = &call
        else {
            unreachable!("a model call's episode")
        };
        let logged = spent.calibration.unwrap();
        assert_eq!(
            (
                logged.input_bound,
                logged.history_start,
                logged.summary_through
            ),
            (540, 0, None)
        );
        assert_eq!(reserved_input(&[call], "m", None), 120 + 10);
    }

    /// Taken up by another model (its tokenizer counts its own way) or
    /// with other instructions (what the call held is not all in the
    /// request), the next call is reserved at its bound.
    #[test]
    fn a_log_taken_up_by_another_model_or_agent_is_reserved_at_its_bound() {
        assert_eq!(reserved_input(&[taught()], "n", None), 540 + 10);
        // The instructions' 2 bytes and their markers, besides.
        let other = reserved_input(&[taught()], "m", Some("be"));
        assert_eq!(other, 540 + 10 + 2 + 8);
    }

    /// After a hand-off (another agent, maybe another model) the next call
    /// is reserved at its bound again.
    #[test]
    fn a_hand_off_in_the_log_forgets_what_calls_taught_of_the_input() {
        let handed = Episode::HandedOff {
            from: "a".into(),
            to: "b".into(),
            reason: "billing".into(),
        };
        assert_eq!(reserved_input(&[taught(), handed], "m", None), 540 + 10);
    }
}
