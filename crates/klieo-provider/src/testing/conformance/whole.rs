//! Replies that come whole where a provider's own wire would not: a JSON
//! reply to a streamed request, and an error object sent with a 2xx
//! status (as some gateways answer).

#![allow(clippy::panic, reason = "a failed check is a panic, like assert!")]

use super::{Wire, IDLE, KEY};
use crate::testing::server::{response, RawServer};
use klieo_types::testing::collect;
use klieo_types::{ChatRequest, FinishReason, LlmClient, LlmError, Message, Usage};

fn ask() -> ChatRequest {
    ChatRequest::new(vec![Message::user("hi")])
}

/// A client of a server that answers once with the JSON `body` and
/// `status`.
async fn answering<W: Wire>(wire: &W, status: u16, body: &str) -> (RawServer, W::Client) {
    let acts = vec![response(status, &[], "application/json", body.as_bytes())];
    let server = RawServer::start(acts).await;
    let client = wire.client(&server.base(), KEY, IDLE);
    (server, client)
}

/// A streamed request answered with a whole reply is one chunk of all of
/// it: its text, finish reason and usage, and what the server said of
/// the reply (its id and model), as `complete` gives them.
pub async fn a_whole_reply_to_a_stream_is_one_chunk_of_it<W: Wire>(wire: &W) {
    let scenario = "a whole reply to a stream";
    let usage = Usage::new(9, 2);
    let body = wire.text_reply("391", usage);
    let (_server, client) = answering(wire, 200, &body).await;
    let whole = match client.complete(ask()).await {
        Ok(reply) => reply,
        Err(e) => panic!("{scenario}: complete: {e:?}"),
    };
    assert!(
        whole.info.is_some(),
        "{scenario}: the wire's reply names itself"
    );
    let (_server, client) = answering(wire, 200, &body).await;
    let items = match client.stream(ask()).await {
        Ok(mut stream) => collect(&mut stream).await,
        Err(e) => panic!("{scenario}: stream: {e:?}"),
    };
    let [Ok(chunk)] = items.as_slice() else {
        panic!("{scenario}: one chunk, not {items:?}");
    };
    assert_eq!(chunk.delta, "391", "{scenario}: its text");
    assert_eq!(
        chunk.finish_reason,
        Some(FinishReason::Stop),
        "{scenario}: finish"
    );
    assert_eq!(chunk.usage, Some(usage), "{scenario}: usage");
    assert_eq!(chunk.info, whole.info, "{scenario}: its id and model");
}

/// An error object with a 2xx status is the error it says, blocking or
/// streamed: not a reply that fails to decode.
pub async fn an_error_object_with_a_2xx_status_is_the_error_it_says<W: Wire>(wire: &W) {
    let scenario = "an error object with status 200";
    let body = wire.error_body(400, "the prompt is too long");
    let says = |e: &LlmError, how: &str| {
        assert!(
            matches!(e, LlmError::BadRequest { .. }),
            "{scenario} ({how}): the error it says, not {e:?}"
        );
        assert!(
            e.to_string().contains("the prompt is too long"),
            "{scenario} ({how}): the server's message: {e}"
        );
    };
    let (_server, client) = answering(wire, 200, &body).await;
    match client.complete(ask()).await {
        Err(e) => says(&e, "blocking"),
        Ok(reply) => panic!("{scenario} (blocking): an error, not {reply:?}"),
    }
    let (_server, client) = answering(wire, 200, &body).await;
    match client.stream(ask()).await {
        Err(e) => says(&e, "streamed"),
        Ok(mut stream) => match collect(&mut stream).await.pop() {
            Some(Err(e)) => says(&e, "streamed"),
            other => panic!("{scenario} (streamed): an error, not {other:?}"),
        },
    }
}
