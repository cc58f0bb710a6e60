//! [`Episode`]: the event log of a run, one entry per thing that happened.

use crate::response::{FinishReason, Usage};
use crate::{CallSpend, JsonText, RunId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How one tool call ended, as recorded in an [`Episode::ToolCall`].
///
/// JSON: `{"status": "ok", "output": …}`, `{"status": "error", "message": "…"}`,
/// `{"status": "cancelled"}`, `{"status": "interrupted"}` or
/// `{"status": "denied", "reason": "…"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolOutcome {
    /// The tool returned this value.
    Ok {
        /// The tool's output.
        output: serde_json::Value,
    },
    /// The call failed; the message is what the model was told, or why the
    /// run stopped.
    Error {
        /// What went wrong.
        message: String,
    },
    /// The run was cancelled while the call ran; it was stopped.
    Cancelled,
    /// The run's process stopped while the call ran, and the tool is not
    /// idempotent, so it was not run again: whether it had its effect is
    /// unknown. The model is told so.
    Interrupted,
    /// A person denied the call; it did not run. The model is told why.
    Denied {
        /// The reason they gave.
        reason: String,
    },
}

/// One event of an agent run, recorded by an
/// [`EpisodicMemory`](crate::EpisodicMemory).
///
/// # JSON shape
///
/// Episodes serialize as objects tagged by `"type"`, in snake case. This
/// shape is stable: fields may be added, never renamed or removed.
///
/// ```text
/// {"type":"started","agent":"calc"}
/// {"type":"llm_call","step":1,"tokens":{"input_tokens":52,"output_tokens":9},"latency_ms":310,"finish_reason":"tool_calls","tool_calls":1}
/// {"type":"tool_call","step":1,"call_id":"c1","name":"calculator","args":{"expression":"17*23"},"result":{"status":"ok","output":391},"latency_ms":0}
/// {"type":"completed","steps":2}
/// {"type":"failed","error":"cancelled"}
/// {"type":"resumed","steps":1}
/// {"type":"suspended","step":1,"call_id":"c4","tool":"send_mail","digest":"9f2c4e1a07b3d566"}
/// {"type":"approved","call_id":"c4"}
/// {"type":"in_doubt","step":2,"call_id":"c5","tool":"pay","digest":"51c0de2a9b7e4f13"}
/// {"type":"settled","call_id":"c5","outcome":{"status":"ok","output":"paid"},"by":"ada"}
/// ```
///
/// `tokens` is `null` when the provider did not report usage: unknown is
/// not zero. Message contents and secrets are never recorded here; tool
/// arguments and outputs are, since they are the run's own data.
///
/// ```
/// use klieo_types::Episode;
///
/// let e = Episode::Started { agent: "calc".into() };
/// assert_eq!(serde_json::to_string(&e)?, r#"{"type":"started","agent":"calc"}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Episode {
    /// A run began.
    Started {
        /// The agent's name.
        agent: String,
    },
    /// One model call (one cycle of the step loop) finished.
    LlmCall {
        /// The cycle, counting from 1.
        step: u32,
        /// Tokens used, when the provider reported them.
        tokens: Option<Usage>,
        /// Wall time of the call, retries included.
        latency_ms: u64,
        /// Why the model stopped.
        finish_reason: FinishReason,
        /// How many tool calls the model asked for.
        tool_calls: u32,
        /// What a run with a budget counted the call as (absent in a run
        /// without one): a run taken up again counts its spend from it.
        /// Boxed: most calls have none, and an episode is moved whole.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        spend: Option<Box<CallSpend>>,
    },
    /// One tool call finished.
    ToolCall {
        /// The cycle that asked for it.
        step: u32,
        /// The call's id, as the model gave it.
        #[serde(deserialize_with = "crate::shared_str::deserialize")]
        call_id: Arc<str>,
        /// The tool's name, as the model gave it.
        #[serde(deserialize_with = "crate::shared_str::deserialize")]
        name: Arc<str>,
        /// The arguments, as the text the model sent (shared with its
        /// call; `{}` when it sent none); a JSON string holding the raw
        /// text when that was not JSON.
        args: JsonText,
        /// How it ended.
        result: ToolOutcome,
        /// Wall time of the call.
        latency_ms: u64,
    },
    /// The run ended with an answer.
    Completed {
        /// Cycles used.
        steps: u32,
    },
    /// The run ended without an answer.
    Failed {
        /// Why, in words.
        error: String,
    },
    /// The run stopped to wait for a person to approve a tool call; it
    /// goes on with `Agent::approve` or `Agent::deny`.
    Suspended {
        /// The step whose call waits.
        step: u32,
        /// The call.
        #[serde(deserialize_with = "crate::shared_str::deserialize")]
        call_id: Arc<str>,
        /// The tool.
        #[serde(deserialize_with = "crate::shared_str::deserialize")]
        tool: Arc<str>,
        /// The digest of the call's step, name and arguments (the
        /// ticket's).
        digest: String,
    },
    /// A person approved the call the run waited on.
    Approved {
        /// The call.
        #[serde(deserialize_with = "crate::shared_str::deserialize")]
        call_id: Arc<str>,
        /// Who approved it, when they said (a decision recorded from
        /// outside the run: the `klieo` command, a console).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// A person denied the call the run waited on.
    Denied {
        /// The call.
        #[serde(deserialize_with = "crate::shared_str::deserialize")]
        call_id: Arc<str>,
        /// The reason they gave, which the model is told.
        reason: String,
        /// Who denied it, when they said.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// The run's process stopped while a call of a tool a person watches
    /// (one that needs approval, and is not idempotent) ran: whether it
    /// had its effect is unknown, so the run waits for a person to settle
    /// it (say what happened) before it goes on.
    InDoubt {
        /// The step whose call is in doubt.
        step: u32,
        /// The call.
        #[serde(deserialize_with = "crate::shared_str::deserialize")]
        call_id: Arc<str>,
        /// The tool.
        #[serde(deserialize_with = "crate::shared_str::deserialize")]
        tool: Arc<str>,
        /// The digest of the call's step, name and arguments (the
        /// ticket's).
        digest: String,
    },
    /// A person settled the call the run was in doubt about: what it did,
    /// which the model is told as the call's result.
    Settled {
        /// The call.
        #[serde(deserialize_with = "crate::shared_str::deserialize")]
        call_id: Arc<str>,
        /// What the call did, as the person said: `ok` with its result,
        /// or `error` when it did not happen.
        outcome: ToolOutcome,
        /// Who settled it, when they said.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// This run is a child run: call `call_id` of step `step` of the run
    /// `parent` started it (an agent used as a tool). First in its log,
    /// with `Started`.
    ChildOf {
        /// The run whose call started this one.
        parent: RunId,
        /// The parent's step.
        step: u32,
        /// The parent's call.
        #[serde(deserialize_with = "crate::shared_str::deserialize")]
        call_id: Arc<str>,
    },
    /// Step `step`'s call `call_id` runs the child run `child`, which
    /// waits for a person: this run waits with it, the step left open.
    /// Once the person decides, the run goes on, and the call runs again
    /// and finds its child going on.
    WaitingOnChild {
        /// The step whose call waits.
        step: u32,
        /// The call.
        #[serde(deserialize_with = "crate::shared_str::deserialize")]
        call_id: Arc<str>,
        /// The child run that waits for a person (or one of its own
        /// children does).
        child: RunId,
    },
    /// A person decided what the child run `child` waited on: this run,
    /// which waited with it, goes on.
    ChildWoken {
        /// The child run.
        child: RunId,
    },
    /// The agent `from` handed the conversation to `to`, another agent of
    /// its team: the run goes on with `to`'s instructions, tools and
    /// options on the same thread. Written with the step whose hand-off
    /// call asked for it (or alone, for a guardrail's hand-off).
    HandedOff {
        /// The agent that handed off.
        from: String,
        /// The agent that goes on.
        to: String,
        /// Why, as the model or the guardrail said.
        reason: String,
    },
    /// The run was taken up again after its process stopped (a crash or a
    /// restart): what follows continues the log before it.
    Resumed {
        /// Model calls the run had made before (its next is `steps + 1`,
        /// or the pending step's tools are finished first).
        steps: u32,
    },
    /// Where the run's own messages begin in its thread: the newest
    /// message when the run first read it (its prompt, for a new run).
    /// Written with the first model call of a run that compacts its
    /// thread, so that a process taking the run up never summarises that
    /// message or what follows it.
    PromptAt {
        /// The message's index in the thread, counting from 0.
        index: u64,
    },
    /// The run asks for an answer of this shape (a typed run, on a
    /// journal): written with `Started`, so a resume of the run asks for
    /// it again.
    OutputShape {
        /// The type's name, as the `response_format` names it.
        name: String,
        /// Its JSON Schema.
        schema: serde_json::Value,
    },
    /// A model call waited for a shared rate limit before it was sent
    /// (a client limited by a `RateLimiter`); written with the step's
    /// `LlmCall`, before it.
    RateLimited {
        /// The cycle whose call waited.
        step: u32,
        /// The limit's scope (a provider's model, usually).
        scope: String,
        /// How long it waited.
        waited_ms: u64,
    },
    /// A model call moved from one provider to the next (a client made of
    /// several, such as `klieo_provider::Fallback`); written with the
    /// step's `LlmCall`, before it.
    ProviderSwitched {
        /// The cycle whose call moved.
        step: u32,
        /// The provider passed over.
        from: String,
        /// The provider tried next.
        to: String,
        /// Why `from` was passed over.
        reason: String,
    },
    /// A model call, or a reply's tool calls, would have passed a limit
    /// of the run's budget or of its key's, and was not made: the run
    /// ends. Written with its `Failed`, before it.
    BudgetRefused {
        /// The limit.
        limit: crate::BudgetLimit,
        /// Its value.
        max: u64,
        /// What the run (or, for a key's limit, the key's runs) had spent
        /// and reserved of it.
        spent: u64,
        /// What the refused call would have taken, at most.
        needed: u64,
        /// The key, when the limit was the key's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// The run's thread was compacted before cycle `step`: its messages
    /// `from..through` are now read as `summary` (with what came before
    /// them). The messages stay in the thread; the summary is kept
    /// beside them in the same commit.
    Compacted {
        /// The cycle whose request first read the summary.
        step: u32,
        /// The first message newly replaced.
        from: u64,
        /// The first message after the summary.
        through: u64,
        /// The summary.
        summary: String,
        /// What the summary's model call reported using, if it said.
        tokens: Option<Usage>,
    },
    /// Compacting the run's thread before cycle `step` failed; its history
    /// was left as it was and the run went on.
    CompactionFailed {
        /// The cycle whose request was being made.
        step: u32,
        /// What went wrong.
        reason: String,
    },
}

impl Episode {
    /// Whether a log that ends with this episode is of a run that stopped
    /// on its own: it ended (`Completed`, `Failed`), or waits for a person
    /// (`Suspended`, `InDoubt`) or with a child run for one
    /// (`WaitingOnChild`). A run whose log ends otherwise was cut off (its
    /// process stopped) and is taken up again by a resume.
    ///
    /// ```
    /// use klieo_types::Episode;
    ///
    /// assert!(Episode::Completed { steps: 2 }.leaves_the_run_stopped());
    /// assert!(!Episode::Resumed { steps: 2 }.leaves_the_run_stopped());
    /// ```
    pub fn leaves_the_run_stopped(&self) -> bool {
        matches!(
            self,
            Self::Completed { .. }
                | Self::Failed { .. }
                | Self::Suspended { .. }
                | Self::InDoubt { .. }
                | Self::WaitingOnChild { .. }
        )
    }

    /// The episode's kind: its JSON `"type"` (`"started"`, `"llm_call"`,
    /// `"tool_call"`, …).
    ///
    /// ```
    /// use klieo_types::Episode;
    ///
    /// let e = Episode::Completed { steps: 2 };
    /// assert_eq!(e.kind(), "completed");
    /// assert_eq!(serde_json::to_value(&e)?["type"], e.kind());
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Started { .. } => "started",
            Self::LlmCall { .. } => "llm_call",
            Self::ToolCall { .. } => "tool_call",
            Self::Completed { .. } => "completed",
            Self::Failed { .. } => "failed",
            Self::Suspended { .. } => "suspended",
            Self::Approved { .. } => "approved",
            Self::Denied { .. } => "denied",
            Self::InDoubt { .. } => "in_doubt",
            Self::Settled { .. } => "settled",
            Self::ChildOf { .. } => "child_of",
            Self::WaitingOnChild { .. } => "waiting_on_child",
            Self::ChildWoken { .. } => "child_woken",
            Self::HandedOff { .. } => "handed_off",
            Self::Resumed { .. } => "resumed",
            Self::PromptAt { .. } => "prompt_at",
            Self::OutputShape { .. } => "output_shape",
            Self::ProviderSwitched { .. } => "provider_switched",
            Self::RateLimited { .. } => "rate_limited",
            Self::BudgetRefused { .. } => "budget_refused",
            Self::Compacted { .. } => "compacted",
            Self::CompactionFailed { .. } => "compaction_failed",
        }
    }
}
