//! Servers that fail the way LLM servers do, over raw TCP, on paused time:
//! stalls, trickles, cuts, bodies that are not event streams. Each ends in
//! one typed error that says what happened, under the default limits.

use crate::support::{
    chunk, client, collect, event, full_response, last_chunk, raw_server, sse_head, Act,
};
use klieo_types::{ChatRequest, LlmClient, LlmError, Message, TimeLimit};
use std::time::Duration;

fn req() -> ChatRequest {
    ChatRequest::new(vec![Message::user("x")])
}

const FOREVER: Duration = Duration::from_secs(24 * 3600);

#[tokio::test(start_paused = true)]
async fn a_blocking_call_never_answered_ends_at_the_request_timeout() {
    let server = raw_server(vec![Act::Pause(FOREVER)]).await;
    let e = client(&server.base()).complete(req()).await.unwrap_err();
    assert_eq!(
        e,
        LlmError::timeout(
            TimeLimit::Call,
            klieo_provider::options::DEFAULT_REQUEST_TIMEOUT
        )
    );
    assert!(e.retryable());
}

#[tokio::test(start_paused = true)]
async fn a_stream_whose_reply_never_starts_ends_at_the_first_byte_timeout() {
    let server = raw_server(vec![Act::Pause(FOREVER)]).await;
    let e = client(&server.base()).stream(req()).await.err().unwrap();
    assert_eq!(
        e,
        LlmError::timeout(
            TimeLimit::FirstByte,
            klieo_provider::options::DEFAULT_FIRST_BYTE_TIMEOUT
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_stream_trickling_one_byte_a_second_is_cut_as_idle() {
    let mut script = vec![sse_head()];
    for byte in event(r#"{"content":"slow"}"#, r#""stop""#).bytes() {
        script.push(chunk(&[byte]));
        script.push(Act::Pause(Duration::from_secs(1)));
    }
    let server = raw_server(script).await;
    let items = collect(client(&server.base()).stream(req()).await.unwrap()).await;
    assert_eq!(
        items,
        [Err(LlmError::timeout(
            TimeLimit::Idle,
            klieo_provider::options::DEFAULT_IDLE_TIMEOUT
        ))]
    );
}

#[tokio::test(start_paused = true)]
async fn a_stream_stalled_mid_body_is_cut_as_idle() {
    let script = vec![
        sse_head(),
        chunk(event(r#"{"content":"a"}"#, "null").as_bytes()),
        Act::Pause(FOREVER),
    ];
    let server = raw_server(script).await;
    let items = collect(client(&server.base()).stream(req()).await.unwrap()).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().map(|c| c.delta.as_str()), Ok("a"));
    assert_eq!(
        items[1],
        Err(LlmError::timeout(
            TimeLimit::Idle,
            klieo_provider::options::DEFAULT_IDLE_TIMEOUT
        ))
    );
}

#[tokio::test(start_paused = true)]
async fn a_healthy_ten_minute_stream_is_never_cut() {
    let mut script = vec![sse_head()];
    for _ in 0..20 {
        script.push(Act::Pause(Duration::from_secs(30)));
        script.push(chunk(event(r#"{"content":"."}"#, "null").as_bytes()));
    }
    // Keep-alive comments are progress too: five more minutes of them.
    for _ in 0..6 {
        script.push(Act::Pause(Duration::from_secs(50)));
        script.push(chunk(b": keep-alive\n\n"));
    }
    script.push(chunk(event("{}", r#""stop""#).as_bytes()));
    script.push(chunk(b"data: [DONE]\n\n"));
    script.push(last_chunk());
    let server = raw_server(script).await;
    let started = tokio::time::Instant::now();
    let items = collect(client(&server.base()).stream(req()).await.unwrap()).await;
    assert!(
        started.elapsed() >= Duration::from_secs(900),
        "the script ran whole"
    );
    let text: Result<String, _> = items.into_iter().map(|i| i.map(|c| c.delta)).collect();
    assert_eq!(text, Ok(".".repeat(20)));
}

/// WHATWG lets a server end its lines with a lone `\r`; the decoder reads
/// them, so the idle limit must count them as progress too.
#[tokio::test(start_paused = true)]
async fn a_healthy_stream_ending_lines_with_cr_alone_is_never_cut() {
    let mut script = vec![sse_head()];
    for _ in 0..20 {
        script.push(Act::Pause(Duration::from_secs(30)));
        let cr = event(r#"{"content":"."}"#, "null").replace('\n', "\r");
        script.push(chunk(cr.as_bytes()));
    }
    script.push(chunk(
        event("{}", r#""stop""#).replace('\n', "\r").as_bytes(),
    ));
    script.push(chunk(b"data: [DONE]\r\r"));
    script.push(last_chunk());
    let server = raw_server(script).await;
    let items = collect(client(&server.base()).stream(req()).await.unwrap()).await;
    let text: Result<String, _> = items.into_iter().map(|i| i.map(|c| c.delta)).collect();
    assert_eq!(text, Ok(".".repeat(20)));
}

#[tokio::test(start_paused = true)]
async fn a_stream_cut_before_its_first_event_is_retryable_and_counts_the_bytes() {
    let script = vec![sse_head(), chunk(b"data: {\"cho"), Act::Close];
    let server = raw_server(script).await;
    let items = collect(client(&server.base()).stream(req()).await.unwrap()).await;
    match items.as_slice() {
        [Err(
            e @ LlmError::Interrupted {
                bytes: 11,
                events: 0,
                ..
            },
        )] => {
            assert!(e.retryable());
            assert!(e.to_string().contains("after 11 bytes:"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_stream_ending_cleanly_without_an_event_is_retryable_and_says_so() {
    let server = raw_server(vec![sse_head(), chunk(b": hello\n\n"), last_chunk()]).await;
    let items = collect(client(&server.base()).stream(req()).await.unwrap()).await;
    match items.as_slice() {
        [Err(e @ LlmError::Server { message, .. })] => {
            assert!(e.retryable());
            assert_eq!(
                message,
                "the server ended the stream without sending any event (9 bytes came)"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_html_page_answering_a_stream_is_a_decoding_error_naming_the_type() {
    let page = b"<html><body>Please log in</body></html>";
    let server = raw_server(vec![full_response("text/html; charset=utf-8", page)]).await;
    let e = client(&server.base()).stream(req()).await.err().unwrap();
    match &e {
        LlmError::Decoding {
            reason, excerpt, ..
        } => {
            assert!(reason.contains("content-type `text/html`"), "{reason}");
            assert!(
                excerpt.starts_with("<html><body>Please log in"),
                "{excerpt}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn invalid_utf8_in_a_streamed_delta_is_a_decoding_error() {
    let mut bytes = event(r#"{"content":"Hel--lo"}"#, r#""stop""#).into_bytes();
    let at = bytes.windows(2).position(|w| w == b"--").unwrap();
    bytes[at] = 0xff;
    bytes[at + 1] = 0xfe;
    let server = raw_server(vec![sse_head(), chunk(&bytes), last_chunk()]).await;
    let items = collect(client(&server.base()).stream(req()).await.unwrap()).await;
    assert!(
        matches!(items.as_slice(), [Err(LlmError::Decoding { reason, .. })] if reason.contains("UTF-8")),
        "{items:?}"
    );
}
