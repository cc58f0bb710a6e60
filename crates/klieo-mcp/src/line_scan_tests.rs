//! The line checks: nesting, count of values, and the id of a reply.

use super::*;

#[test]
fn values_and_nesting_are_counted_outside_strings() {
    assert_eq!(scan(br#"{"a":[1,2,{"b":"x,y[{"}]}"#), Ok(()));
    let many = format!("[{}]", vec!["{}"; MAX_REPLY_VALUES + 1].join(","));
    assert_eq!(
        scan(many.as_bytes()),
        Err(ReplyFault::TooManyValues {
            limit: MAX_REPLY_VALUES
        })
    );
    let deep = "[".repeat(MAX_REPLY_DEPTH + 1);
    assert_eq!(
        scan(deep.as_bytes()),
        Err(ReplyFault::TooDeep {
            limit: MAX_REPLY_DEPTH
        })
    );
    assert_eq!(scan(br#"["\"[[[[", "\\"]"#), Ok(()));
}

#[test]
fn nested_values_count_though_no_comma_separates_them() {
    let nest = format!("{}{}", "[".repeat(90), "]".repeat(90));
    let line = format!("[{}]", vec![nest; 2_000].join(","));
    assert_eq!(
        scan(line.as_bytes()),
        Err(ReplyFault::TooManyValues {
            limit: MAX_REPLY_VALUES
        }),
        "2,000 items of 90 arrays each: some 180,000 values"
    );
    let fits = format!("[{}]", vec!["[[1]]"; 30_000].join(","));
    assert_eq!(scan(fits.as_bytes()), Ok(()), "about 90,000 values");
}

#[test]
fn the_id_a_bad_line_answers_is_found_at_its_start_or_end() {
    let id =
        |line: &[u8]| reply_id(line, false).map(|raw| String::from_utf8_lossy(raw).into_owned());
    assert_eq!(
        id(br#"{"jsonrpc":"2.0","id":7,"result":{"#).as_deref(),
        Some("7")
    );
    assert_eq!(
        id(br#"...}},"jsonrpc":"2.0","id": 7}"#).as_deref(),
        Some("7")
    );
    assert_eq!(
        id(br#"...}},"xid": 7}"#),
        None,
        "a last member named otherwise"
    );
    assert_eq!(id(br#"...}},"id" : 7 }"#).as_deref(), Some("7"));
    assert_eq!(id(br#"{"jsonrpc":"2.0","id":70,"#).as_deref(), Some("70"));
    assert_eq!(id(br#"{"id":"a","result":"#).as_deref(), Some(r#""a""#));
}

#[test]
fn an_id_inside_the_result_is_not_the_replys() {
    let id =
        |line: &[u8]| reply_id(line, false).map(|raw| String::from_utf8_lossy(raw).into_owned());
    // The reply's own id comes after its result, which holds an `"id"`.
    let line = br#"{"jsonrpc":"2.0","result":{"a":[{"id":2},{"id":2}]},"id":3}"#;
    assert_eq!(id(line).as_deref(), Some("3"));
    let line = br#"{"jsonrpc":"2.0","result":{"items":[{"id":2}]"#;
    assert_eq!(id(line), None, "no id of its own in sight");
    let line = br#"{"jsonrpc":"2.0","result":{"note":"\"id\":2"}, "id": 4 }"#;
    assert_eq!(id(line).as_deref(), Some("4"));
    // A string value "id" is no key, and an id cut at the end of what is
    // kept is not taken.
    let line = br#"{"method":"id","id":5,"params":{"#;
    assert_eq!(id(line).as_deref(), Some("5"));
    let line = format!(
        r#"{{"jsonrpc":"2.0","result":{{"a":"{}"}},"id":12}}"#,
        "x".repeat(215)
    );
    let start = &line.as_bytes()[..KEPT];
    assert!(
        start.ends_with(br#""id":1"#),
        "{:?}",
        String::from_utf8_lossy(start)
    );
    assert_eq!(leading_id(start), None);
    assert_eq!(id(line.as_bytes()).as_deref(), Some("12"));
}

#[test]
fn a_number_written_otherwise_is_the_same_id() {
    let four = RequestId::Number(4);
    for raw in [&b"4"[..], b"4.0", br#""4""#] {
        assert!(same_id(&four, raw), "{}", String::from_utf8_lossy(raw));
    }
    assert!(!same_id(&four, b"40"));
    assert!(same_id(&RequestId::String("a".into()), br#""a""#));
}

#[test]
fn a_string_id_ending_in_an_escaped_backslash_is_read_whole() {
    let id =
        |line: &[u8]| reply_id(line, false).map(|raw| String::from_utf8_lossy(raw).into_owned());
    assert_eq!(
        id(br#"{"jsonrpc":"2.0","id":"a\\","result":{"#).as_deref(),
        Some(r#""a\\""#)
    );
    assert_eq!(
        id(br#"{"id":"say \"hi\"","result":"#).as_deref(),
        Some(r#""say \"hi\"""#)
    );
}

#[test]
fn a_line_with_a_method_is_the_servers_own() {
    assert!(from_server(
        br#"{"jsonrpc":"2.0","method":"notifications/message","params":[0,0"#,
        false
    ));
    assert!(from_server(
        br#"{"method":"ping","id":3,"params":{}}"#,
        false
    ));
    assert!(!from_server(
        br#"{"jsonrpc":"2.0","id":3,"result":{"method":"x"}}"#,
        true
    ));
    assert!(!from_server(b"not JSON at all", true));
}

#[test]
fn a_method_named_late_is_still_the_servers_own() {
    let late = format!(
        r#"{{"jsonrpc":"2.0","params":{{"data":"{}"}},"method":"notifications/message","x":1}}"#,
        "x".repeat(KEPT)
    );
    assert!(from_server(late.as_bytes(), true), "the whole line read");
    assert!(
        !from_server(late.as_bytes(), false),
        "past what is kept, not last"
    );
    let last = format!(
        r#"{{"jsonrpc":"2.0","params":{{"data":"{}"}},"method":"notifications/message"}}"#,
        "x".repeat(KEPT)
    );
    assert!(from_server(last.as_bytes(), false), "the last member");
    let id = format!(
        r#"{{"jsonrpc":"2.0","result":{{"a":"{}"}},"id":9,"x":1}}"#,
        "x".repeat(KEPT)
    );
    let found = reply_id(id.as_bytes(), true).map(|raw| String::from_utf8_lossy(raw).into_owned());
    assert_eq!(
        found.as_deref(),
        Some("9"),
        "an id in the middle of a whole line"
    );
}
