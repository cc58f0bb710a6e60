//! Hand-offs: a team's run going on with another of its agents on the
//! same thread (by the model's hand-off tool, or a guardrail's decision),
//! written with the step that asked for it (`goes_on`), bounded by the
//! team's limit (`limits`), taken up after a stop with the agent whose
//! part it was, only through its team, and decided through the team when
//! that agent's call waits for a person (`stops`).

mod goes_on;
mod limits;
mod stops;

use super::super::store::Store;
use super::super::support::Counted;
use super::{built, no_lease};
use klieo_runtime::{Agent, Guardrail, GuardrailOutcome, Team};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{async_trait, ChatRequest, ChatResponse, LlmClient, ToolCall};
use serde_json::json;
use std::sync::Arc;

pub(crate) fn hand_off(id: &str) -> ToolCall {
    ToolCall::new(
        id,
        "transfer_to_refund",
        json!({"reason": "wants a refund"}),
    )
}

/// An agent called `name` on `store` with `llm` and `tools`.
pub(crate) fn agent(
    name: &str,
    store: &Store,
    llm: impl LlmClient + 'static,
    tools: Vec<Counted>,
) -> Agent {
    let builder = Agent::builder(llm)
        .with_name(name)
        .with_instructions(format!("You are the {name} desk."));
    built(builder, store, tools, no_lease())
}

/// A `triage` agent on `store` whose model hands the customer to
/// `refund` at once.
pub(crate) fn handing_triage(store: &Store) -> Agent {
    let llm = ScriptedLlm::new().then_tool_calls(vec![hand_off("h1")]);
    agent("triage", store, llm, vec![])
}

/// `triage`, which may hand off to `refund`.
pub(crate) fn triage_team(triage: Agent, refund: Agent) -> Team {
    Team::builder(triage)
        .add_agent(refund)
        .add_handoff("triage", "refund", "Refunds orders.")
        .build()
        .unwrap()
}

/// Hands every request off to `to`.
pub(super) struct HandsTo(&'static str);

#[async_trait]
impl Guardrail for HandsTo {
    fn name(&self) -> &str {
        "hands-to"
    }
    async fn pre_llm(&self, _req: &ChatRequest) -> GuardrailOutcome {
        GuardrailOutcome::Handoff {
            agent: self.0.to_owned(),
            reason: "not mine".into(),
        }
    }
}

/// An agent called `name` on `store` whose guardrail hands every request
/// to `to`.
pub(super) fn handing(name: &str, store: &Store, llm: &ScriptedLlm, to: &'static str) -> Agent {
    let builder = Agent::builder(llm.clone()).with_name(name);
    let options = no_lease().add_guardrail(Arc::new(HandsTo(to)));
    built(builder, store, vec![], options)
}

/// Hands every reply off to `to`.
pub(super) struct HandsReplyTo(&'static str);

#[async_trait]
impl Guardrail for HandsReplyTo {
    fn name(&self) -> &str {
        "hands-reply-to"
    }
    async fn post_llm(&self, _req: &ChatRequest, _resp: &ChatResponse) -> GuardrailOutcome {
        GuardrailOutcome::Handoff {
            agent: self.0.to_owned(),
            reason: "out of my depth".into(),
        }
    }
}
