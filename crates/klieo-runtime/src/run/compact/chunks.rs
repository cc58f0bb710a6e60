//! Where a thread is cut for a summary (never between a tool call and its
//! results), and the chunks of it each summary call is given.

use klieo_types::{Message, Role, ToolCall, Transcript};

/// Where the newest `keep` tokens of `messages` begin, moved back to the
/// start of a turn (never on a tool result, which stays with its call),
/// and never after `limit`: the messages before it are summarised. `None`
/// when that leaves nothing to summarise.
pub(super) fn cut_point(messages: &Transcript, keep: usize, limit: usize) -> Option<usize> {
    let len = messages.len();
    let mut kept = 0;
    let mut cut = len;
    for (i, message) in messages.iter().rev().enumerate() {
        let i = len - 1 - i;
        kept += message.estimated_tokens();
        if kept > keep {
            break;
        }
        cut = i;
    }
    // The newest message stays, however large.
    let cut = turn_start(messages, cut.min(len.saturating_sub(1)).min(limit), 0);
    (cut > 0).then_some(cut)
}

/// `at`, moved back (not past `floor`) off tool results to the message
/// whose call they answer: a cut there keeps a call with its results.
fn turn_start(messages: &Transcript, mut at: usize, floor: usize) -> usize {
    while at > floor && messages.get(at).is_some_and(|m| m.role == Role::Tool) {
        at -= 1;
    }
    at
}

/// The chunk of `messages` from `next` (before `end`) of at most `max`
/// estimated tokens (at least one turn's part), and where the next
/// begins. A tool call is never parted from its results: a chunk that
/// would end on the call ends before it, or, when the call is all it
/// holds, takes the results too, past `max`.
pub(super) fn chunk(
    messages: &Transcript,
    next: usize,
    end: usize,
    max: usize,
) -> (Transcript, usize) {
    let (mut stop, mut tokens) = (next, 0);
    for message in messages.iter().skip(next).take(end.saturating_sub(next)) {
        let size = message.estimated_tokens();
        if stop > next && tokens + size > max {
            break;
        }
        tokens += size;
        stop += 1;
    }
    let mut cut = if stop < end {
        turn_start(messages, stop, next)
    } else {
        stop
    };
    if cut == next {
        // The call is all the chunk holds: its results come with it.
        cut = stop;
        while cut < end && messages.get(cut).is_some_and(|m| m.role == Role::Tool) {
            cut += 1;
        }
    }
    let taken = messages.iter().skip(next).take(cut - next).cloned();
    (Transcript::from(fitted(taken.collect(), max)), cut)
}

/// The most tokens the mark of a cut text takes (`[cut: N bytes more]`).
const MARK_TOKENS: usize = 16;

/// The tokens a message is counted beside its text.
const PER_MESSAGE: usize = 4;

/// `messages`, the texts of the larger cut to what the others leave of
/// `max` tokens when together they are over it (a chunk of one long
/// message, or of a call and its results), so that a summary call holds
/// no more than the run's requests may: sent whole, it overflowed the
/// model's window, and every later compaction failed on the same turn. A
/// message within an even share is left whole; the room the small leave
/// is shared by the large, each cut to its part of it in bytes (a byte is
/// a token at most), its calls' arguments too.
fn fitted(mut messages: Vec<Message>, max: usize) -> Vec<Message> {
    let sizes: Vec<usize> = messages.iter().map(Message::estimated_tokens).collect();
    let total: usize = sizes.iter().sum();
    if total <= max || messages.is_empty() {
        return messages;
    }
    let even = max / messages.len();
    let small: usize = sizes.iter().filter(|size| **size <= even).sum();
    let large: usize = total - small;
    let room = max.saturating_sub(small);
    for (message, size) in messages.iter_mut().zip(sizes) {
        if size <= even {
            continue;
        }
        let share = size.saturating_mul(room) / large.max(1);
        let parts = 1 + message.tool_calls.len();
        let keep = (share / parts).saturating_sub(MARK_TOKENS + PER_MESSAGE);
        if let Some(cut) = cut_to(&message.content, keep) {
            message.content = cut;
        }
        for call in &mut message.tool_calls {
            if let Some(cut) = cut_to(call.arguments(), keep) {
                *call = ToolCall::from_raw(call.id.clone(), call.name.clone(), cut);
            }
        }
    }
    messages
}

/// `text` cut to `keep` bytes and marked so, when it is longer.
fn cut_to(text: &str, keep: usize) -> Option<String> {
    match crate::compaction::cut_marked(text, keep) {
        std::borrow::Cow::Owned(cut) => Some(cut),
        std::borrow::Cow::Borrowed(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn thread() -> Transcript {
        Transcript::from(vec![
            Message::user("first question, rather long to count for something"),
            Message::assistant("first answer, rather long to count for something"),
            Message::user("second"),
            Message::assistant_tool_calls("", vec![ToolCall::new("c1", "echo", json!({}))]),
            Message::tool_result("c1", "one"),
            Message::tool_result("c1", "two"),
        ])
    }

    #[test]
    fn the_cut_never_leaves_a_tool_result_without_its_call() {
        let messages = thread();
        let results: usize = messages.iter().skip(4).map(Message::estimated_tokens).sum();
        // Room for the two results alone: their call stays with them.
        assert_eq!(cut_point(&messages, results, usize::MAX), Some(3));
    }

    #[test]
    fn the_newest_turn_stays_however_small_the_share_kept() {
        assert_eq!(cut_point(&thread(), 0, usize::MAX), Some(3));
        let one = Transcript::from(vec![Message::user("only")]);
        assert_eq!(
            cut_point(&one, 0, usize::MAX),
            None,
            "nothing older to summarise"
        );
    }

    #[test]
    fn a_share_that_holds_everything_summarises_nothing() {
        assert_eq!(cut_point(&thread(), usize::MAX, usize::MAX), None);
    }

    #[test]
    fn the_cut_stops_at_the_runs_own_first_message() {
        assert_eq!(cut_point(&thread(), 0, 2), Some(2));
        assert_eq!(cut_point(&thread(), 0, 0), None);
    }

    #[test]
    fn chunks_hold_at_most_their_share_and_at_least_one_message() {
        let messages = thread();
        let sizes: Vec<usize> = messages.iter().map(Message::estimated_tokens).collect();
        let (first, next) = chunk(&messages, 0, 4, sizes[0] + sizes[1]);
        assert_eq!((first.len(), next), (2, 2), "{sizes:?}");
        let (second, next) = chunk(&messages, next, 4, sizes[0] + sizes[1]);
        assert_eq!((second.len(), next), (2, 4));
        let (tiny, next) = chunk(&messages, 0, 3, 1);
        assert_eq!((tiny.len(), next), (1, 1), "one message when none fits");
    }

    #[test]
    fn a_chunk_never_parts_a_call_from_its_results() {
        let messages = thread();
        let sizes: Vec<usize> = messages.iter().map(Message::estimated_tokens).collect();
        // Room up to the call: it goes with its results, to the next.
        let up_to_call: usize = sizes[..4].iter().sum();
        let (first, next) = chunk(&messages, 0, 6, up_to_call);
        assert_eq!((first.len(), next), (3, 3), "{sizes:?}");
        let (second, next) = chunk(&messages, next, 6, up_to_call);
        assert_eq!((second.len(), next), (3, 6));
        // A call alone takes its results, whatever the bound.
        let (alone, next) = chunk(&messages, 3, 6, 1);
        assert_eq!((alone.len(), next), (3, 6));
    }

    #[test]
    fn a_chunk_over_its_bound_has_its_texts_cut_to_their_shares() {
        let huge = Message::user("1,".repeat(1_000));
        let messages = Transcript::from(vec![huge]);
        let (part, next) = chunk(&messages, 0, 1, 100);
        assert_eq!(next, 1);
        let tokens: usize = part.iter().map(Message::estimated_tokens).sum();
        assert!(tokens <= 100, "{tokens}");
        let text = part.get(0).map(|m| m.content.clone()).unwrap_or_default();
        assert!(text.ends_with(" [cut: 1920 bytes more]"), "{text}");

        let call = Message::assistant_tool_calls("", vec![ToolCall::new("c1", "read", json!({}))]);
        let results = (0..2).map(|_| Message::tool_result("c1", "word ".repeat(400)));
        let turn = Transcript::from(std::iter::once(call).chain(results).collect::<Vec<_>>());
        let (part, _) = chunk(&turn, 0, 3, 120);
        assert_eq!(part.len(), 3, "a call keeps its results");
        let tokens: usize = part.iter().map(Message::estimated_tokens).sum();
        assert!(tokens <= 120, "{tokens}");
        assert_eq!(part.get(0).map(|m| m.tool_calls[0].arguments()), Some("{}"));

        let small = Message::user("ok");
        let mixed = Transcript::from(vec![small.clone(), Message::user("1,".repeat(1_000))]);
        let (part, _) = chunk(&mixed, 0, 2, 100);
        assert_eq!(
            part.get(0),
            Some(&small),
            "a message within its share stays whole"
        );
        let tokens: usize = part.iter().map(Message::estimated_tokens).sum();
        assert!(tokens <= 100, "{tokens}");

        let writes = (0..4)
            .map(|i| ToolCall::from_raw(format!("w{i}"), "write", "x".repeat(4_000)))
            .collect();
        let calls = Transcript::from(vec![Message::assistant_tool_calls("", writes)]);
        let (part, _) = chunk(&calls, 0, 1, 200);
        let tokens: usize = part.iter().map(Message::estimated_tokens).sum();
        assert!(tokens <= 200, "a call's arguments are cut too: {tokens}");
    }
}
