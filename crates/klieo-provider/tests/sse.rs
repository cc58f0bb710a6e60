//! Tests of the SSE decoder: a sample stream cut at every byte, random
//! streams cut at random against a reference decoder, line ends across
//! pushes, the BOM, UTF-8, the `id` and `retry` fields, and `finish`. The
//! bounds on lines and events are tested in `sse_bounds.rs`, the stream
//! adapter in `sse_stream.rs`.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::error::Error as _;
use std::io;
use std::time::Duration;

use klieo_provider::sse::{SseDecoder, SseError, SseEvent, SseStream, MAX_ID_LEN};

use crate::support::{decode, decode_with, ev, events, sample, sample_events, Chunks, BOM};

#[test]
fn sample_stream_decodes_to_the_expected_events() {
    let input = sample();
    let mut decoder = SseDecoder::new();
    assert_eq!(
        decode_with(&mut decoder, &[&input]),
        events(sample_events())
    );
    assert_eq!(decoder.last_event_id(), Some("8"));
    assert_eq!(decoder.retry(), Some(Duration::from_millis(1500)));
    assert_eq!(reference(&input), sample_events());
}

#[test]
fn sample_stream_split_at_every_byte_decodes_the_same() {
    let input = sample();
    let whole = events(sample_events());
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        assert_eq!(decode(&[a, b]), whole, "split at byte {at}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(decode(&bytes), whole, "one byte at a time");
}

#[test]
fn random_streams_cut_at_random_decode_as_a_whole() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..400 {
        let input = random_stream(&mut rng);
        let whole = decode(&[&input]);
        assert_eq!(
            whole,
            events(reference(&input)),
            "round {round}: {}",
            input.escape_ascii()
        );
        let limit = 4 + rng.below(24);
        let whole_limited = decode_with(&mut SseDecoder::with_max_line_len(limit), &[&input]);
        // The same number bounds events in a second decoder.
        let event_limited = || SseDecoder::new().with_max_event_len(limit);
        let whole_event_limited = decode_with(&mut event_limited(), &[&input]);
        for _ in 0..4 {
            let pieces = random_cuts(&mut rng, &input);
            let shown = show(&pieces);
            assert_eq!(decode(&pieces), whole, "round {round}: {shown:?}");
            let limited = decode_with(&mut SseDecoder::with_max_line_len(limit), &pieces);
            assert_eq!(
                limited, whole_limited,
                "round {round}, limit {limit}: {shown:?}"
            );
            assert_eq!(
                decode_with(&mut event_limited(), &pieces),
                whole_event_limited,
                "round {round}, event limit {limit}: {shown:?}"
            );
        }
    }
}

#[test]
fn cr_ending_one_push_and_lf_starting_the_next_are_one_line_end() {
    let data_ab = events(vec![ev(None, "a\nb", None)]);
    assert_eq!(decode(&[b"data: a\r", b"\ndata: b\n\n"]), data_ab);
    assert_eq!(
        decode(&[b"data: a\r", b"", b"\ndata: b\r", b"\n\r", b"\n"]),
        data_ab
    );
    // The blank line's own CRLF split the same way: one dispatch, no more.
    assert_eq!(
        decode(&[b"data: a\r\n\r", b"\n\r", b"\ndata: b\r\n\r", b"\n"]),
        events(vec![ev(None, "a", None), ev(None, "b", None)])
    );
    // Lone CRs still end lines when the next push starts with something else.
    assert_eq!(decode(&[b"data: a\r", b"\r", b"data: b\r", b"\r"]), {
        events(vec![ev(None, "a", None), ev(None, "b", None)])
    });
}

#[test]
fn an_event_is_dispatched_as_soon_as_its_blank_line_ends() {
    let mut decoder = SseDecoder::new();
    decoder.push(b"data: a\r\r");
    assert_eq!(decoder.next_event().unwrap(), Some(ev(None, "a", None)));
    assert_eq!(decoder.next_event().unwrap(), None);
}

#[test]
fn the_bom_is_skipped_only_at_the_very_start() {
    let a = events(vec![ev(None, "a", None)]);
    let mut with_bom = BOM.to_vec();
    with_bom.extend_from_slice(b"data: a\n\n");
    assert_eq!(decode(&[&with_bom]), a);
    let bytes: Vec<&[u8]> = with_bom.chunks(1).collect();
    assert_eq!(decode(&bytes), a, "BOM split across pushes");
    // A second BOM is part of the line, making `data` an unknown field.
    let mut two = BOM.repeat(2);
    two.extend_from_slice(b"data: a\n\n");
    assert_eq!(decode(&[&two]), events(vec![]));
    // After the first line, too.
    let mut later = b"data: a\n".to_vec();
    later.extend_from_slice(BOM);
    later.extend_from_slice(b"data: b\n\n");
    assert_eq!(decode(&[&later]), a);
    // A BOM's prefix followed by something else is kept, decoded as U+FFFD.
    assert_eq!(
        decode(&[b"\xEF\xBB", b"data: a\n\ndata: b\n\n"]),
        events(vec![ev(None, "b", None)])
    );
    // A very short stream that is only a BOM prefix is fine.
    assert_eq!(decode(&[b"\xEF"]), events(vec![]));
}

#[test]
fn utf8_is_decoded_per_line_and_invalid_bytes_become_replacements() {
    let smile = "data: \u{1f600}\n\n".as_bytes();
    let bytes: Vec<&[u8]> = smile.chunks(1).collect();
    assert_eq!(decode(&bytes), events(vec![ev(None, "\u{1f600}", None)]));
    assert_eq!(
        decode(&[b"data: a\xFFb\xE2\x82\n", b"event: \xC3\n\n"]),
        events(vec![ev(Some("\u{fffd}"), "a\u{fffd}b\u{fffd}", None)])
    );
}

#[test]
fn id_and_retry_fields_follow_the_spec() {
    let mut decoder = SseDecoder::new();
    let input: &[u8] = b"id: 1\ndata: a\n\n\
        id: x\0y\ndata: b\n\n\
        retry: 12a\nretry: -5\nretry:\ndata: c\n\n\
        id\nretry: 250\ndata: d\n\n";
    assert_eq!(
        decode_with(&mut decoder, &[input]),
        events(vec![
            ev(None, "a", Some("1")),
            ev(None, "b", Some("1")),
            ev(None, "c", Some("1")),
            ev(None, "d", None),
        ])
    );
    assert_eq!(decoder.retry(), Some(Duration::from_millis(250)));
    assert_eq!(decoder.last_event_id(), None);
}

#[test]
fn an_id_past_its_bound_is_ignored_as_one_holding_nul_is() {
    let long = format!("id: {}\ndata: b\n\n", "x".repeat(MAX_ID_LEN + 1));
    let at_bound = format!("id: {}\ndata: c\n\n", "y".repeat(MAX_ID_LEN));
    let input = format!("id: 1\ndata: a\n\n{long}{at_bound}");
    assert_eq!(
        decode(&[input.as_bytes()]),
        events(vec![
            ev(None, "a", Some("1")),
            ev(None, "b", Some("1")),
            ev(None, "c", Some(&"y".repeat(MAX_ID_LEN))),
        ])
    );
}

#[test]
fn finish_discards_the_unfinished_event_and_readies_a_new_stream() {
    let mut decoder = SseDecoder::new();
    decoder.push(b"id: 1\ndata: a\n\ndata: b\nid: 2\n");
    assert_eq!(
        decoder.next_event().unwrap(),
        Some(ev(None, "a", Some("1")))
    );
    assert_eq!(decoder.finish().unwrap(), None);
    // The ID of the discarded event never took effect.
    assert_eq!(decoder.last_event_id(), Some("1"));
    // A reconnection: a new BOM is skipped, the last event ID carries over.
    let mut next = BOM.to_vec();
    next.extend_from_slice(b"data: c\n\n");
    assert_eq!(
        decode_with(&mut decoder, &[&next]),
        events(vec![ev(None, "c", Some("1"))])
    );
}

#[test]
fn finish_returns_every_event_left_in_the_buffer() {
    let mut decoder = SseDecoder::new();
    decoder.push(b"data: a\n\ndata: b\n\ndata: c");
    assert_eq!(decoder.finish().unwrap(), Some(ev(None, "a", None)));
    assert_eq!(decoder.finish().unwrap(), Some(ev(None, "b", None)));
    assert_eq!(decoder.finish().unwrap(), None);
    assert_eq!(decoder.finish().unwrap(), None);
}

#[test]
fn errors_are_send_sync_and_carry_their_cause() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<SseError>();
    send_sync::<SseDecoder>();
    send_sync::<SseStream<Chunks>>();
    let err = SseError::Transport(io::Error::other("connection reset").into());
    assert_eq!(err.to_string(), "reading the SSE byte stream failed");
    assert_eq!(err.source().unwrap().to_string(), "connection reset");
}

// ---- The reference decoder and random streams ----

/// The spec's algorithm, written out plainly over the whole input.
fn reference(input: &[u8]) -> Vec<SseEvent> {
    let text = String::from_utf8_lossy(input.strip_prefix(BOM).unwrap_or(input)).into_owned();
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(std::mem::take(&mut line));
            }
            c => line.push(c),
        }
    }
    // What is left in `line` is unterminated: discarded.
    // The last event ID string is set from the buffer at each blank line,
    // so the buffer is what events carry.
    let (mut out, mut data, mut kind, mut id_buf) =
        (Vec::new(), String::new(), String::new(), String::new());
    for line in lines {
        if line.is_empty() {
            if data.is_empty() {
                kind.clear();
                continue;
            }
            data.pop();
            out.push(SseEvent {
                event: (!kind.is_empty()).then(|| std::mem::take(&mut kind)),
                data: std::mem::take(&mut data),
                id: (!id_buf.is_empty()).then(|| id_buf.clone()),
            });
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (name, value) = match line.split_once(':') {
            Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        match name {
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "event" => kind = value.to_owned(),
            "id" if !value.contains('\0') => id_buf = value.to_owned(),
            _ => {}
        }
    }
    out
}

/// A seeded xorshift64 generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a [u8]]) -> &'a [u8] {
        items[self.below(items.len())]
    }
}

/// A stream from a small grammar of lines, line ends and awkward bytes.
fn random_stream(rng: &mut Rng) -> Vec<u8> {
    const STARTS: &[&[u8]] = &[
        b"",
        b"",
        b"",
        b":",
        b": ka",
        b"data:",
        b"data: ",
        b"data",
        b"event:",
        b"event: ",
        b"id: ",
        b"id",
        b"retry: ",
        b"retry:",
        b"other: ",
        b"Data: ",
        b"\xEF\xBB\xBF",
    ];
    const VALUES: &[&[u8]] = &[
        b"a",
        b"0",
        b"42",
        b" ",
        b":",
        b"{\"x\":1}",
        b"[DONE]",
        "\u{e9}".as_bytes(),
        "\u{1f600}".as_bytes(),
        b"\xFF",
        b"\xE2\x82",
        b"\0",
        b"\xEF\xBB\xBF",
    ];
    const ENDS: &[&[u8]] = &[b"\n", b"\n", b"\r", b"\r\n"];
    let mut s = Vec::new();
    if rng.below(2) == 0 {
        s.extend_from_slice(BOM);
    }
    for _ in 0..rng.below(30) {
        s.extend_from_slice(rng.pick(STARTS));
        for _ in 0..rng.below(4) {
            s.extend_from_slice(rng.pick(VALUES));
        }
        s.extend_from_slice(rng.pick(ENDS));
    }
    if rng.below(3) == 0 {
        s.extend_from_slice(b"data: unterminated");
    }
    s
}

/// Pieces as escaped text, for failure messages.
fn show(pieces: &[&[u8]]) -> Vec<String> {
    pieces
        .iter()
        .map(|p| p.escape_ascii().to_string())
        .collect()
}

/// `input` cut at random places, empty pieces included.
fn random_cuts<'a>(rng: &mut Rng, input: &'a [u8]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = (0..rng.below(12))
        .map(|_| rng.below(input.len() + 1))
        .collect();
    cuts.sort_unstable();
    let mut pieces = Vec::new();
    let mut from = 0;
    for cut in cuts {
        pieces.push(&input[from..cut]);
        from = cut;
    }
    pieces.push(&input[from..]);
    pieces
}
