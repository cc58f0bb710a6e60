//! The line checks of klieo's stdio transport.

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
fn the_id_a_bad_line_answers_is_found_at_its_start_or_end() {
    let seven = RequestId::Number(7);
    assert!(holds_id(br#"{"jsonrpc":"2.0","id":7,"result":{"#, &seven));
    assert!(holds_id(br#"...}},"jsonrpc":"2.0","id": 7}"#, &seven));
    assert!(!holds_id(br#"{"jsonrpc":"2.0","id":70,"#, &seven));
    let named = RequestId::String("a".into());
    assert!(holds_id(br#"{"id":"a","result":"#, &named));
}
