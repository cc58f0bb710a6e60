//! [`HandoffHistory`]: what an agent of a team sees of the thread once a
//! run is handed to it.

use super::seat::tool_name;
use klieo_types::{Role, Transcript};
use std::collections::HashSet;

/// What an agent of a [`Team`](crate::Team) sees of the thread when a run
/// is handed to it ([`TeamBuilder::with_history`](crate::TeamBuilder::with_history)).
///
/// The thread itself keeps everything; this is only what the agent's
/// model is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandoffHistory {
    /// The whole thread (the default).
    #[default]
    Whole,
    /// The conversation: up to the result of the last hand-off call to
    /// this agent in the thread, the user's messages and the agents'
    /// text, without their tool calls and results; after it, everything.
    /// The agent's first request does not end on the agents' text after
    /// the user's last message (a model reads a request that ends on an
    /// assistant's words as one to go on): it ends on the user's. Its
    /// later requests, which end on its own, hold that text.
    /// A guardrail's hand-off makes no call: the cut is then at an earlier
    /// call to this agent, or, with none, the agent sees the whole
    /// thread. Of a window that holds only tool traffic from before the
    /// cut (the rest did not fit), the agent is sent the window as it is.
    Conversation,
}

impl HandoffHistory {
    /// `messages` as agent `agent` sees them.
    pub(crate) fn apply(self, messages: &Transcript, agent: &str) -> Option<Transcript> {
        if self == Self::Whole {
            return None;
        }
        let tool = tool_name(agent);
        let mut handed: HashSet<&str> = HashSet::new();
        let mut boundary = None;
        for (i, message) in messages.iter().enumerate() {
            if message.role == Role::Assistant {
                // A result answers a call of the assistant message before
                // it: ids repeat across steps (`c1`, `call_0`).
                handed.clear();
                let hand_offs = message.tool_calls.iter().filter(|c| *c.name == *tool);
                handed.extend(hand_offs.map(|call| &*call.id));
            }
            let result_of_hand_off = message.role == Role::Tool
                && message
                    .tool_call_id
                    .as_deref()
                    .is_some_and(|id| handed.contains(id));
            if result_of_hand_off {
                boundary = Some(i);
            }
        }
        // The step's other results come with it: their calls are cut.
        let mut boundary = boundary?;
        while messages
            .get(boundary + 1)
            .is_some_and(|next| next.role == Role::Tool)
        {
            boundary += 1;
        }
        let seen = messages.iter().enumerate().filter_map(|(i, message)| {
            if i > boundary {
                return Some(message.clone());
            }
            match message.role {
                Role::Tool => None,
                Role::Assistant if !message.tool_calls.is_empty() => {
                    let mut said = message.clone();
                    said.tool_calls.clear();
                    (!said.content.is_empty()).then_some(said)
                }
                _ => Some(message.clone()),
            }
        });
        let mut seen: Vec<_> = seen.collect();
        // The agent's first request: nothing follows the cut, and a
        // request that ends on the handing agent's words ("Let me
        // transfer you.") is read as a reply to go on (a prefill, for
        // Anthropic and llama.cpp). The user's words end it instead.
        let user_said = seen.iter().any(|m| m.role == Role::User);
        if boundary + 1 == messages.len() && user_said {
            while seen.last().is_some_and(|m| m.role == Role::Assistant) {
                seen.pop();
            }
        }
        Some(Transcript::from(seen))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use klieo_types::{Message, ToolCall};
    use serde_json::json;

    fn thread() -> Transcript {
        let lookup = ToolCall::new("l1", "lookup", json!({}));
        let hand_off = ToolCall::new("h1", "transfer_to_refund", json!({}));
        let mut calls = Message::assistant("Let me look.");
        calls.tool_calls = vec![lookup];
        let mut handing = Message::assistant("");
        handing.tool_calls = vec![hand_off];
        let refund_call = ToolCall::new("r1", "refund_order", json!({}));
        let mut refunding = Message::assistant("");
        refunding.tool_calls = vec![refund_call];
        Transcript::from(vec![
            Message::user("Money back for 1042?"),
            calls,
            Message::tool_result("l1", "shipped"),
            handing,
            Message::tool_result("h1", "Handed off."),
            refunding,
            Message::tool_result("r1", "refunded"),
        ])
    }

    fn shown(t: &Transcript) -> Vec<String> {
        t.iter()
            .map(|m| format!("{:?}:{}:{}", m.role, m.content, m.tool_calls.len()))
            .collect()
    }

    #[test]
    fn the_conversation_drops_tool_traffic_before_the_hand_off_and_keeps_what_follows() {
        let seen = HandoffHistory::Conversation
            .apply(&thread(), "refund")
            .unwrap();
        assert_eq!(
            shown(&seen),
            [
                "User:Money back for 1042?:0",
                "Assistant:Let me look.:0",
                "Assistant::1",
                "Tool:refunded:0"
            ]
        );
    }

    #[test]
    fn the_results_of_the_hand_off_step_go_with_its_calls() {
        let mut both = Message::assistant("");
        both.tool_calls = vec![
            ToolCall::new("h1", "transfer_to_refund", json!({})),
            ToolCall::new("l1", "lookup", json!({})),
        ];
        let thread = Transcript::from(vec![
            Message::user("Money back?"),
            both,
            Message::tool_result("h1", "Handed off."),
            Message::tool_result("l1", "shipped"),
            Message::assistant("Refunded."),
        ]);
        let seen = HandoffHistory::Conversation
            .apply(&thread, "refund")
            .unwrap();
        assert_eq!(
            shown(&seen),
            ["User:Money back?:0", "Assistant:Refunded.:0"]
        );
    }

    #[test]
    fn the_agents_first_request_does_not_end_on_the_handing_agents_words() {
        let mut handing = Message::assistant("Transferring you to refunds.");
        handing.tool_calls = vec![ToolCall::new("h1", "transfer_to_refund", json!({}))];
        let thread = Transcript::from(vec![
            Message::user("Money back for 1042?"),
            handing,
            Message::tool_result("h1", "Handed off."),
        ]);
        let seen = HandoffHistory::Conversation
            .apply(&thread, "refund")
            .unwrap();
        assert_eq!(shown(&seen), ["User:Money back for 1042?:0"]);
    }

    #[test]
    fn without_a_hand_off_call_to_the_agent_the_thread_is_whole() {
        assert!(HandoffHistory::Conversation
            .apply(&thread(), "billing")
            .is_none());
        assert!(HandoffHistory::Whole.apply(&thread(), "refund").is_none());
    }

    #[test]
    fn a_later_call_that_reuses_the_hand_offs_id_moves_no_cut() {
        let mut t: Vec<Message> = thread().iter().cloned().collect();
        // The refund desk's own call reuses the hand-off's id, `h1`.
        let mut looking = Message::assistant("");
        looking.tool_calls = vec![ToolCall::new("h1", "lookup", json!({}))];
        t.push(looking);
        t.push(Message::tool_result("h1", "still shipped"));
        let seen = HandoffHistory::Conversation
            .apply(&Transcript::from(t), "refund")
            .unwrap();
        let shown = shown(&seen);
        assert_eq!(
            shown[shown.len() - 4..],
            [
                "Assistant::1",
                "Tool:refunded:0",
                "Assistant::1",
                "Tool:still shipped:0"
            ],
            "the refund desk keeps its own calls and results: {shown:?}"
        );
    }
}
