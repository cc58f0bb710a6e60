//! A run's spend as its journal records it, for a process that takes the
//! run up: the `BudgetSettled` of each call where there is one (what the
//! run counted, estimates and cost included), else the usage its
//! `LlmCall` reported; each tool call; and the working time they took.

use super::{Settled, Spend};
use crate::options::Budget;
use klieo_types::Episode;

impl Spend {
    /// What the log of a run shows it spent.
    pub(crate) fn from_log(budget: &Budget, model: &str, episodes: &[Episode]) -> Self {
        let mut spend = Self::new(budget, model);
        // What the last `LlmCall` counted, which a `BudgetSettled` of its
        // step replaces.
        let mut last_call: Option<(u32, Settled)> = None;
        // Tool calls of one step run together: the longest is their time.
        let mut step_tools: Option<(u32, u64)> = None;
        for episode in episodes {
            match episode {
                Episode::LlmCall {
                    step,
                    tokens,
                    latency_ms,
                    ..
                } => {
                    spend.model_calls += 1;
                    spend.logged_ms += latency_ms;
                    let counted = Settled {
                        input: tokens.map_or(0, |u| u64::from(u.input_tokens)),
                        output: tokens.map_or(0, |u| u64::from(u.output_tokens)),
                        cost_micros: spend
                            .price
                            .zip(*tokens)
                            .map(|(price, usage)| price.cost_micros(&usage)),
                        estimated: false,
                    };
                    spend.count(&counted);
                    last_call = Some((*step, counted));
                }
                Episode::BudgetSettled {
                    step,
                    input_tokens,
                    output_tokens,
                    cost_micros,
                    estimated,
                } => {
                    if let Some((called, counted)) = last_call.take() {
                        if called == *step {
                            spend.uncount(&counted);
                        }
                    }
                    spend.count(&Settled {
                        input: *input_tokens,
                        output: *output_tokens,
                        cost_micros: *cost_micros,
                        estimated: *estimated,
                    });
                }
                Episode::ToolCall {
                    step, latency_ms, ..
                } => {
                    spend.tool_calls += 1;
                    step_tools = match step_tools {
                        Some((s, longest)) if s == *step => Some((s, longest.max(*latency_ms))),
                        Some((_, longest)) => {
                            spend.logged_ms += longest;
                            Some((*step, *latency_ms))
                        }
                        None => Some((*step, *latency_ms)),
                    };
                }
                _ => {}
            }
        }
        if let Some((_, longest)) = step_tools {
            spend.logged_ms += longest;
        }
        spend
    }

    /// Takes back what `count` added.
    fn uncount(&mut self, settled: &Settled) {
        self.input -= settled.input;
        self.output -= settled.output;
        self.cost -= settled.cost_micros.unwrap_or(0);
    }
}
