//! [`ToolError`]: why a tool call failed, and [`WaitingOn`], the person
//! a call waits for.

use std::time::Duration;
use thiserror::Error;

fn after(delay: &Option<Duration>) -> String {
    match delay {
        Some(d) => format!("; the server asks to wait {} ms", d.as_millis()),
        None => String::new(),
    }
}

/// Why a tool call failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The model asked for a tool that does not exist.
    #[error("the model called an unknown tool `{name}`; available tools: {}", available.join(", "))]
    UnknownTool {
        /// The name the model used.
        name: String,
        /// The tools that do exist.
        available: Vec<String>,
    },
    /// The arguments are not valid JSON or do not fit the tool's schema.
    #[error("invalid arguments for tool `{tool}`: {reason}")]
    InvalidArgs {
        /// The tool called.
        tool: String,
        /// What is wrong with the arguments.
        reason: String,
    },
    /// A transient failure; the same call may succeed later.
    #[error("{message} (it may succeed if retried{})", after(.retry_after))]
    Retryable {
        /// What went wrong.
        message: String,
        /// How long to wait first, when known.
        retry_after: Option<Duration>,
    },
    /// A failure that retrying will not fix; the text says what failed.
    /// It ends the run.
    #[error("{0}")]
    Permanent(String),
    /// The tool ran and reports a failure the model can act on (a file
    /// that does not exist, a query it can correct, an MCP result marked
    /// `isError`). Unlike [`Permanent`](Self::Permanent), the run goes on:
    /// the message goes back to the model as the call's result.
    #[error("tool `{tool}` failed: {message}")]
    Failed {
        /// The tool called.
        tool: String,
        /// What the tool says went wrong.
        message: String,
    },
    /// The tool did not finish within its deadline.
    #[error("tool `{tool}` did not finish within {} ms", after.as_millis())]
    Timeout {
        /// The tool called.
        tool: String,
        /// The deadline it missed.
        after: Duration,
    },
    /// The call cannot finish until a person decides a call in another
    /// run (the tool runs an agent whose run waits for approval, or for a
    /// call in doubt to be settled): `on` says which. The run stops with
    /// its step left open and waits with that run (`Error::Suspended` or
    /// `Error::InDoubt` with the same ticket); once the person decides,
    /// the run goes on and runs this call again, so a tool that returns
    /// this must be idempotent.
    #[error("tool `{tool}` waits for a person to decide call {}", on.ticket)]
    Waiting {
        /// The tool called.
        tool: String,
        /// What it waits on (boxed: every tool result has room for each
        /// variant).
        on: Box<WaitingOn>,
    },
}

/// What a [`ToolError::Waiting`] call waits on.
///
/// ```
/// use klieo_types::{RunId, Ticket, ToolCall, ToolError, WaitingOn};
/// use serde_json::json;
///
/// let call = ToolCall::new("s1", "send", json!({}));
/// let ticket = Ticket::for_call(RunId::new(), 1, &call);
/// let waiting = ToolError::Waiting {
///     tool: "ask_mailer".into(),
///     on: Box::new(WaitingOn::new(ticket, "send", false)),
/// };
/// assert_eq!(waiting.kind(), "waiting");
/// assert!(waiting.ends_run());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitingOn {
    /// The call a person decides, in the run that waits on it.
    pub ticket: crate::Ticket,
    /// The tool that call is for.
    pub tool: String,
    /// Whether the person settles a call in doubt (else approves or
    /// denies one).
    pub in_doubt: bool,
}

impl WaitingOn {
    /// A wait on the call `ticket` names, of `tool`; `in_doubt` when a
    /// person settles it rather than approves it.
    pub fn new(ticket: crate::Ticket, tool: impl Into<String>, in_doubt: bool) -> Self {
        Self {
            ticket,
            tool: tool.into(),
            in_doubt,
        }
    }
}

impl ToolError {
    /// Whether the same call may succeed later.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Retryable { .. } | Self::Timeout { .. })
    }

    /// The kind of failure, in snake case (`"timeout"`, `"failed"`), for
    /// traces (`error.type`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnknownTool { .. } => "unknown_tool",
            Self::InvalidArgs { .. } => "invalid_args",
            Self::Retryable { .. } => "retryable",
            Self::Permanent(_) => "permanent",
            Self::Failed { .. } => "failed",
            Self::Timeout { .. } => "timeout",
            Self::Waiting { .. } => "waiting",
        }
    }

    /// Whether this error ends the run instead of going back to the model
    /// as the call's result: [`Permanent`](Self::Permanent) does, and
    /// [`Waiting`](Self::Waiting) stops it until a person decides. (An
    /// unknown tool and invalid arguments also end a run that is strict
    /// about them.)
    pub fn ends_run(&self) -> bool {
        matches!(self, Self::Permanent(_) | Self::Waiting { .. })
    }
}
