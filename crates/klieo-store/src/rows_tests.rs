//! The row layout: numbering, token sums, windows and what cannot be read.

use super::*;

const ROWS: StoreRows = StoreRows::new("test store");

#[test]
fn a_run_id_written_otherwise_than_klieo_writes_it_is_not_read() {
    let text = "0190f1a2-b3c4-7d5e-8f60-a1b2c3d4e5f6";
    let run = ROWS.run_id(text).expect("as klieo writes ids");
    assert_eq!(run.to_string(), text);
    let refused = ROWS.run_id(&text.to_uppercase()).expect_err("upper case");
    assert!(
        refused.to_string().contains("not written as klieo"),
        "{refused}"
    );
}

#[test]
fn stored_token_counts_past_what_a_u64_holds_saturate() {
    let json = serde_json::to_string(&Message::user("a")).expect("JSON");
    let rows: Vec<(i64, String, String, i64)> = (0..3)
        .map(|i| (i, "user".to_owned(), json.clone(), i64::MAX))
        .collect();
    let (messages, first, tokens) = ROWS.numbered_transcript(&rows).expect("read");
    assert_eq!((messages.len(), first, tokens), (3, Some(0), u64::MAX));
}

#[test]
fn rows_continue_the_numbering_and_the_token_sum() {
    let rows = ROWS
        .message_rows(&[Message::user("a"), Message::user("b")], Some((4, 100)))
        .expect("rows");
    assert_eq!((rows[0].seq, rows[0].tokens_before), (5, 100));
    assert_eq!(rows[1].seq, 6);
    assert_eq!(rows[1].tokens_before, 100 + rows[0].tokens);
}

#[test]
fn a_window_never_starts_with_a_tool_result() {
    let rows: Vec<(String, String)> = [Message::tool_result("c1", "391"), Message::user("hi")]
        .iter()
        .map(|m| {
            (
                m.role.as_str().to_owned(),
                ROWS.encode("m", m).expect("json"),
            )
        })
        .collect();
    let transcript = ROWS.transcript(&rows).expect("decodes");
    assert_eq!(transcript.to_vec(), [Message::user("hi")]);
}

#[test]
fn errors_name_the_store_and_the_value() {
    let err = ROWS
        .decode::<Message>("message", "{")
        .expect_err("not JSON");
    assert!(
        err.to_string().contains("test store: a stored message"),
        "{err}"
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "the parser's error is the source"
    );
    let err = ROWS.run_id("nope").expect_err("not an id");
    assert!(err.to_string().contains("run id `nope`"), "{err}");
    let run = RunId::new();
    let listed = ROWS.run_ids(&["nope".into(), run.to_string()]);
    assert_eq!(listed, [run], "a text that is no id is left out of a list");
    let io = std::io::Error::other("disk on fire");
    let err = ROWS.backend("appending to a thread", io);
    assert_eq!(
        err.to_string(),
        "memory backend failed: test store: appending to a thread"
    );
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(cause.as_deref(), Some("disk on fire"), "the cause is kept");
}
