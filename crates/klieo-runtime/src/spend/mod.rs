//! [`Spend`]: what a run spent against its [`Budget`]: counted again from
//! its journal when a process takes it up, checked before each model call
//! and each reply's tool calls, settled after each call.

mod bound;

use crate::options::{Budget, ModelPrice};
use bound::input_bound;
use klieo_types::{BudgetLimit, ChatRequest, ChatResponse, Episode, Error};
use std::time::Duration;

/// A run's spend so far.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Spend {
    input: u64,
    output: u64,
    model_calls: u64,
    tool_calls: u64,
    /// The cost of the calls, in millionths of a dollar.
    cost: u64,
    /// The working time its log records (its model calls, and each step's
    /// longest tool call), in milliseconds: time spent by earlier
    /// processes.
    logged_ms: u64,
    /// The price of the client's model, when the budget has a cost limit.
    price: Option<ModelPrice>,
    /// The input reserved for the call in flight, counted for a reply
    /// that reports no usage.
    reserved_input: u64,
    /// The call in flight's [`input_bound`].
    reserved_bound: u64,
    /// The bound and the reported input of the last call that reported
    /// usage: the next request starts with the same messages, so its input
    /// is that call's plus the bound of what was added.
    calibration: Option<(u64, u64)>,
}

/// `Err(BudgetExceeded)` when `spent + needed` passes `max`.
fn within(limit: BudgetLimit, max: Option<u64>, spent: u64, needed: u64) -> Result<(), Error> {
    match max {
        Some(max) if spent.saturating_add(needed) > max => Err(Error::BudgetExceeded {
            limit,
            max,
            spent,
            needed,
        }),
        _ => Ok(()),
    }
}

/// A duration in whole milliseconds.
fn millis(time: Duration) -> u64 {
    u64::try_from(time.as_millis()).unwrap_or(u64::MAX)
}

impl Spend {
    /// Nothing spent, by a run under `budget` whose client calls `model`.
    pub(crate) fn new(budget: &Budget, model: &str) -> Self {
        Self {
            price: budget
                .cost_usd()
                .and_then(|_| budget.prices().price(model).copied()),
            ..Self::default()
        }
    }

    /// What the log of a run shows it spent: each model call with the
    /// usage it reported, each tool call, and the time they took.
    pub(crate) fn from_log(budget: &Budget, model: &str, episodes: &[Episode]) -> Self {
        let mut spend = Self::new(budget, model);
        // Tool calls of one step run together: the longest is their time.
        let mut step_tools: Option<(u32, u64)> = None;
        for episode in episodes {
            match episode {
                Episode::LlmCall {
                    tokens, latency_ms, ..
                } => {
                    spend.model_calls += 1;
                    spend.logged_ms += latency_ms;
                    if let Some(usage) = tokens {
                        spend.input += u64::from(usage.input_tokens);
                        spend.output += u64::from(usage.output_tokens);
                        if let Some(price) = &spend.price {
                            spend.cost += price.cost_micros(usage);
                        }
                    }
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

    /// Checks the model call of `req` against `budget` and reserves it,
    /// the run having worked `elapsed` in this process:
    ///
    /// - an upper bound of its input (the last reported input and the
    ///   bound of the messages added since, or the whole request's bound
    ///   before any call reported);
    /// - as output, what the token and cost limits leave, which lowers the
    ///   request's `max_tokens` when that is less;
    /// - as its timeout, what the time limit leaves.
    ///
    /// So what a server reports never passes a token or cost limit.
    pub(crate) fn reserve(
        &mut self,
        budget: &Budget,
        req: &mut ChatRequest,
        elapsed: Duration,
    ) -> Result<(), Error> {
        within(
            BudgetLimit::ModelCalls,
            budget.model_calls(),
            self.model_calls,
            1,
        )?;
        if let Some(max) = budget.time() {
            let worked = self.logged_ms.saturating_add(millis(elapsed));
            within(BudgetLimit::Time, Some(millis(max)), worked, 1)?;
            let left = max.saturating_sub(Duration::from_millis(worked));
            req.timeout = Some(req.timeout.map_or(left, |asked| asked.min(left)));
        }
        if !budget.limits_tokens() && self.price.is_none() {
            return Ok(());
        }
        let bound = input_bound(req);
        let input = match self.calibration {
            Some((last_bound, reported)) if bound >= last_bound => reported + (bound - last_bound),
            _ => bound,
        };
        let asked = req.max_tokens.map_or(1, u64::from);
        let refused = |limit, max: Option<u64>, spent, needed| Error::BudgetExceeded {
            limit,
            max: max.unwrap_or(0),
            spent,
            needed,
        };
        within(
            BudgetLimit::InputTokens,
            budget.input_tokens(),
            self.input,
            input,
        )?;
        let total = self.input + self.output;
        let max_total = budget.total_tokens();
        within(BudgetLimit::TotalTokens, max_total, total, input + 1)
            .map_err(|_| refused(BudgetLimit::TotalTokens, max_total, total, input + asked))?;
        let max_output = budget.output_tokens();
        within(BudgetLimit::OutputTokens, max_output, self.output, 1)
            .map_err(|_| refused(BudgetLimit::OutputTokens, max_output, self.output, asked))?;
        let mut left = [
            max_output.map(|max| max.saturating_sub(self.output)),
            max_total.map(|max| max.saturating_sub(total + input)),
        ]
        .into_iter()
        .flatten()
        .min();
        if let Some(price) = &self.price {
            let max = budget.cost_micros();
            let least = price.bound_micros(input, 1);
            within(BudgetLimit::Cost, max, self.cost, least).map_err(|_| {
                let needed = price.bound_micros(input, asked);
                refused(BudgetLimit::Cost, max, self.cost, needed)
            })?;
            let money = max
                .unwrap_or(u64::MAX)
                .saturating_sub(self.cost)
                .saturating_sub(price.bound_micros(input, 0));
            let affordable = price.output_for(money);
            left = Some(left.map_or(affordable, |left| left.min(affordable)));
        }
        if let Some(left) = left {
            let left = u32::try_from(left).unwrap_or(u32::MAX);
            req.max_tokens = Some(req.max_tokens.map_or(left, |asked| asked.min(left)));
        }
        self.reserved_input = input;
        self.reserved_bound = bound;
        Ok(())
    }

    /// Counts a model call that answered `reply`: the usage it reported
    /// (priced at the model the reply names, else the client's), else
    /// the reserved input and the reply's estimated size.
    pub(crate) fn settle(&mut self, budget: &Budget, reply: &ChatResponse) {
        self.model_calls += 1;
        let usage = match &reply.usage {
            Some(usage) => {
                if self.reserved_bound > 0 {
                    self.calibration = Some((self.reserved_bound, u64::from(usage.input_tokens)));
                }
                *usage
            }
            None => {
                let output = reply.message.estimated_tokens();
                let input = u32::try_from(self.reserved_input).unwrap_or(u32::MAX);
                klieo_types::Usage::new(input, u32::try_from(output).unwrap_or(u32::MAX))
            }
        };
        self.input += u64::from(usage.input_tokens);
        self.output += u64::from(usage.output_tokens);
        if let Some(client_price) = &self.price {
            let answered = reply.info.as_ref().and_then(|i| i.model.as_deref());
            let price = answered
                .and_then(|model| budget.prices().price(model))
                .unwrap_or(client_price);
            self.cost += price.cost_micros(&usage);
        }
        self.reserved_input = 0;
        self.reserved_bound = 0;
    }

    /// Checks and counts `calls` tool calls of one reply.
    pub(crate) fn tool_calls(&mut self, budget: &Budget, calls: usize) -> Result<(), Error> {
        let calls = calls as u64;
        within(
            BudgetLimit::ToolCalls,
            budget.tool_calls(),
            self.tool_calls,
            calls,
        )?;
        self.tool_calls += calls;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
