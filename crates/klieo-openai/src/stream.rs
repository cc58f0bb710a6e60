//! The [`ChunkStream`] of a streamed reply: klieo-provider reads the body
//! as Server-Sent Events and hands each event to the [`Assembler`].

use crate::assemble::Assembler;
use crate::response::parse_completion;
use klieo_http::secret::Hidden;
use klieo_provider::streamed::{event_stream, one_chunk, stream_body, StreamBody, StreamReading};
use klieo_types::{ChatChunk, ChunkStream, LlmError};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The chunks of a streamed reply whose status was 2xx.
///
/// A server that ignored `stream: true` and answered with one JSON reply
/// still works: the reply becomes one chunk. A reply of any other content
/// type but `text/event-stream` or `text/plain` is a
/// [`LlmError::Decoding`] naming the type, with an excerpt; one without a
/// content type is read as an event stream. `auto_tools` is the client's
/// flag for streamed tool calls under `auto`, when the request let the
/// model choose tools: an empty stream clears it.
pub(crate) async fn chunk_stream(
    resp: reqwest::Response,
    reading: StreamReading,
    auto_tools: Option<Arc<AtomicBool>>,
) -> Result<ChunkStream, LlmError> {
    match stream_body(resp, &reading).await? {
        StreamBody::Whole(body) => Ok(one_chunk(whole_chunk(&body, &reading.hidden)?)),
        StreamBody::Events(resp) => {
            let mut assembler = Assembler::new(reading.hidden.clone());
            if let Some(flag) = auto_tools {
                assembler = assembler.with_auto_tools(flag);
            }
            Ok(event_stream(resp, assembler, &reading))
        }
    }
}

/// A whole JSON reply as one chunk.
fn whole_chunk(body: &[u8], hidden: &Hidden) -> Result<ChatChunk, LlmError> {
    parse_completion(body, hidden).map(ChatChunk::from)
}
