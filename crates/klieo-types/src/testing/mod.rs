//! Test doubles for code built on klieo: [`ScriptedLlm`], a model that plays
//! back a script, with a record of the requests it received;
//! [`CallThenAnswer`], a stateless model many runs share at once; [`next`] and
//! [`collect`], to read any stream in a test without `futures-util`.
//! Enabled by the `testing` feature. The checks every memory and store
//! passes, and the golden fixtures, are klieo-store's
//! (`klieo_store::testing`).
//!
//! One script serves both the blocking and the streaming loop: a step
//! written as a whole reply is streamed as chunks when `stream` is called,
//! and a step written as chunks is only for `stream`.

mod call_then_answer;

pub use call_then_answer::CallThenAnswer;

use crate::error::LlmError;
use crate::llm::{Capabilities, ChunkStream, Embedding, LlmClient};
use crate::message::Message;
use crate::request::ChatRequest;
use crate::response::{ChatChunk, ChatResponse, FinishReason, Usage};
use crate::tool_call::ToolCall;
use async_trait::async_trait;
use futures_core::Stream;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

/// One scripted answer of a [`ScriptedLlm`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ScriptedStep {
    /// A whole reply (streamed as text, tool-call and finish chunks when
    /// `stream` is called).
    Reply(ChatResponse),
    /// The call fails before producing anything: an init error.
    Fail(LlmError),
    /// Only for `stream`: these items, in order.
    Chunks(Vec<Result<ChatChunk, LlmError>>),
    /// Only for `stream`: these items, then the stream stays pending for
    /// ever, like a server that stalls (cancellation must end it).
    ChunksThenStall(Vec<Result<ChatChunk, LlmError>>),
    /// The call never answers, like a server that stalls before its reply
    /// starts: `complete` and `stream` stay pending for ever (a deadline
    /// or cancellation must end them).
    Stall,
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<ScriptedStep>>,
    requests: Mutex<Vec<ChatRequest>>,
    pulled: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An [`LlmClient`] that answers from a script, for tests.
///
/// ```
/// use klieo_types::testing::ScriptedLlm;
/// use klieo_types::{ChatRequest, FinishReason, LlmClient, LlmError, Message, ToolCall};
/// use serde_json::json;
///
/// let llm = ScriptedLlm::new()
///     .then_error(LlmError::server("overloaded"))
///     .then_tool_calls(vec![ToolCall::new("c1", "calculator", json!({"expression": "1+1"}))])
///     .then_text("2");
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let req = ChatRequest::new(vec![Message::user("1+1?")]);
/// assert!(matches!(llm.complete(req.clone()).await, Err(LlmError::Server { .. })));
/// let calls = llm.complete(req.clone()).await?;
/// assert_eq!(calls.finish_reason, FinishReason::ToolCalls);
/// assert_eq!(llm.complete(req).await?.message.content, "2");
/// assert_eq!(llm.requests().len(), 3);
/// assert_eq!(llm.remaining(), 0);
/// # Ok::<(), LlmError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ScriptedLlm {
    shared: Arc<Shared>,
    caps: Capabilities,
    record: bool,
    name: Arc<str>,
}

impl Default for ScriptedLlm {
    fn default() -> Self {
        Self::new()
    }
}

impl ScriptedLlm {
    /// An empty script that records requests.
    pub fn new() -> Self {
        Self {
            shared: Arc::default(),
            caps: Capabilities::default().with_embeddings(true),
            record: true,
            name: Arc::from("scripted"),
        }
    }

    /// Names the model's provider (`"scripted"` by default), as a list of
    /// providers tells them apart.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Arc::from(name);
        self
    }

    /// Declares these capabilities instead (embeddings on, the rest the
    /// default).
    pub fn with_capabilities(mut self, caps: Capabilities) -> Self {
        self.caps = caps;
        self
    }

    /// Stops recording requests (benchmarks keep no history this way).
    pub fn without_recording(mut self) -> Self {
        self.record = false;
        self
    }

    /// Appends a step.
    pub fn then(self, step: ScriptedStep) -> Self {
        lock(&self.shared.script).push_back(step);
        self
    }

    /// Appends a text answer that ends the reply.
    pub fn then_text(self, text: impl Into<String>) -> Self {
        let reply = ChatResponse::new(Message::assistant(text), FinishReason::Stop);
        self.then(ScriptedStep::Reply(reply))
    }

    /// Appends a reply asking for these tool calls.
    pub fn then_tool_calls(self, calls: Vec<ToolCall>) -> Self {
        let message = Message::assistant_tool_calls("", calls);
        self.then(ScriptedStep::Reply(ChatResponse::new(
            message,
            FinishReason::ToolCalls,
        )))
    }

    /// Appends a whole reply.
    pub fn then_reply(self, reply: ChatResponse) -> Self {
        self.then(ScriptedStep::Reply(reply))
    }

    /// Appends an init error.
    pub fn then_error(self, error: LlmError) -> Self {
        self.then(ScriptedStep::Fail(error))
    }

    /// Appends a stream of these items.
    pub fn then_chunks(self, items: Vec<Result<ChatChunk, LlmError>>) -> Self {
        self.then(ScriptedStep::Chunks(items))
    }

    /// Appends a call that never answers ([`ScriptedStep::Stall`]).
    pub fn then_stall(self) -> Self {
        self.then(ScriptedStep::Stall)
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<ChatRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Steps not yet played.
    pub fn remaining(&self) -> usize {
        lock(&self.shared.script).len()
    }

    /// Stream items consumers have pulled so far, over all streams.
    pub fn pulled_chunks(&self) -> usize {
        self.shared.pulled.load(Ordering::SeqCst)
    }

    fn next_step(&self, req: ChatRequest) -> Result<ScriptedStep, LlmError> {
        if self.record {
            lock(&self.shared.requests).push(req);
        }
        lock(&self.shared.script).pop_front().ok_or_else(|| {
            LlmError::bad_request("the scripted LLM has no steps left; add more to the script")
        })
    }

    fn stream_of(&self, items: Vec<Result<ChatChunk, LlmError>>, stall: bool) -> ChunkStream {
        Box::pin(ScriptedStream {
            items: items.into(),
            stall,
            shared: Arc::clone(&self.shared),
        })
    }
}

fn reply_as_chunks(reply: ChatResponse) -> Vec<Result<ChatChunk, LlmError>> {
    let mut items = Vec::new();
    if !reply.message.content.is_empty() {
        items.push(Ok(ChatChunk::delta(reply.message.content)));
    }
    if !reply.message.tool_calls.is_empty() {
        items.push(Ok(ChatChunk::tool_calls(reply.message.tool_calls)));
    }
    let mut last = ChatChunk::finish(reply.finish_reason);
    last.usage = reply.usage;
    last.info = reply.info;
    items.push(Ok(last));
    items
}

#[async_trait]
impl LlmClient for ScriptedLlm {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError> {
        match self.next_step(req)? {
            ScriptedStep::Reply(reply) => Ok(reply),
            ScriptedStep::Fail(e) => Err(e),
            ScriptedStep::Stall => std::future::pending().await,
            ScriptedStep::Chunks(_) | ScriptedStep::ChunksThenStall(_) => Err(
                LlmError::bad_request("the script has a streamed step where `complete` was called"),
            ),
        }
    }

    async fn stream(&self, req: ChatRequest) -> Result<ChunkStream, LlmError> {
        match self.next_step(req)? {
            ScriptedStep::Reply(reply) => Ok(self.stream_of(reply_as_chunks(reply), false)),
            ScriptedStep::Fail(e) => Err(e),
            ScriptedStep::Chunks(items) => Ok(self.stream_of(items, false)),
            ScriptedStep::ChunksThenStall(items) => Ok(self.stream_of(items, true)),
            ScriptedStep::Stall => std::future::pending().await,
        }
    }

    /// One vector per text: its length in bytes and its count of spaces.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, LlmError> {
        Ok(texts
            .iter()
            .map(|t| vec![t.len() as f32, t.matches(' ').count() as f32])
            .collect())
    }
}

struct ScriptedStream {
    items: VecDeque<Result<ChatChunk, LlmError>>,
    stall: bool,
    shared: Arc<Shared>,
}

impl Stream for ScriptedStream {
    type Item = Result<ChatChunk, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.items.pop_front() {
            Some(item) => {
                self.shared.pulled.fetch_add(1, Ordering::SeqCst);
                Poll::Ready(Some(item))
            }
            None if self.stall => Poll::Pending,
            None => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.items.len(), Some(self.items.len()))
    }
}

/// A reply of text chunks, one per piece, then a `Stop` finish with usage.
///
/// ```
/// use klieo_types::testing::text_chunks;
///
/// let items = text_chunks(&["Hel", "lo"], Some(klieo_types::Usage::new(3, 2)));
/// assert_eq!(items.len(), 3);
/// ```
pub fn text_chunks(pieces: &[&str], usage: Option<Usage>) -> Vec<Result<ChatChunk, LlmError>> {
    let mut items: Vec<Result<ChatChunk, LlmError>> =
        pieces.iter().map(|p| Ok(ChatChunk::delta(*p))).collect();
    let mut last = ChatChunk::finish(FinishReason::Stop);
    last.usage = usage;
    items.push(Ok(last));
    items
}

/// The next item of `stream`, or `None` at its end: `StreamExt::next`
/// without a dependency on `futures-util`.
///
/// ```
/// use klieo_types::testing::{next, text_chunks, ScriptedLlm};
/// use klieo_types::{ChatRequest, LlmClient, LlmError};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let llm = ScriptedLlm::new().then_chunks(text_chunks(&["Hel", "lo"], None));
/// let mut stream = llm.stream(ChatRequest::default()).await?;
/// let first = next(&mut stream).await.transpose()?;
/// assert_eq!(first.map(|chunk| chunk.delta), Some("Hel".to_owned()));
/// # Ok::<(), LlmError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

/// Every item of `stream` up to its end, in order. The stream is borrowed,
/// so a test can check afterwards what it does once ended.
///
/// ```
/// use klieo_types::testing::{collect, next, text_chunks, ScriptedLlm};
/// use klieo_types::{ChatRequest, FinishReason, LlmClient, LlmError};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let llm = ScriptedLlm::new().then_chunks(text_chunks(&["Hel", "lo"], None));
/// let mut stream = llm.stream(ChatRequest::default()).await?;
/// let items = collect(&mut stream).await;
/// assert_eq!(items.len(), 3);
/// assert_eq!(items[2].as_ref().map(|chunk| chunk.finish_reason), Ok(Some(FinishReason::Stop)));
/// assert!(next(&mut stream).await.is_none());
/// # Ok::<(), LlmError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn collect<S: Stream + Unpin>(stream: &mut S) -> Vec<S::Item> {
    let mut items = Vec::new();
    while let Some(item) = next(stream).await {
        items.push(item);
    }
    items
}
