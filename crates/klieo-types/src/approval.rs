//! [`Ticket`]: the handle of a run waiting for a person to approve a tool
//! call.

use crate::{ParseIdError, RunId, ToolCall};
use std::fmt;
use std::str::FromStr;

/// Names a tool call a suspended run waits on: its run, its call id and a
/// digest of the call (its step, tool name and arguments). Print it to
/// store it anywhere; parse it back in any process.
///
/// The digest makes an approval fail closed when the call it was given for
/// is not the call now pending: another tool or other arguments, or the
/// same call asked for again at a later step (a server that numbers its
/// calls from zero each step repeats their ids), so a stale approval form
/// approves nothing. It detects change; it does not authenticate (whoever
/// can write the store can approve anyway).
///
/// ```
/// use klieo_types::{RunId, Ticket, ToolCall};
/// use serde_json::json;
///
/// let call = ToolCall::new("c1", "send_mail", json!({"to": "ada"}));
/// let ticket = Ticket::for_call(RunId::new(), 3, &call);
/// let text = ticket.to_string();
/// assert_eq!(text.parse::<Ticket>()?, ticket);
/// assert!(ticket.matches(3, &call));
/// assert!(!ticket.matches(3, &ToolCall::new("c1", "send_mail", json!({"to": "eve"}))));
/// assert!(!ticket.matches(4, &call), "the same call, asked for again");
/// # Ok::<(), klieo_types::ParseTicketError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ticket {
    /// The suspended run.
    pub run: RunId,
    /// The call waiting for approval.
    pub call_id: String,
    /// The call's digest, as hex.
    pub digest: String,
}

impl Ticket {
    /// The ticket for `call`, made at step `step` of `run`.
    pub fn for_call(run: RunId, step: u32, call: &ToolCall) -> Self {
        Self {
            run,
            call_id: call.id.to_string(),
            digest: digest(step, call),
        }
    }

    /// Whether `call`, made at step `step`, is the call this ticket was
    /// made for.
    pub fn matches(&self, step: u32, call: &ToolCall) -> bool {
        *call.id == *self.call_id && digest(step, call) == self.digest
    }
}

/// FNV-1a (64 bits) over the step, the tool's name and its raw arguments.
fn digest(step: u32, call: &ToolCall) -> String {
    let step = step.to_be_bytes().into_iter();
    let bytes = step
        .chain(call.name.bytes())
        .chain([0])
        .chain(call.arguments().bytes());
    format!("{:016x}", crate::digest::fnv1a(bytes))
}

impl fmt::Display for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.run, self.call_id, self.digest)
    }
}

/// Why a text is not a [`Ticket`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not an approval ticket (run-id/call-id/digest): {reason}")]
pub struct ParseTicketError {
    text: String,
    reason: String,
}

impl FromStr for Ticket {
    type Err = ParseTicketError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |reason: String| ParseTicketError {
            text: s.to_owned(),
            reason,
        };
        let (run, rest) = s
            .split_once('/')
            .ok_or_else(|| fail("it has no `/`".into()))?;
        let (call_id, digest) = rest
            .rsplit_once('/')
            .ok_or_else(|| fail("it has one `/`, not two".into()))?;
        let run: RunId = run.parse().map_err(|e: ParseIdError| fail(e.to_string()))?;
        if call_id.is_empty()
            || digest.len() != 16
            || !digest.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(fail(
                "the call id is empty or the digest is not 16 hex digits".into(),
            ));
        }
        // Written in lower case; a person may copy one in upper.
        Ok(Self {
            run,
            call_id: call_id.to_owned(),
            digest: digest.to_ascii_lowercase(),
        })
    }
}
