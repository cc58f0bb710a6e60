//! The provider interface: [`LlmClient`], its [`Capabilities`], and the
//! [`ChunkStream`] a streamed reply arrives on.

use crate::error::LlmError;
use crate::request::ChatRequest;
use crate::response::{ChatChunk, ChatResponse};
use async_trait::async_trait;
use futures_core::Stream;
use std::pin::Pin;

/// A streamed reply: chunks in order, ending after the chunk that carries a
/// finish reason, or with one `Err` item.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<ChatChunk, LlmError>> + Send + 'static>>;

/// One embedding vector.
pub type Embedding = Vec<f32>;

/// What a provider can do, so callers (the runtime among them) avoid
/// asking for what it cannot.
///
/// # Default
/// - on: tool calling, streaming, streamed tool calls under `auto`, tools
///   forced by name
/// - off: JSON schema, JSON mode, usage in streams, embeddings
/// - context window: unknown
///
/// ```
/// use klieo_types::Capabilities;
///
/// let caps = Capabilities::default().with_embeddings(true).with_max_context_tokens(4096);
/// assert!(caps.tool_calling() && caps.embeddings());
/// assert_eq!(caps.max_context_tokens(), Some(4096));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    tool_calling: bool,
    streaming: bool,
    streamed_auto_tool_calls: bool,
    json_schema: bool,
    json_mode: bool,
    usage_in_streams: bool,
    embeddings: bool,
    max_context_tokens: Option<u32>,
    named_tool_choice: bool,
}

impl Default for Capabilities {
    /// Tool calling, streaming, streamed tool calls under `auto` and tools
    /// forced by name on; JSON schema, JSON mode, usage in streams and
    /// embeddings off; context size unknown.
    fn default() -> Self {
        Self {
            tool_calling: true,
            streaming: true,
            streamed_auto_tool_calls: true,
            json_schema: false,
            json_mode: false,
            usage_in_streams: false,
            embeddings: false,
            max_context_tokens: None,
            named_tool_choice: true,
        }
    }
}

impl Capabilities {
    /// The model can call tools.
    pub const fn tool_calling(&self) -> bool {
        self.tool_calling
    }

    /// Replies can be streamed.
    pub const fn streaming(&self) -> bool {
        self.streaming
    }

    /// Tool calls the model chooses itself (`tool_choice` auto, or none
    /// given) can be streamed. llama-cpp-python's server cannot: it answers
    /// such a stream with no event at all. When this is `false`, the runtime
    /// makes those calls blocking and hands their reply out as chunks.
    pub const fn streamed_auto_tool_calls(&self) -> bool {
        self.streamed_auto_tool_calls
    }

    /// `response_format` with a JSON schema (strict) is honoured.
    pub const fn json_schema(&self) -> bool {
        self.json_schema
    }

    /// `response_format` JSON mode (any JSON object) is honoured.
    pub const fn json_mode(&self) -> bool {
        self.json_mode
    }

    /// Streamed replies report token usage.
    pub const fn usage_in_streams(&self) -> bool {
        self.usage_in_streams
    }

    /// [`LlmClient::embed`] works.
    pub const fn embeddings(&self) -> bool {
        self.embeddings
    }

    /// Size of the context window, when known.
    pub const fn max_context_tokens(&self) -> Option<u32> {
        self.max_context_tokens
    }

    /// A tool forced by name (`ToolChoice::Function`) is honoured. When
    /// `false` (a server that would take a named choice for `auto`), a
    /// provider sends such a request as `required` with only that tool
    /// offered.
    pub const fn named_tool_choice(&self) -> bool {
        self.named_tool_choice
    }

    /// Sets [`tool_calling`](Self::tool_calling).
    pub const fn with_tool_calling(mut self, on: bool) -> Self {
        self.tool_calling = on;
        self
    }

    /// Sets [`streaming`](Self::streaming).
    pub const fn with_streaming(mut self, on: bool) -> Self {
        self.streaming = on;
        self
    }

    /// Sets [`streamed_auto_tool_calls`](Self::streamed_auto_tool_calls).
    pub const fn with_streamed_auto_tool_calls(mut self, on: bool) -> Self {
        self.streamed_auto_tool_calls = on;
        self
    }

    /// Sets [`json_schema`](Self::json_schema).
    pub const fn with_json_schema(mut self, on: bool) -> Self {
        self.json_schema = on;
        self
    }

    /// Sets [`json_mode`](Self::json_mode).
    pub const fn with_json_mode(mut self, on: bool) -> Self {
        self.json_mode = on;
        self
    }

    /// Sets [`usage_in_streams`](Self::usage_in_streams).
    pub const fn with_usage_in_streams(mut self, on: bool) -> Self {
        self.usage_in_streams = on;
        self
    }

    /// Sets [`embeddings`](Self::embeddings).
    pub const fn with_embeddings(mut self, on: bool) -> Self {
        self.embeddings = on;
        self
    }

    /// Sets [`named_tool_choice`](Self::named_tool_choice).
    pub const fn with_named_tool_choice(mut self, on: bool) -> Self {
        self.named_tool_choice = on;
        self
    }

    /// Sets [`max_context_tokens`](Self::max_context_tokens).
    pub const fn with_max_context_tokens(mut self, tokens: u32) -> Self {
        self.max_context_tokens = Some(tokens);
        self
    }
}

/// A model provider. Implement it to connect klieo to another model API;
/// this crate is all a provider needs.
///
/// The trait is dyn-compatible: the runtime holds an `Arc<dyn LlmClient>`.
/// `stream` and `embed` default to [`LlmError::Unsupported`].
///
/// ```
/// use async_trait::async_trait;
/// use klieo_types::{
///     Capabilities, ChatRequest, ChatResponse, FinishReason, LlmClient, LlmError, Message,
/// };
/// use std::sync::Arc;
///
/// /// Answers every request with the last message's text, reversed.
/// struct Reverser(Capabilities);
///
/// #[async_trait]
/// impl LlmClient for Reverser {
///     fn name(&self) -> &str {
///         "reverser"
///     }
///     fn capabilities(&self) -> Capabilities {
///         self.0
///     }
///     async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError> {
///         let text: String = req.messages.last().map(|m| m.content.chars().rev().collect())
///             .unwrap_or_default();
///         Ok(ChatResponse::new(Message::assistant(text), FinishReason::Stop))
///     }
/// }
///
/// let llm: Arc<dyn LlmClient> = Arc::new(Reverser(Capabilities::default()));
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let reply = llm.complete(ChatRequest::new(vec![Message::user("abc")])).await?;
/// assert_eq!(reply.message.content, "cba");
/// assert!(matches!(llm.embed(&["x".into()]).await, Err(LlmError::Unsupported(_))));
/// # Ok::<(), LlmError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[async_trait]
pub trait LlmClient: Send + Sync {
    /// A stable name for logs and traces (`"openai"`, `"scripted"`).
    fn name(&self) -> &str;

    /// The model requests go to unless they name another.
    fn model(&self) -> &str {
        self.name()
    }

    /// Every model a reply of this client may come from, its
    /// [`model`](Self::model) first: a client made of several providers
    /// (a fallback) names each one's. A cost budget needs a price for
    /// each. Default: the client's `model` alone.
    fn models(&self) -> Vec<String> {
        vec![self.model().to_owned()]
    }

    /// Who serves the model, as traces name it (`gen_ai.provider.name` of
    /// the OpenTelemetry GenAI conventions): one of their well-known
    /// values (`"openai"`, `"anthropic"`) where it applies. Default: the
    /// client's [`name`](Self::name).
    fn provider_name(&self) -> &str {
        self.name()
    }

    /// What this client can do, as it knows now (a provider may learn a
    /// server's limits from its replies).
    fn capabilities(&self) -> Capabilities;

    /// What this client can do, after asking its server where the server
    /// can say: asked once, its answer kept, and what the user declared
    /// wins over it. A client that cannot ask returns
    /// [`capabilities`](Self::capabilities), the default. Call it before
    /// building a request that depends on the answer (a typed run, for
    /// the way it asks for its shape).
    async fn discover_capabilities(&self) -> Capabilities {
        self.capabilities()
    }

    /// Sends the request and waits for the whole reply. One attempt:
    /// retries, and typed output with repairs, are the runtime's (an
    /// `Agent`'s runs, or `run_steps`), not the provider's.
    async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError>;

    /// Sends the request and returns the reply as it streams.
    async fn stream(&self, req: ChatRequest) -> Result<ChunkStream, LlmError> {
        let _ = req;
        Err(LlmError::Unsupported(format!(
            "streaming with provider `{}`",
            self.name()
        )))
    }

    /// Embeds each text, one vector per text, in input order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, LlmError> {
        let _ = texts;
        Err(LlmError::Unsupported(format!(
            "embeddings with provider `{}`",
            self.name()
        )))
    }
}
