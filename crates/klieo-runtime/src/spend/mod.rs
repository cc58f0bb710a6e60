//! [`Spend`]: what a run spent against its [`Budget`]: counted again from
//! its journal when a process takes it up, checked before each model call
//! and each reply's tool calls, settled after each call.

mod bound;
mod calibration;
mod cover;
mod key;
mod log;
mod reply_room;
mod report;

pub(crate) use calibration::{Start, Window};
pub(crate) use cover::{Cover, Covered};
pub(crate) use key::{claim, KeyHold};
pub use report::BudgetSpend;

use crate::options::{Budget, ModelPrice};
use bound::bounds;
use calibration::Calibration;
use klieo_types::{BudgetLimit, CallSpend, ChatRequest, ChatResponse, Error, KeyStanding};
pub(crate) use reply_room::ran_out;
use reply_room::ReplyRoom;
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
    /// The dearest prices of the client's models, which a call is
    /// reserved at (a client of several providers may answer with any of
    /// its models).
    dearest: Option<ModelPrice>,
    /// The input reserved for the call in flight, counted for a reply
    /// that reports no usage.
    reserved_input: u64,
    /// The `max_tokens` the call in flight was sent with: a reply without
    /// usage is counted at no more output (the server generates no more;
    /// an estimate over it is the estimate's error).
    reserved_output: Option<u64>,
    /// The call in flight's input bound (see `bound::bounds`).
    reserved_bound: u64,
    /// The call in flight's window, when its history's start is known.
    reserved_window: Option<Window>,
    /// The [`calibration::besides`] of the call in flight.
    reserved_besides: u64,
    /// The [`calibration::model_fingerprint`] of the model this spend is
    /// priced for, whose tokenizer a calibration is good for.
    model: u64,
    /// What the last call that reported usage taught: a request of the
    /// same window holds its messages and more, so its input is that
    /// call's plus the bound of what was added.
    calibration: Option<Calibration>,
    /// The reservation held on the run's key, if any (see `KeyBudget`).
    hold: Option<KeyHold>,
    /// The tokens, and their cost at the dearest prices, reserved for the
    /// call in flight, when it is reserved in tokens (see `noted`).
    reserved: Option<(u64, Option<u64>)>,
    /// Where the key stood in a period when this run last reserved on it,
    /// with this run's settled calls since added: the next call is sized
    /// by it, without asking the ledger first (which checks it anyway).
    key_standing: Option<(u64, KeyStanding)>,
}

/// The `max_tokens` a call under a token or cost limit is sent with when
/// it asks for none and the budget leaves more: what the Anthropic client
/// sends by default, and a value every server takes (a budget's
/// remainder, millions of tokens, is refused by some).
pub(crate) const UNASKED_MAX_TOKENS: u32 = 4_096;

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

/// The most output tokens `money` buys at `price` after `input` tokens
/// (`money` being what is left once the input's cost, rounded up, is
/// taken off), counted as the budget counts them (the call's whole cost
/// rounded up once), not as floats divide.
fn affordable(price: &ModelPrice, input: u64, money: u64) -> u64 {
    let total = money.saturating_add(price.bound_micros(input, 0));
    let fits = |tokens: u64| price.bound_micros(input, tokens) <= total;
    // A request's max_tokens is a u32. What `money` buys alone fits but
    // for a rounding; the input's cost rounded up left less than a
    // micro-dollar unspent, which the output may use, so the answer lies
    // between what `money` and one micro-dollar more buy: searched by
    // halves, however cheap a token (a step a token took 1/price steps).
    let cap = u64::from(u32::MAX);
    let mut low = price.output_for(money).min(cap);
    while low > 0 && !fits(low) {
        low -= 1;
    }
    let mut high = price.output_for(money.saturating_add(1)).min(cap);
    while low < high {
        let mid = low + (high - low).div_ceil(2);
        match fits(mid) {
            true => low = mid,
            false => high = mid - 1,
        }
    }
    low
}

/// A duration in whole milliseconds.
fn millis(time: Duration) -> u64 {
    u64::try_from(time.as_millis()).unwrap_or(u64::MAX)
}

impl Spend {
    /// Nothing spent, by a run under `budget` whose client calls the
    /// first of `models` and may answer from any of them
    /// ([`LlmClient::models`](klieo_types::LlmClient::models)): a call is
    /// reserved at the dearest of their prices, not of the whole table's.
    pub(crate) fn new(budget: &Budget, models: &[String]) -> Self {
        let model = models.first().map_or("", String::as_str);
        let prices = budget.counts_cost().then(|| budget.prices());
        Self {
            price: prices.and_then(|prices| prices.price(model).copied()),
            dearest: prices.and_then(|prices| prices.dearest_of(models)),
            model: calibration::model_fingerprint(model),
            ..Self::default()
        }
    }

    /// Checks the model call of `req` against `budget` and reserves it,
    /// the run having worked `elapsed` in this process:
    ///
    /// - an upper bound of its input (the last reported input and the
    ///   bound of the messages added since, when its history starts where
    ///   that call's did (`window`); else the whole request's bound);
    /// - as output, what the token and cost limits leave, which lowers the
    ///   request's `max_tokens` when that is less;
    ///
    /// and refuses it when the time limit is spent (the call is cut at the
    /// limit by its deadline, `Run::deadline`). Says which limit lowered
    /// `max_tokens`, if one did: a reply cut there ran out of it.
    ///
    /// So what a server reports never passes a token or cost limit.
    pub(crate) fn reserve(
        &mut self,
        budget: &Budget,
        req: &mut ChatRequest,
        elapsed: Duration,
        window: Option<Window>,
    ) -> Result<Option<BudgetLimit>, Error> {
        within(
            BudgetLimit::ModelCalls,
            budget.model_calls(),
            self.model_calls,
            1,
        )?;
        if let Some(max) = budget.time() {
            let worked = self.logged_ms.saturating_add(millis(elapsed));
            // The call is cut at the time left by its deadline (see
            // `Run::deadline`), not by `req.timeout`: that would override
            // the client's own request timeout, with a longer one.
            within(BudgetLimit::Time, Some(millis(max)), worked, 1)?;
        }
        // The input is bounded for every budget: a reply without usage is
        // counted at it, whatever the limits.
        let (bound, besides_history) = bounds(req);
        let besides = calibration::besides(self.model, besides_history);
        let input = self
            .calibration
            .and_then(|learned| learned.input(bound, window, besides))
            .unwrap_or(bound);
        self.reserved_input = input;
        self.reserved_bound = bound;
        self.reserved_window = window;
        self.reserved_besides = besides;
        if !budget.limits_tokens() && self.price.is_none() {
            return Ok(None);
        }
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
        let total = self.input.saturating_add(self.output);
        let max_total = budget.total_tokens();
        within(
            BudgetLimit::TotalTokens,
            max_total,
            total,
            input.saturating_add(1),
        )
        .map_err(|_| {
            let needed = input.saturating_add(asked);
            refused(BudgetLimit::TotalTokens, max_total, total, needed)
        })?;
        let max_output = budget.output_tokens();
        within(BudgetLimit::OutputTokens, max_output, self.output, 1)
            .map_err(|_| refused(BudgetLimit::OutputTokens, max_output, self.output, asked))?;
        // What each limit leaves for the reply, and the limit that leaves
        // the least: a reply cut there ran out of it.
        let mut left = ReplyRoom::default();
        if let Some(max) = max_output {
            left.leaves(max.saturating_sub(self.output), BudgetLimit::OutputTokens);
        }
        if let Some(max) = max_total {
            let room = max.saturating_sub(total.saturating_add(input));
            left.leaves(room, BudgetLimit::TotalTokens);
        }
        if let Some(price) = &self.dearest {
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
            let affordable = affordable(price, input, money);
            if affordable == 0 {
                let needed = price.bound_micros(input, 1);
                return Err(refused(BudgetLimit::Cost, max, self.cost, needed));
            }
            left.leaves(affordable, BudgetLimit::Cost);
        }
        Ok(left.lower(req))
    }

    /// Counts a model call that answered `reply`: the usage it reported
    /// (priced at the model the reply names; else the client's model's,
    /// when one provider answers, or the dearest of its models when a
    /// client of several does), else the reserved input and the reply's
    /// estimated size. A reply of a client of several providers does not
    /// calibrate the next reservation: the next may go to another
    /// provider, which counts tokens its own way.
    pub(crate) fn settle(&mut self, budget: &Budget, reply: &ChatResponse) -> CallSpend {
        self.model_calls += 1;
        // What this call taught, for the log (a run taken up again goes on
        // from it); a call that reported nothing, or whose request's
        // window is not known, taught nothing.
        let mut taught = None;
        let (usage, estimated) = match &reply.usage {
            Some(usage) => {
                let one_provider = reply.info.as_ref().is_none_or(|i| i.provider.is_none());
                if let (true, Some(window)) = (
                    self.reserved_bound > 0 && one_provider,
                    self.reserved_window,
                ) {
                    let calibration = Calibration {
                        bound: self.reserved_bound,
                        reported: u64::from(usage.input_tokens),
                        window,
                        besides: self.reserved_besides,
                    };
                    self.calibration = Some(calibration);
                    taught = calibration.to_logged();
                }
                (*usage, false)
            }
            None => {
                let estimated = reply.message.estimated_tokens() as u64;
                let output = self
                    .reserved_output
                    .map_or(estimated, |max| estimated.min(max));
                let input = u32::try_from(self.reserved_input).unwrap_or(u32::MAX);
                let output = u32::try_from(output).unwrap_or(u32::MAX);
                (klieo_types::Usage::new(input, output), true)
            }
        };
        let cost_micros = match (&self.price, &self.dearest) {
            (Some(client), Some(dearest)) => {
                let info = reply.info.as_deref();
                let named = info
                    .and_then(|i| i.model.as_deref())
                    .and_then(|model| budget.prices().price(model));
                let unnamed = match info.and_then(|i| i.provider.as_ref()) {
                    Some(_) => dearest,
                    None => client,
                };
                Some(named.unwrap_or(unnamed).cost_micros(&usage))
            }
            _ => None,
        };
        let mut settled = CallSpend::new(
            u64::from(usage.input_tokens),
            u64::from(usage.output_tokens),
            cost_micros,
            estimated,
        );
        if let Some((tokens, cost)) = self.reserved.take() {
            settled = settled.with_reserved(tokens, cost);
        }
        settled.calibration = taught;
        self.count(&settled);
        self.reserved_input = 0;
        self.reserved_output = None;
        self.reserved_bound = 0;
        self.reserved_window = None;
        settled
    }

    /// Adds what one call was counted as spending.
    fn count(&mut self, settled: &CallSpend) {
        // Saturating: a log's numbers are data, not trusted to be small.
        self.input = self.input.saturating_add(settled.input_tokens);
        self.output = self.output.saturating_add(settled.output_tokens);
        self.cost = self.cost.saturating_add(settled.cost_micros.unwrap_or(0));
    }

    /// Adds what `other` counted (tokens, calls, cost; not its time).
    pub(crate) fn add_counts(&mut self, other: &Spend) {
        self.input = self.input.saturating_add(other.input);
        self.output = self.output.saturating_add(other.output);
        self.model_calls = self.model_calls.saturating_add(other.model_calls);
        self.tool_calls = self.tool_calls.saturating_add(other.tool_calls);
        self.cost = self.cost.saturating_add(other.cost);
    }

    /// Adds one model call, counted as `settled` (a child run's).
    pub(crate) fn add_call(&mut self, settled: &CallSpend) {
        self.model_calls = self.model_calls.saturating_add(1);
        self.count(settled);
    }

    /// Adds `calls` tool calls (a child run's).
    pub(crate) fn add_tool_calls(&mut self, calls: usize) {
        self.tool_calls = self.tool_calls.saturating_add(calls as u64);
    }

    /// What the run has spent so far, as its user reads it.
    pub(crate) fn report(&self) -> BudgetSpend {
        BudgetSpend {
            input_tokens: self.input,
            output_tokens: self.output,
            model_calls: self.model_calls,
            tool_calls: self.tool_calls,
            cost_usd: self.price.map(|_| self.cost as f64 / 1e6),
        }
    }

    /// Notes what the call of `req` is reserved as, once its run's and
    /// its key's limits have lowered its `max_tokens`: its input's bound
    /// and that many tokens, under a token or cost limit or a key's
    /// budget (else nothing is reserved in tokens).
    pub(crate) fn noted(
        &mut self,
        budget: &Budget,
        req: &ChatRequest,
    ) -> Option<(u64, Option<u64>)> {
        self.reserved_output = req.max_tokens.map(u64::from);
        if !(budget.limits_tokens() || self.dearest.is_some() || budget.key().is_some()) {
            return None;
        }
        let output = req.max_tokens.map_or(0, u64::from);
        let cost = self
            .dearest
            .map(|price| price.bound_micros(self.reserved_input, output));
        self.reserved = Some((self.reserved_input.saturating_add(output), cost));
        self.reserved
    }

    /// What the call in flight was reserved as, in tokens, if it was.
    pub(crate) fn reservation(&self) -> Option<(u64, Option<u64>)> {
        self.reserved
    }

    /// The bound of the input of the call reserved last.
    pub(crate) fn reserved_input(&self) -> u64 {
        self.reserved_input
    }

    /// The dearest prices of the table, when calls are priced.
    pub(crate) fn dearest(&self) -> Option<ModelPrice> {
        self.dearest
    }

    /// The working time its log records.
    pub(crate) fn logged(&self) -> Duration {
        Duration::from_millis(self.logged_ms)
    }

    /// The refusal of a call cut off when the budget's time ran out, the
    /// run having worked `elapsed` in this process.
    pub(crate) fn out_of_time(&self, budget: &Budget, elapsed: Duration) -> Error {
        Error::BudgetExceeded {
            limit: BudgetLimit::Time,
            max: budget.time().map_or(0, millis),
            spent: self.logged_ms.saturating_add(millis(elapsed)),
            needed: 1,
        }
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
