//! An agent's seat in a team's run: the agents it may hand the run to,
//! the hand-off tools its model is offered for them, and how the run's
//! engine takes a hand-off (the tool's call, or a guardrail's decision).

use crate::fact::Fact;
use crate::run::Run;
use async_trait::async_trait;
use klieo_types::{Commit, Error, Tool, ToolCall, ToolContext, ToolDef, ToolError, ToolPolicy};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The name of the tool that hands the run to agent `to`.
pub(crate) fn tool_name(to: &str) -> String {
    format!("transfer_to_{to}")
}

/// A hand-off an agent's model may ask for: to agent `to`, told to the
/// model as `description`.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) to: String,
    pub(crate) tool: ToolDef,
}

#[async_trait]
impl Tool for Route {
    fn def(&self) -> &ToolDef {
        &self.tool
    }

    /// Says the run is handed on, which it is once the step is written.
    async fn invoke(&self, _args: Value, _ctx: ToolContext<'_>) -> Result<Value, ToolError> {
        Ok(Value::String(format!(
            "Handed off to agent `{}`; it goes on from here.",
            self.to
        )))
    }

    fn policy(&self) -> ToolPolicy {
        ToolPolicy::new().with_idempotent(true)
    }
}

impl Route {
    pub(crate) fn new(to: &str, description: &str) -> Self {
        let schema = json!({
            "type": "object",
            "properties": {
                "reason": {
                    "type": "string",
                    "description": "Why, in a few words."
                }
            }
        });
        Self {
            to: to.to_owned(),
            tool: ToolDef::new(tool_name(to), description, schema),
        }
    }
}

/// What one agent's run in a team may do: which agents it may hand off
/// to, by a tool or a guardrail, and how many hand-offs the run has left.
#[derive(Debug, Clone)]
pub(crate) struct Seat {
    /// The agent in the seat.
    pub(crate) agent: String,
    /// Every agent of the team, by name.
    pub(crate) members: Arc<BTreeSet<String>>,
    /// The hand-off tools offered to this agent's model.
    pub(crate) routes: Arc<[Route]>,
    /// Hand-offs the run made before this agent's part.
    pub(crate) handed: u32,
    /// Model calls the run made before this agent's part: its first
    /// step is the agent's first (for `RunOptions::tool_choice`).
    pub(crate) since: u32,
    /// Model calls the run had made when this part began (after `since`
    /// for a part taken up again): a hand-off before its own first model
    /// call hands on after them.
    pub(crate) began_after: u32,
    /// The team's limit on hand-offs in one run.
    pub(crate) limit: u32,
    /// What the agent sees of the thread.
    pub(crate) history: super::HandoffHistory,
}

/// A hand-off the run made: to which agent, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HandedOff {
    pub(crate) to: String,
    pub(crate) reason: String,
}

impl Run {
    /// The hand-off a step's `calls` ask for: the first call of a
    /// hand-off tool offered to this run's model whose arguments are
    /// JSON (one that is not was told so, as any tool's call).
    pub(crate) fn handoff_asked(&self, calls: &[ToolCall]) -> Option<HandedOff> {
        self.handoff_asked_at(calls).map(|(_, handed)| handed)
    }

    /// [`handoff_asked`](Self::handoff_asked), with the index of the call
    /// that asked for it.
    pub(crate) fn handoff_asked_at(&self, calls: &[ToolCall]) -> Option<(usize, HandedOff)> {
        let seat = self.seat()?;
        calls.iter().enumerate().find_map(|(index, call)| {
            let route = seat.routes.iter().find(|r| *r.tool.name == *call.name)?;
            let args = call.parse_arguments().ok()?;
            let reason = args
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or_default();
            // The model's words, bounded as a failure's text is, in the
            // log, the events and the error.
            let handed = HandedOff {
                to: route.to.clone(),
                reason: klieo_types::text::bounded(reason, crate::EPISODE_CHARS),
            };
            Some((index, handed))
        })
    }

    /// What the model is told of call `index` of a step's `calls` when it
    /// is a hand-off the step's first (`asked`, at its index) took the
    /// place of: one hand-off a step takes effect, and the others did
    /// not happen. `None` for any other call.
    pub(crate) fn handoff_passed_over(
        &self,
        calls: &[ToolCall],
        index: usize,
        asked: Option<&(usize, HandedOff)>,
    ) -> Option<ToolError> {
        let (first, handed) = asked?;
        let call = calls.get(index)?;
        let routes = &self.seat()?.routes;
        if *first == index || !routes.iter().any(|r| *r.tool.name == *call.name) {
            return None;
        }
        Some(ToolError::Failed {
            tool: call.name.to_string(),
            message: format!(
                "not handed off: call `{}` of this step hands the run to agent `{}`, and one \
                 hand-off a step takes effect",
                calls.get(*first)?.id,
                handed.to
            ),
        })
    }

    /// The hand-off a guardrail's `error` asks for, when it is to another
    /// agent of the run's team.
    pub(crate) fn handoff_decided(&self, error: &Error) -> Option<HandedOff> {
        let Error::Handoff { agent, reason } = error else {
            return None;
        };
        let seat = self.seat()?;
        (*agent != seat.agent && seat.members.contains(agent)).then(|| HandedOff {
            to: agent.clone(),
            reason: reason.clone(),
        })
    }

    /// The error past the team's limit on hand-offs, when the run may
    /// make no more: [`Error::HandoffLimit`].
    fn past_limit(&self, handed: &HandedOff) -> Option<Error> {
        match self.seat() {
            Some(seat) if seat.handed < seat.limit => None,
            seat => Some(Error::HandoffLimit {
                limit: seat.map_or(0, |seat| seat.limit),
                agent: handed.to.clone(),
            }),
        }
    }

    /// Writes `step`, the commit of the step that asked for `handed`
    /// (`None` when a guardrail asked, with nothing else to write), with
    /// its `HandedOff` episode, and returns the error that ends this
    /// agent's part: the hand-off, which its team takes (the user's and
    /// the spans' views are told once it is written). Past the team's
    /// limit, the step is written without the episode and the error is
    /// [`Error::HandoffLimit`]. A failed write is the error.
    pub(crate) async fn hand_off(&self, step: Option<Commit>, handed: HandedOff) -> Error {
        if let Some(over) = self.past_limit(&handed) {
            let Some(mut step) = step else {
                return over;
            };
            return match self.write(&mut step).await {
                Ok(()) => over,
                Err(e) => e,
            };
        }
        let mut commit = step.unwrap_or_else(|| self.side_commit());
        let episode = self.ctx.memories.episode(self.handoff_fact(&handed));
        commit.episodes.extend(episode);
        if let Err(e) = self.write(&mut commit).await {
            return e;
        }
        self.tell(&self.handoff_fact(&handed));
        let error = Error::Handoff {
            agent: handed.to.clone(),
            reason: handed.reason.clone(),
        };
        let _ = self.handoff.set(handed);
        error
    }

    fn handoff_fact<'a>(&'a self, handed: &'a HandedOff) -> Fact<'a> {
        Fact::HandedOff {
            from: &self.ctx.agent_name,
            to: &handed.to,
            reason: &handed.reason,
        }
    }

    /// The hand-off a tool step asks for, unless `fatal`, the first error
    /// of its calls that ends the run, is set: see
    /// [`handoff_asked`](Self::handoff_asked).
    pub(crate) fn handoff_unless_failed(
        &self,
        calls: &[ToolCall],
        fatal: Option<&Error>,
    ) -> Option<HandedOff> {
        match fatal {
            None => self.handoff_asked(calls),
            Some(_) => None,
        }
    }

    /// Writes a tool step's `commit` and returns what ends the agent's
    /// part: `fatal`, the first error of its calls that ends the run;
    /// else `handed`, the hand-off it asked for, written with it (see
    /// [`hand_off`](Self::hand_off)); else nothing: the run goes on.
    /// (`finish_step` writes a step with no hand-off, none of whose calls
    /// waits, by this rule without calling it: keep the two alike.)
    pub(crate) async fn write_tool_step(
        &self,
        mut commit: Commit,
        handed: Option<HandedOff>,
        fatal: Option<Error>,
    ) -> Result<(), Error> {
        match (fatal, handed) {
            (None, Some(handed)) => Err(self.hand_off(Some(commit), handed).await),
            (fatal, _) => {
                self.write(&mut commit).await?;
                fatal.map_or(Ok(()), Err)
            }
        }
    }

    /// The error that ends the run's part: a guardrail's hand-off to
    /// another agent of its team is written (`HandedOff`) and kept, or is
    /// [`Error::HandoffLimit`] past the team's limit, or the store's
    /// failure to write it; any other `error` as it is.
    pub(crate) async fn settle_handoff(&self, error: Error) -> Error {
        if self.handoff.get().is_some() {
            // Written with the step that asked for it.
            return error;
        }
        let Some(handed) = self.handoff_decided(&error) else {
            return error;
        };
        self.hand_off(None, handed).await
    }

    /// Whether `error` ended the run's part with a hand-off its team
    /// takes: the run goes on.
    pub(crate) fn handed_on(&self, error: &Error) -> bool {
        matches!(error, Error::Handoff { agent, .. }
            if self.handoff.get().is_some_and(|h| h.to == *agent))
    }
}
