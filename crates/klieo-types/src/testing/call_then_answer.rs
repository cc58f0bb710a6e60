//! [`CallThenAnswer`]: a stateless model that any number of runs share at
//! once.

use crate::error::LlmError;
use crate::llm::{Capabilities, LlmClient};
use crate::message::{Message, Role};
use crate::request::ChatRequest;
use crate::response::{ChatResponse, FinishReason};
use crate::tool_call::ToolCall;
use async_trait::async_trait;

/// A model for tests of many runs at once (workers, concurrency, crashes),
/// where a [`ScriptedLlm`](super::ScriptedLlm)'s one script would be
/// shared between runs. It reads each request alone: a thread with `n`
/// tool results gets one call to its tool number `n + 1` (id `c{n + 1}`,
/// arguments `{}`), and once every tool was called, the answer, `{prompt}`
/// in it replaced by the thread's first user message, so each run's
/// answer is its own. [`add_call`](Self::add_call) adds a tool to call.
///
/// ```
/// use klieo_types::testing::CallThenAnswer;
/// use klieo_types::{ChatRequest, FinishReason, LlmClient, Message};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let llm = CallThenAnswer::new("charge", "charged for {prompt}");
/// let mut thread = vec![Message::user("order 7")];
/// let first = llm.complete(ChatRequest::new(thread.clone())).await?;
/// assert_eq!(first.finish_reason, FinishReason::ToolCalls);
/// assert_eq!(&*first.message.tool_calls[0].name, "charge");
/// thread.push(first.message);
/// thread.push(Message::tool_result("c1", "ok"));
/// let answer = llm.complete(ChatRequest::new(thread)).await?;
/// assert_eq!(answer.message.content, "charged for order 7");
/// # Ok::<(), klieo_types::LlmError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct CallThenAnswer {
    tools: Vec<String>,
    answer: String,
}

impl CallThenAnswer {
    /// Calls `tool` once, then answers `answer` (with `{prompt}` replaced).
    pub fn new(tool: impl Into<String>, answer: impl Into<String>) -> Self {
        Self {
            tools: vec![tool.into()],
            answer: answer.into(),
        }
    }

    /// Calls `tool` too, a step after the tools before it, before
    /// answering.
    pub fn add_call(mut self, tool: impl Into<String>) -> Self {
        self.tools.push(tool.into());
        self
    }
}

#[async_trait]
impl LlmClient for CallThenAnswer {
    fn name(&self) -> &str {
        "call-then-answer"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError> {
        let answered = req.messages.iter().filter(|m| m.role == Role::Tool).count();
        if let Some(tool) = self.tools.get(answered) {
            let id = format!("c{}", answered + 1);
            let call = ToolCall::new(id, tool.as_str(), serde_json::json!({}));
            let reply = Message::assistant_tool_calls("", vec![call]);
            return Ok(ChatResponse::new(reply, FinishReason::ToolCalls));
        }
        let prompt = req
            .messages
            .iter()
            .find(|m| m.role == Role::User)
            .map_or("", |m| m.content.as_str());
        let answer = self.answer.replace("{prompt}", prompt);
        Ok(ChatResponse::new(
            Message::assistant(answer),
            FinishReason::Stop,
        ))
    }
}
