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
    pub(crate) fn from_log(budget: &Budget, model: &str, episodes: &[Episode]) -> Self {
        let mut spend = Self::new(budget, model);
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
                    let taught = counted.and_then(|c| c.calibration);
                    if let (Some(taught), Some(usage)) = (taught, tokens) {
                        let reported = u64::from(usage.input_tokens);
                        spend.calibration = Some(Calibration::from_log(taught, reported));
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
