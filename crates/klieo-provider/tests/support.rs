//! Shared helpers: building events, decoding pushes the documented way, the
//! sample stream and its events, and a byte stream from a list.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::stream::Stream;
use klieo_provider::sse::{SseDecoder, SseEvent};

/// The UTF-8 byte-order mark.
pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// An event with these fields.
pub(crate) fn ev(event: Option<&str>, data: &str, id: Option<&str>) -> SseEvent {
    SseEvent {
        event: event.map(str::to_owned),
        data: data.to_owned(),
        id: id.map(str::to_owned),
    }
}

/// Every event, then the error if one ended the input (as its message).
pub(crate) type Outcome = Vec<Result<SseEvent, String>>;

/// Feeds `pieces` to `decoder` the documented way, to the end.
pub(crate) fn decode_with(decoder: &mut SseDecoder, pieces: &[&[u8]]) -> Outcome {
    let mut out = Vec::new();
    for piece in pieces {
        decoder.push(piece);
        loop {
            match decoder.next_event() {
                Ok(Some(event)) => out.push(Ok(event)),
                Ok(None) => break,
                Err(err) => {
                    out.push(Err(err.to_string()));
                    return out;
                }
            }
        }
    }
    loop {
        match decoder.finish() {
            Ok(Some(event)) => out.push(Ok(event)),
            Ok(None) => return out,
            Err(err) => {
                out.push(Err(err.to_string()));
                return out;
            }
        }
    }
}

/// [`decode_with`] a default decoder.
pub(crate) fn decode(pieces: &[&[u8]]) -> Outcome {
    decode_with(&mut SseDecoder::new(), pieces)
}

/// The outcome of decoding exactly these events.
pub(crate) fn events(events: Vec<SseEvent>) -> Outcome {
    events.into_iter().map(Ok).collect()
}

/// Covers comments, `data:` with and without the space, multi-line data,
/// `event:`, `id:`, `retry:`, CRLF, lone CR, LF, a BOM, events with no data,
/// a field without a colon, an unknown field, UTF-8, `[DONE]`, and an
/// unfinished event at the end.
pub(crate) fn sample() -> Vec<u8> {
    let mut s = BOM.to_vec();
    s.extend_from_slice(
        ": welcome\n\
         \n\
         data: first\n\n\
         data:no-space\r\n\r\n\
         event: update\rdata: line one\rdata: line two\rid: 7\r\r\
         : keep-alive\n\n\
         id: 8\nretry: 1500\n\n\
         data\n\n\
         event: delta\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"h\u{e9}llo \u{1f600}\"}}]}\r\n\r\n\
         unknown: x\ndata:  two spaces\n\n\
         data: [DONE]\n\n\
         data: cut off at the end\n"
            .as_bytes(),
    );
    s
}

/// The events of [`sample`].
pub(crate) fn sample_events() -> Vec<SseEvent> {
    vec![
        ev(None, "first", None),
        ev(None, "no-space", None),
        ev(Some("update"), "line one\nline two", Some("7")),
        ev(None, "", Some("8")),
        ev(
            Some("delta"),
            "{\"choices\":[{\"delta\":{\"content\":\"h\u{e9}llo \u{1f600}\"}}]}",
            Some("8"),
        ),
        ev(None, " two spaces", Some("8")),
        ev(None, "[DONE]", Some("8")),
    ]
}

/// A byte stream from a list; it fails the test if polled after its end.
pub(crate) struct Chunks {
    items: VecDeque<Result<Vec<u8>, io::Error>>,
    ended: bool,
}

/// A [`Chunks`] yielding `items` in order.
pub(crate) fn chunks(items: Vec<Result<&[u8], io::Error>>) -> Chunks {
    Chunks {
        items: items
            .into_iter()
            .map(|item| item.map(<[u8]>::to_vec))
            .collect(),
        ended: false,
    }
}

impl Stream for Chunks {
    type Item = Result<Vec<u8>, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        assert!(!self.ended, "polled after its end");
        let item = self.items.pop_front();
        self.ended = matches!(item, None | Some(Err(_)));
        Poll::Ready(item)
    }
}
