//! [`Spend`]: what a run spent against its [`Budget`]: counted again from
//! its journal when a process takes it up, checked before each model call
//! and each reply's tool calls, settled after each call.

use crate::options::Budget;
use klieo_types::{BudgetLimit, ChatRequest, ChatResponse, Episode, Error};

/// A run's spend so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spend {
    input: u64,
    output: u64,
    model_calls: u64,
    tool_calls: u64,
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

/// Markers a chat template adds to each message (role, start and end).
const PER_MESSAGE: u64 = 8;
/// What a template adds to a request: the reply's opening, and a little.
const PER_REQUEST: u64 = 32;
/// What a template adds around each tool's definition.
const PER_TOOL: u64 = 32;

/// An upper bound of the tokens `req` sends: a token a byte (no tokenizer
/// makes a token of less than one), each tool's definition as JSON, and
/// the markers of a chat template. About four times the real count for
/// English, so a run corrects it with the usage its calls report (see
/// `Spend::calibration`).
fn input_bound(req: &ChatRequest) -> u64 {
    let messages: usize = req
        .messages
        .iter()
        .map(|m| {
            let calls: usize = m
                .tool_calls
                .iter()
                .map(|c| c.id.len() + c.name.len() + c.arguments.len() + 8)
                .sum();
            m.content.len() + calls
        })
        .sum();
    let tools: usize = req
        .tools
        .iter()
        .map(|t| t.name.len() + t.description.len() + t.parameters.to_string().len())
        .sum();
    let count = |n: usize| n as u64;
    count(messages + tools)
        + PER_MESSAGE * count(req.messages.len())
        + PER_TOOL * count(req.tools.len())
        + PER_REQUEST
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

impl Spend {
    /// What the log of a run shows it spent: each model call with the
    /// usage it reported, each tool call.
    pub(crate) fn from_log(episodes: &[Episode]) -> Self {
        let mut spend = Self::default();
        for episode in episodes {
            match episode {
                Episode::LlmCall { tokens, .. } => {
                    spend.model_calls += 1;
                    if let Some(usage) = tokens {
                        spend.input += u64::from(usage.input_tokens);
                        spend.output += u64::from(usage.output_tokens);
                    }
                }
                Episode::ToolCall { .. } => spend.tool_calls += 1,
                _ => {}
            }
        }
        spend
    }

    /// Checks the model call of `req` against `budget` and reserves it:
    /// an upper bound of its input (the last reported input and the bound
    /// of the messages added since, or the whole request's bound before
    /// any call reported), and as output what the token limits leave,
    /// which lowers the request's `max_tokens` when that is less. So what
    /// a server reports never passes a token limit.
    pub(crate) fn reserve(&mut self, budget: &Budget, req: &mut ChatRequest) -> Result<(), Error> {
        within(
            BudgetLimit::ModelCalls,
            budget.model_calls(),
            self.model_calls,
            1,
        )?;
        if !budget.limits_tokens() {
            return Ok(());
        }
        let bound = input_bound(req);
        let input = match self.calibration {
            Some((last_bound, reported)) if bound >= last_bound => reported + (bound - last_bound),
            _ => bound,
        };
        within(
            BudgetLimit::InputTokens,
            budget.input_tokens(),
            self.input,
            input,
        )?;
        let asked = req.max_tokens.map_or(1, u64::from);
        let total = self.input + self.output;
        within(
            BudgetLimit::TotalTokens,
            budget.total_tokens(),
            total,
            input + 1,
        )
        .map_err(|_| Error::BudgetExceeded {
            limit: BudgetLimit::TotalTokens,
            max: budget.total_tokens().unwrap_or(0),
            spent: total,
            needed: input + asked,
        })?;
        within(
            BudgetLimit::OutputTokens,
            budget.output_tokens(),
            self.output,
            1,
        )
        .map_err(|_| Error::BudgetExceeded {
            limit: BudgetLimit::OutputTokens,
            max: budget.output_tokens().unwrap_or(0),
            spent: self.output,
            needed: asked,
        })?;
        let left = [
            budget
                .output_tokens()
                .map(|max| max.saturating_sub(self.output)),
            budget
                .total_tokens()
                .map(|max| max.saturating_sub(total + input)),
        ]
        .into_iter()
        .flatten()
        .min();
        if let Some(left) = left {
            let left = u32::try_from(left).unwrap_or(u32::MAX);
            req.max_tokens = Some(req.max_tokens.map_or(left, |asked| asked.min(left)));
        }
        self.reserved_input = input;
        self.reserved_bound = bound;
        Ok(())
    }

    /// Counts a model call that answered `reply`: the usage it reported,
    /// else the reserved input and the reply's estimated size.
    pub(crate) fn settle(&mut self, reply: &ChatResponse) {
        self.model_calls += 1;
        match &reply.usage {
            Some(usage) => {
                self.input += u64::from(usage.input_tokens);
                self.output += u64::from(usage.output_tokens);
                if self.reserved_bound > 0 {
                    self.calibration = Some((self.reserved_bound, u64::from(usage.input_tokens)));
                }
            }
            None => {
                self.input += self.reserved_input;
                self.output += reply.message.estimated_tokens() as u64;
            }
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
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use klieo_types::{FinishReason, Message, Usage};

    fn request(words: usize) -> ChatRequest {
        ChatRequest::new(vec![Message::user("word ".repeat(words))])
    }

    fn answered(input: u32, output: u32) -> ChatResponse {
        let mut reply = ChatResponse::new(Message::assistant("ok"), FinishReason::Stop);
        reply.usage = Some(Usage::new(input, output));
        reply
    }

    #[test]
    fn a_call_that_would_pass_a_token_limit_is_refused_naming_it() {
        let budget = Budget::new().with_total_tokens(100);
        let mut spend = Spend::default();
        let mut req = request(10);
        spend.reserve(&budget, &mut req).unwrap();
        assert!(req.max_tokens.is_some_and(|left| left < 100), "{req:?}");
        spend.settle(&answered(60, 30));
        let refused = spend.reserve(&budget, &mut request(10)).unwrap_err();
        match refused {
            Error::BudgetExceeded {
                limit: BudgetLimit::TotalTokens,
                max: 100,
                spent: 90,
                needed,
            } => assert!(needed > 10, "{needed}"),
            other => panic!("expected the total-token limit, got {other:?}"),
        }
    }

    #[test]
    fn calls_are_counted_and_refused_past_their_limits() {
        let budget = Budget::new().with_model_calls(1).with_tool_calls(2);
        let mut spend = Spend::default();
        spend.reserve(&budget, &mut request(1)).unwrap();
        spend.settle(&answered(1, 1));
        assert!(matches!(
            spend.reserve(&budget, &mut request(1)),
            Err(Error::BudgetExceeded {
                limit: BudgetLimit::ModelCalls,
                max: 1,
                spent: 1,
                needed: 1
            })
        ));
        spend.tool_calls(&budget, 2).unwrap();
        assert!(matches!(
            spend.tool_calls(&budget, 1),
            Err(Error::BudgetExceeded {
                limit: BudgetLimit::ToolCalls,
                max: 2,
                spent: 2,
                needed: 1
            })
        ));
    }

    #[test]
    fn a_log_gives_back_the_spend_it_records() {
        let call = |usage: Option<Usage>| Episode::LlmCall {
            step: 1,
            tokens: usage,
            latency_ms: 1,
            finish_reason: FinishReason::ToolCalls,
            tool_calls: 1,
        };
        let log = vec![
            Episode::Started { agent: "a".into() },
            call(Some(Usage::new(40, 10))),
            call(None),
        ];
        let spend = Spend::from_log(&log);
        assert_eq!((spend.input, spend.output, spend.model_calls), (40, 10, 2));
    }

    #[test]
    fn the_input_is_reserved_at_its_bound_then_from_what_calls_report() {
        let budget = Budget::new().with_total_tokens(10_000);
        let mut spend = Spend::default();
        // 500 bytes, one message, the request's markers.
        let mut first = request(100);
        spend.reserve(&budget, &mut first).unwrap();
        assert_eq!(first.max_tokens, Some(10_000 - 540));
        spend.settle(&answered(120, 10));
        // The same message and a reply of 2 bytes: 10 more than before.
        let words = "word ".repeat(100);
        let mut next = ChatRequest::new(vec![Message::user(words), Message::assistant("ok")]);
        spend.reserve(&budget, &mut next).unwrap();
        assert_eq!(spend.reserved_input, 130);
        assert_eq!(next.max_tokens, Some(10_000 - 130 - 130));
    }

    #[test]
    fn an_unreported_usage_is_estimated() {
        let mut spend = Spend::default();
        let budget = Budget::new().with_input_tokens(1_000);
        spend.reserve(&budget, &mut request(20)).unwrap();
        let reply = ChatResponse::new(Message::assistant("a reply"), FinishReason::Stop);
        spend.settle(&reply);
        assert!(spend.input > 0 && spend.output > 0, "{spend:?}");
    }
}
