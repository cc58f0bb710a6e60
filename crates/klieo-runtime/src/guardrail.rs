//! Guardrails: checks before and after each model call that may let the
//! run pass, refuse it, or hand it to another agent; and two ready ones.

use async_trait::async_trait;
use klieo_types::{ChatRequest, ChatResponse, Error, Role};
use std::future::Future;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What a guardrail decided.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GuardrailOutcome {
    /// Go on.
    Pass,
    /// Stop the run with [`Error::Refused`].
    Refuse {
        /// Why.
        reason: String,
    },
    /// Stop the run with [`Error::Handoff`] to another agent.
    Handoff {
        /// The agent to continue with.
        agent: String,
        /// Why.
        reason: String,
    },
}

/// A check around each model call. Both hooks default to passing.
///
/// In a streamed run the chunks of a reply reach the consumer as they
/// arrive, so `post_llm` sees the whole reply of the cycle only after it
/// was relayed: it can stop the run, not unsay the text.
///
/// A hook still running when the run is cancelled is given up, and the run
/// ends `Error::Cancelled`: a hook that calls out (a moderation service)
/// should still bound its own wait, since nothing else does.
///
/// ```
/// use klieo_runtime::{Guardrail, GuardrailOutcome};
/// use klieo_types::{async_trait, ChatRequest};
///
/// struct NoEmptyRequests;
///
/// #[async_trait]
/// impl Guardrail for NoEmptyRequests {
///     fn name(&self) -> &str {
///         "no-empty-requests"
///     }
///     async fn pre_llm(&self, req: &ChatRequest) -> GuardrailOutcome {
///         if req.messages.is_empty() {
///             GuardrailOutcome::Refuse { reason: "nothing to send".into() }
///         } else {
///             GuardrailOutcome::Pass
///         }
///     }
/// }
/// ```
#[async_trait]
pub trait Guardrail: Send + Sync {
    /// A name for logs.
    fn name(&self) -> &str;

    /// Called before each model call with the request about to be sent,
    /// less the words a typed run asks a repair with (user messages the
    /// run wrote: the answer's schema and why the last answer did not
    /// fit, not the user's). A run taken up in another process after it
    /// asked a repair (a crash before its next model call) shows them.
    async fn pre_llm(&self, req: &ChatRequest) -> GuardrailOutcome {
        let _ = req;
        GuardrailOutcome::Pass
    }

    /// Called after each model call with the request and the whole reply.
    /// A reply it refuses was made and is spent: the run's log keeps its
    /// model call (`Episode::LlmCall`, with its spend, which the budgets
    /// count) before the run ends; its text is not kept in the thread.
    async fn post_llm(&self, req: &ChatRequest, resp: &ChatResponse) -> GuardrailOutcome {
        let _ = (req, resp);
        GuardrailOutcome::Pass
    }
}

fn decide(name: &str, outcome: GuardrailOutcome) -> Result<(), Error> {
    match outcome {
        GuardrailOutcome::Pass => Ok(()),
        GuardrailOutcome::Refuse { reason } => {
            tracing::debug!(guardrail = name, %reason, "guardrail refused");
            Err(Error::Refused { reason })
        }
        GuardrailOutcome::Handoff { agent, reason } => {
            tracing::debug!(guardrail = name, %agent, %reason, "guardrail handed off");
            Err(Error::Handoff { agent, reason })
        }
    }
}

/// Runs the `pre_llm` hooks in order; the first that does not pass wins.
/// A hook still running when the run is cancelled is given up
/// (`Error::Cancelled`): a hook that calls out and stalls holds no run.
pub(crate) async fn check_pre_llm(
    guardrails: &[Arc<dyn Guardrail>],
    req: &ChatRequest,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    for g in guardrails {
        decide(g.name(), until_cancelled(cancel, g.pre_llm(req)).await?)?;
    }
    Ok(())
}

/// Runs the `post_llm` hooks in order; the first that does not pass wins.
/// Given up when the run is cancelled, as [`check_pre_llm`].
pub(crate) async fn check_post_llm(
    guardrails: &[Arc<dyn Guardrail>],
    req: &ChatRequest,
    resp: &ChatResponse,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    for g in guardrails {
        decide(
            g.name(),
            until_cancelled(cancel, g.post_llm(req, resp)).await?,
        )?;
    }
    Ok(())
}

/// `hook`'s outcome, or `Error::Cancelled` once `cancel` fires first.
async fn until_cancelled(
    cancel: &CancellationToken,
    hook: impl Future<Output = GuardrailOutcome>,
) -> Result<GuardrailOutcome, Error> {
    cancel
        .run_until_cancelled(hook)
        .await
        .ok_or(Error::Cancelled)
}

/// Refuses when the newest user message, or the model's reply, contains a
/// denied keyword (case-insensitive).
///
/// ```
/// use klieo_runtime::{DenyKeywords, Guardrail, GuardrailOutcome};
/// use klieo_types::{ChatRequest, Message};
///
/// let g = DenyKeywords::new(["password"]);
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let req = ChatRequest::new(vec![Message::user("What is the admin PASSWORD?")]);
/// assert!(matches!(g.pre_llm(&req).await, GuardrailOutcome::Refuse { .. }));
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct DenyKeywords {
    keywords: Vec<String>,
}

impl DenyKeywords {
    /// Denies each of `keywords`.
    pub fn new<I, S>(keywords: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            keywords: keywords
                .into_iter()
                .map(|k| k.as_ref().to_lowercase())
                .filter(|k| !k.is_empty())
                .collect(),
        }
    }

    fn first_hit(&self, text: &str) -> Option<&str> {
        let text = text.to_lowercase();
        self.keywords
            .iter()
            .find(|k| text.contains(k.as_str()))
            .map(String::as_str)
    }

    fn refuse(&self, text: &str, whose: &str) -> GuardrailOutcome {
        match self.first_hit(text) {
            Some(k) => GuardrailOutcome::Refuse {
                reason: format!("{whose} contains the denied keyword `{k}`"),
            },
            None => GuardrailOutcome::Pass,
        }
    }
}

#[async_trait]
impl Guardrail for DenyKeywords {
    fn name(&self) -> &str {
        "deny-keywords"
    }

    async fn pre_llm(&self, req: &ChatRequest) -> GuardrailOutcome {
        match req.messages.iter().rev().find(|m| m.role == Role::User) {
            Some(m) => self.refuse(&m.content, "the user's message"),
            None => GuardrailOutcome::Pass,
        }
    }

    async fn post_llm(&self, _req: &ChatRequest, resp: &ChatResponse) -> GuardrailOutcome {
        self.refuse(&resp.message.content, "the model's reply")
    }
}

/// Refuses a reply longer than a number of characters.
///
/// ```
/// use klieo_runtime::{Guardrail, GuardrailOutcome, MaxResponseLength};
/// use klieo_types::{ChatRequest, ChatResponse, FinishReason, Message};
///
/// let g = MaxResponseLength::new(5);
/// let long = ChatResponse::new(Message::assistant("far too long"), FinishReason::Stop);
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// assert!(matches!(
///     g.post_llm(&ChatRequest::default(), &long).await,
///     GuardrailOutcome::Refuse { .. }
/// ));
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MaxResponseLength {
    max_chars: usize,
}

impl MaxResponseLength {
    /// Allows replies of at most `max_chars` characters.
    pub const fn new(max_chars: usize) -> Self {
        Self { max_chars }
    }
}

#[async_trait]
impl Guardrail for MaxResponseLength {
    fn name(&self) -> &str {
        "max-response-length"
    }

    async fn post_llm(&self, _req: &ChatRequest, resp: &ChatResponse) -> GuardrailOutcome {
        let chars = resp.message.content.chars().count();
        if chars > self.max_chars {
            GuardrailOutcome::Refuse {
                reason: format!(
                    "the reply has {chars} characters, more than the {} allowed",
                    self.max_chars
                ),
            }
        } else {
            GuardrailOutcome::Pass
        }
    }
}
