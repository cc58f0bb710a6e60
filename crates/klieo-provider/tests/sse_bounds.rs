//! Tests of the decoder's bounds: a line too long and an event too long
//! fail as soon as the bound is passed, split across pushes or not, stay
//! failed, and a line or event exactly at its bound passes.
#![allow(clippy::unwrap_used)]

use klieo_provider::sse::{SseDecoder, SseError};

use crate::support::{decode, decode_with, ev, events};

// ---- Lines ----

#[test]
fn a_line_too_long_fails_before_its_end_arrives() {
    let mut decoder = SseDecoder::with_max_line_len(10);
    decoder.push(b"data: 1");
    assert_eq!(decoder.next_event().unwrap(), None);
    decoder.push(b"2345");
    let err = decoder.next_event().unwrap_err();
    assert!(
        matches!(err, SseError::LineTooLong { limit: 10 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("10 bytes"), "{err}");
    // The decoder stays failed, whatever comes next.
    decoder.push(b"\n\ndata: ok\n\n");
    assert!(matches!(
        decoder.next_event(),
        Err(SseError::LineTooLong { .. })
    ));
    assert!(matches!(
        decoder.finish(),
        Err(SseError::LineTooLong { .. })
    ));
}

#[test]
fn a_line_too_long_fails_in_one_push_with_or_without_its_end() {
    for input in [
        &b"data: 12345"[..],
        b"data: 12345\n\n",
        b"data: ok\n\ndata: 12345\r",
    ] {
        let outcome = decode_with(&mut SseDecoder::with_max_line_len(10), &[input]);
        let err = outcome.last().unwrap().as_ref().unwrap_err();
        assert!(err.contains("10 bytes"), "{input:?}: {err}");
    }
}

#[test]
fn a_line_exactly_at_the_limit_passes() {
    let ten = ev(None, "1234", None);
    for input in [
        &b"data: 1234\n\n"[..],
        b"data: 1234\r\n\r\n",
        b"data: 1234\r\r",
    ] {
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        let mut decoder = SseDecoder::with_max_line_len(10);
        assert_eq!(decode_with(&mut decoder, &bytes), events(vec![ten.clone()]));
        let mut decoder = SseDecoder::with_max_line_len(10);
        assert_eq!(
            decode_with(&mut decoder, &[input]),
            events(vec![ten.clone()])
        );
    }
    // A comment counts too; the line end does not.
    let mut decoder = SseDecoder::with_max_line_len(3);
    assert_eq!(
        decode_with(&mut decoder, &[b":ka\r\n", b"data:ok\n\n"]).len(),
        1
    );
}

// ---- Events ----

#[test]
fn bounds_default_to_1_mib_per_line_and_16_mib_per_event() {
    let decoder = SseDecoder::new();
    assert_eq!(decoder.max_line_len(), 1 << 20);
    assert_eq!(decoder.max_event_len(), 16 << 20);
    let decoder = SseDecoder::with_max_line_len(10);
    assert_eq!(decoder.max_event_len(), 16 << 20);
    let decoder = decoder.with_max_event_len(20);
    assert_eq!((decoder.max_line_len(), decoder.max_event_len()), (10, 20));
}

#[test]
fn an_event_too_long_fails_before_its_blank_line_arrives() {
    // Short lines, each well within the line bound: only the event grows.
    let mut decoder = SseDecoder::new().with_max_event_len(100);
    for n in 1..=50 {
        decoder.push(b"data: x\n");
        assert_eq!(decoder.next_event().unwrap(), None, "line {n}");
    }
    // 50 `x` joined by 49 `\n` make 99 bytes; one more line makes 101.
    decoder.push(b"data: x\n");
    let err = decoder.next_event().unwrap_err();
    assert!(
        matches!(err, SseError::EventTooLong { limit: 100 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("100 bytes"), "{err}");
    assert!(std::error::Error::source(&err).is_none());
    // The decoder stays failed, whatever comes next.
    decoder.push(b"\n\ndata: ok\n\n");
    assert!(matches!(
        decoder.next_event(),
        Err(SseError::EventTooLong { limit: 100 })
    ));
    assert!(matches!(
        decoder.finish(),
        Err(SseError::EventTooLong { limit: 100 })
    ));
}

#[test]
fn an_event_too_long_fails_the_same_however_its_bytes_are_split() {
    let input: &[u8] = b"data: ok\n\nevent: big\r\ndata: 1234\rdata: 56\r\n\r\ndata: ok\n\n";
    let limited = || SseDecoder::new().with_max_event_len(10);
    let whole = decode_with(&mut limited(), &[input]);
    // "big" + "1234\n56" is 10 bytes; the bound is 10, so it fits...
    assert_eq!(
        whole,
        events(vec![
            ev(None, "ok", None),
            ev(Some("big"), "1234\n56", None),
            ev(None, "ok", None),
        ])
    );
    // ...and one more byte does not, wherever the pushes are cut.
    let over: &[u8] = b"data: ok\n\nevent: big\r\ndata: 1234\rdata: 567\r\n\r\ndata: ok\n\n";
    let failed = decode_with(&mut limited(), &[over]);
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[0], Ok(ev(None, "ok", None)));
    assert!(
        failed[1].as_ref().unwrap_err().contains("10 bytes"),
        "{failed:?}"
    );
    for (bytes, expected) in [(input, &whole), (over, &failed)] {
        for at in 0..=bytes.len() {
            let (a, b) = bytes.split_at(at);
            assert_eq!(
                &decode_with(&mut limited(), &[a, b]),
                expected,
                "split at {at}"
            );
        }
        let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(&decode_with(&mut limited(), &one_by_one), expected);
    }
}

#[test]
fn the_event_type_counts_toward_the_event_bound() {
    let limited = || SseDecoder::new().with_max_event_len(4);
    // The type alone passes the bound.
    let outcome = decode_with(&mut limited(), &[b"event: abcde\n"]);
    assert!(
        outcome[0].as_ref().unwrap_err().contains("4 bytes"),
        "{outcome:?}"
    );
    // The type set after the data counts too.
    let outcome = decode_with(&mut limited(), &[b"data: ab\nevent: abc\n\n"]);
    assert!(
        outcome[0].as_ref().unwrap_err().contains("4 bytes"),
        "{outcome:?}"
    );
    // A later `event:` line replaces the type: only the last one counts.
    assert_eq!(
        decode_with(&mut limited(), &[b"event: abcd\nevent: a\ndata: abc\n\n"]),
        events(vec![ev(Some("a"), "abc", None)])
    );
}

#[test]
fn the_event_bound_is_per_event_and_counts_decoded_text() {
    // Many events, each at the bound: the bound does not accumulate.
    let input = b"data: 1234\n\n".repeat(100);
    let outcome = decode_with(&mut SseDecoder::new().with_max_event_len(4), &[&input]);
    assert_eq!(outcome, events(vec![ev(None, "1234", None); 100]));
    // An event without data is dropped, and its type with it.
    assert_eq!(
        decode_with(
            &mut SseDecoder::new().with_max_event_len(4),
            &[b"event: abcd\n\ndata: 1234\n\n"]
        ),
        events(vec![ev(None, "1234", None)])
    );
    // An invalid byte becomes U+FFFD, three bytes of text.
    let outcome = decode_with(
        &mut SseDecoder::new().with_max_event_len(4),
        &[b"data: a\xFF\n\n"],
    );
    assert_eq!(outcome, events(vec![ev(None, "a\u{fffd}", None)]));
    let outcome = decode_with(
        &mut SseDecoder::new().with_max_event_len(3),
        &[b"data: a\xFF\n\n"],
    );
    assert!(
        outcome[0].as_ref().unwrap_err().contains("3 bytes"),
        "{outcome:?}"
    );
}

#[test]
fn an_unfinished_event_too_long_fails_at_finish_too() {
    // The bound is checked line by line, not at dispatch: an event that
    // the end of the input would discard still fails once it is too long.
    let outcome = decode_with(
        &mut SseDecoder::new().with_max_event_len(4),
        &[b"data: 12\n", b"data: 345\n"],
    );
    assert_eq!(outcome.len(), 1, "{outcome:?}");
    assert!(outcome[0].as_ref().unwrap_err().contains("4 bytes"));
    // The default bound is far away.
    assert_eq!(
        decode(&[b"data: 12\n", b"data: 345\n\n"]),
        events(vec![ev(None, "12\n345", None)])
    );
}
