//! Transcripts and message logs: order across blocks, windows, and the
//! cuts that never start with an orphaned tool result.

use super::log::BLOCK;
use super::*;
use crate::ToolCall;

/// The text of a numbered log's message `i`: `m0000` on.
pub(super) fn name(i: usize) -> String {
    format!("m{i:04}")
}

/// A log of `n` user messages, [`name`]d.
pub(super) fn numbered(n: usize) -> MessageLog {
    let mut log = MessageLog::new();
    for i in 0..n {
        log.push(Message::user(name(i)));
    }
    log
}

/// Each message's text, in order.
pub(super) fn contents(t: &Transcript) -> Vec<String> {
    t.iter().map(|m| m.content.clone()).collect()
}

#[test]
fn window_spanning_blocks_keeps_order() {
    let log = numbered(3 * BLOCK + 5);
    let all = log.all();
    assert_eq!(all.len(), 3 * BLOCK + 5);
    let expected: Vec<String> = (0..3 * BLOCK + 5).map(name).collect();
    assert_eq!(contents(&all), expected);
    let per = Message::user("m0000").estimated_tokens();
    let window = log.window(per * 70);
    assert_eq!(contents(&window), expected[expected.len() - 70..].to_vec());
    let first = name(3 * BLOCK + 5 - 70);
    assert_eq!(window.get(0).map(|m| &m.content), Some(&first));
}

#[test]
fn window_is_empty_when_newest_is_over_budget() {
    let log = numbered(3);
    assert!(log.window(1).is_empty());
    assert!(MessageLog::new().window(100).is_empty());
}

#[test]
fn window_skips_every_orphaned_tool_result() {
    let mut log = MessageLog::new();
    let calls = vec![
        ToolCall::new("a", "t", serde_json::json!({})),
        ToolCall::new("b", "t", serde_json::json!({})),
    ];
    log.push(Message::assistant_tool_calls("", calls));
    log.push(Message::tool_result("a", "1"));
    log.push(Message::tool_result("b", "2"));
    log.push(Message::assistant("done"));
    let budget = Message::tool_result("b", "2").estimated_tokens()
        + Message::assistant("done").estimated_tokens();
    let window = log.window(budget);
    assert_eq!(contents(&window), ["done"]);
}

#[test]
fn transcripts_share_blocks_and_stay_immutable() {
    let mut log = numbered(3);
    let before = log.all();
    log.push(Message::user("later"));
    assert_eq!(before.len(), 3);
    assert_eq!(log.all().len(), 4);
    let mut extended = before.clone();
    extended.push(Message::user("own"));
    assert_eq!(before.len(), 3, "pushing onto a clone leaves the original");
    assert_eq!(contents(&extended).last().map(String::as_str), Some("own"));
}

#[test]
fn transcript_round_trips_through_json() {
    let t = Transcript::from(vec![Message::system("s"), Message::user("u")]);
    let json = serde_json::to_string(&t).unwrap_or_default();
    let back: Result<Transcript, _> = serde_json::from_str(&json);
    assert_eq!(back.ok(), Some(t));
}

#[test]
fn extend_shared_and_get_walk_segments() {
    let mut t = Transcript::new();
    t.push(Message::system("s"));
    t.extend_shared(&numbered(2).all());
    t.push(Message::user("tail"));
    assert_eq!(contents(&t), ["s", "m0000", "m0001", "tail"]);
    assert_eq!(t.get(2).map(|m| m.content.as_str()), Some("m0001"));
    assert_eq!(t.get(4), None);
    assert_eq!(
        t.iter().next_back().map(|m| m.content.as_str()),
        Some("tail")
    );
}

#[test]
fn concat_keeps_order_and_length_for_any_number_of_parts() {
    let log = numbered(BLOCK + 2);
    let (head, spanning) = (numbered(1).all(), log.all());
    let single = Transcript::from(vec![Message::user("x")]);
    let empty = Transcript::new();
    for parts in [
        vec![&head, &spanning],
        vec![&head, &single, &spanning],
        vec![&head, &empty, &single, &spanning],
    ] {
        let joined = Transcript::concat(&parts);
        let expected: Vec<String> = parts.iter().flat_map(|p| contents(p)).collect();
        assert_eq!(joined.len(), expected.len());
        assert_eq!(contents(&joined), expected);
        assert_eq!(joined.clone(), joined, "a clone reads the same");
    }
    assert!(Transcript::concat(&[&empty, &empty]).is_empty());
    assert_eq!(Transcript::concat(&[]), Transcript::new());
}

#[test]
fn pushing_past_two_segments_keeps_order_and_leaves_a_clone_as_it_was() {
    // Two segments (held in place), then pushes that add a third (shared)
    // and grow it, on the transcript and on a clone taken at each size.
    let head = Transcript::from(vec![Message::system("s")]);
    let mut t = Transcript::concat(&[&head, &numbered(2).all()]);
    let two = t.clone();
    t.push(Message::user("third"));
    let three = t.clone();
    t.push(Message::user("fourth"));
    assert_eq!(contents(&t), ["s", "m0000", "m0001", "third", "fourth"]);
    assert_eq!(contents(&two), ["s", "m0000", "m0001"], "untouched");
    assert_eq!(contents(&three), ["s", "m0000", "m0001", "third"]);
    let mut from_clone = two.clone();
    from_clone.push(Message::user("other"));
    assert_eq!(contents(&from_clone), ["s", "m0000", "m0001", "other"]);
    assert_eq!(contents(&t).len(), 5, "a clone's push leaves the original");
    assert_eq!(t.last().map(|m| m.content.as_str()), Some("fourth"));
}
