//! Tool calls put together from their pieces, as servers send them.
#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;

fn piece<'a>(
    index: Option<u32>,
    id: Option<&'a str>,
    name: Option<&'a str>,
    arguments: Option<&'a str>,
) -> ToolCallFragment<'a> {
    ToolCallFragment {
        index,
        id,
        name,
        arguments,
    }
}

fn assembled(pieces: &[ToolCallFragment<'_>]) -> Vec<(String, String, String)> {
    let mut parts = ToolCallParts::new();
    for p in pieces {
        parts.add(p).unwrap();
    }
    let calls = parts.finish();
    calls
        .iter()
        .map(|c| {
            (
                c.id.to_string(),
                c.name.to_string(),
                c.arguments().to_owned(),
            )
        })
        .collect()
}

fn call(id: &str, name: &str, args: &str) -> (String, String, String) {
    (id.to_owned(), name.to_owned(), args.to_owned())
}

#[test]
fn parallel_calls_all_at_index_zero_stay_apart_by_their_ids() {
    let calls = assembled(&[
        piece(Some(0), Some("call_a"), Some("weather"), Some(r#"{"c":"#)),
        piece(Some(0), None, None, Some(r#""Paris"}"#)),
        piece(
            Some(0),
            Some("call_b"),
            Some("time"),
            Some(r#"{"tz":"CET"}"#),
        ),
    ]);
    assert_eq!(
        calls,
        [
            call("call_a", "weather", r#"{"c":"Paris"}"#),
            call("call_b", "time", r#"{"tz":"CET"}"#),
        ]
    );
}

#[test]
fn a_call_whose_pieces_each_bring_a_new_id_stays_one_call() {
    let calls = assembled(&[
        piece(Some(0), Some("a"), Some("f"), None),
        piece(Some(0), Some("b"), None, Some(r#"{"x":"#)),
        piece(Some(0), Some("b"), None, Some("1}")),
    ]);
    assert_eq!(calls, [call("a", "f", r#"{"x":1}"#)]);
}

#[test]
fn pieces_without_index_that_bring_an_id_later_stay_one_call() {
    let calls = assembled(&[
        piece(None, None, Some("f"), Some("")),
        piece(None, Some("c1"), None, Some(r#"{"x":1}"#)),
    ]);
    assert_eq!(calls, [call("c1", "f", r#"{"x":1}"#)]);
}

#[test]
fn pieces_without_index_each_with_a_new_id_stay_one_call() {
    let calls = assembled(&[
        piece(None, Some("a"), Some("f"), None),
        piece(None, Some("b"), None, Some(r#"{"x":"#)),
        piece(None, Some("c"), None, Some("1}")),
    ]);
    assert_eq!(calls, [call("a", "f", r#"{"x":1}"#)]);
}

#[test]
fn calls_without_index_each_with_an_id_and_a_name_are_each_a_call() {
    let calls = assembled(&[
        piece(None, Some("a"), Some("f"), Some("")),
        piece(None, Some("a"), None, Some("{}")),
        piece(None, Some("b"), Some("g"), Some("")),
        piece(None, Some("b"), None, Some(r#"{"x":1}"#)),
    ]);
    assert_eq!(calls, [call("a", "f", "{}"), call("b", "g", r#"{"x":1}"#)]);
}

#[test]
fn whole_calls_without_index_or_id_are_each_a_call() {
    let calls = assembled(&[
        piece(None, None, Some("f"), Some("{}")),
        piece(None, None, Some("g"), Some(r#"{"x":1}"#)),
        piece(None, None, Some("g"), Some(r#"{"x":2}"#)),
    ]);
    assert_eq!(
        calls,
        [
            call("call_0", "f", "{}"),
            call("call_1", "g", r#"{"x":1}"#),
            call("call_2", "g", r#"{"x":2}"#),
        ]
    );
}

fn shape_of(pieces: &[&str]) -> Shape {
    let mut shape = Shape::default();
    for piece in pieces {
        shape.read(piece);
    }
    shape
}

#[test]
fn arguments_are_closed_only_when_every_object_and_string_is() {
    assert!(shape_of(&[r#"{"a":"#, r#"[1,{"b":2}]}"#]).closed());
    assert!(shape_of(&[r#"{"q":"a \"}\" b"#, r#"", "r":"\\"}"#]).closed());
    assert!(!shape_of(&[r#"{"a":"{}{}"#]).closed(), "inside a string");
    assert!(!shape_of(&[r#"{"a":["#]).closed(), "an array open");
    assert!(!shape_of(&["1"]).closed(), "nothing opened");
    assert!(!shape_of(&["{}}"]).closed(), "a mark that closes nothing");
    assert!(!shape_of(&["{}", "{}"]).closed(), "two values");
}

#[test]
fn pieces_naming_the_tool_inside_an_open_string_stay_one_call() {
    let mut pieces = vec![piece(None, None, Some("f"), Some(r#"{"a":""#))];
    pieces.extend((0..1_000).map(|_| piece(None, None, Some("f"), Some("{}"))));
    pieces.push(piece(None, None, None, Some(r#""}"#)));
    let calls = assembled(&pieces);
    assert_eq!(calls.len(), 1);
    let args: serde_json::Value = serde_json::from_str(&calls[0].2).unwrap();
    assert_eq!(args["a"].as_str().map(str::len), Some(2_000));
}

#[test]
fn a_call_whose_pieces_repeat_its_id_and_name_stays_one_call() {
    let calls = assembled(&[
        piece(Some(0), Some("c1"), Some("add"), Some(r#"{"a":"#)),
        piece(Some(0), Some("c1"), Some("add"), Some("1}")),
        piece(None, None, Some("add"), Some("")),
    ]);
    assert_eq!(calls, [call("c1", "add", r#"{"a":1}"#)]);
    let calls = assembled(&[
        piece(None, None, Some("add"), Some(r#"{"a":"#)),
        piece(None, None, Some("add"), Some("1}")),
    ]);
    assert_eq!(calls, [call("call_0", "add", r#"{"a":1}"#)]);
}

#[test]
fn whole_calls_at_one_index_without_ids_are_each_a_call() {
    let calls = assembled(&[
        piece(Some(0), None, Some("weather"), Some(r#"{"c":"A"}"#)),
        piece(Some(0), None, Some("weather"), Some(r#"{"c":"B"}"#)),
        piece(Some(0), None, Some("time"), Some("{}")),
    ]);
    assert_eq!(
        calls,
        [
            call("call_0", "weather", r#"{"c":"A"}"#),
            call("call_1", "weather", r#"{"c":"B"}"#),
            call("call_2", "time", "{}"),
        ]
    );
}

#[test]
fn empty_fragments_and_calls_count_against_the_limit() {
    let mut parts = ToolCallParts::new();
    let empty = piece(Some(0), None, None, None);
    let mut added = 0;
    let refused = loop {
        match parts.add(&empty) {
            Ok(()) => added += 1,
            Err(e) => break e,
        }
    };
    assert!(
        matches!(refused, LlmError::ToolCallsTooLarge { .. }),
        "{refused:?}"
    );
    assert!(
        added < TOOL_CALLS_LIMIT / FRAGMENT_RECORD,
        "{added} fragments"
    );

    let mut parts = ToolCallParts::new();
    let calls = (0..).find(|&i| parts.add(&piece(Some(i), None, None, None)).is_err());
    let calls = calls.expect("refused at last");
    assert!(
        (1_000..=1_024).contains(&calls),
        "at most 1,024 calls: {calls}"
    );
}
