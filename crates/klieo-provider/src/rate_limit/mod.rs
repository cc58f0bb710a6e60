//! [`RateLimited`]: an [`LlmClient`] whose calls first ask a shared
//! [`RateLimiter`]: a call that the scope's allowance cannot take yet
//! waits (bounded by [`with_max_wait`](RateLimitedBuilder::with_max_wait),
//! and dropped with the call when the run is cancelled), and a server's
//! own "slow down" (a 429, or a 503 or 529, that says how long) pauses the
//! scope for every process sharing the limiter, not only this call (for
//! at most [`MAX_PAUSE`]). A question to the limiter's store that takes
//! longer than [`LIMITER_TIMEOUT`] fails the call as a network error (the
//! store may still count it: the allowance errs on the side of less).
//!
//! A call of many tokens waits for the bucket to hold them all, while
//! smaller calls may take from it meanwhile: under steady contention it
//! may reach its max wait. Nothing is set aside for it. The
//! reply says how long the call waited ([`ReplyInfo::rate_wait`]), which
//! the runtime records in the run's journal, events and spans.
//!
//! ```
//! use klieo_provider::rate_limit::RateLimited;
//! use klieo_store::{InMemoryRateLimiter, RateLimit, RateLimits};
//! use klieo_types::testing::ScriptedLlm;
//! use klieo_types::{ChatRequest, LlmClient, Message};
//! use std::time::Duration;
//!
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()?;
//! # rt.block_on(async {
//! let limits = RateLimits::new().with_default(RateLimit::new().with_requests_per_minute(1));
//! let limiter = InMemoryRateLimiter::new(limits)?;
//! let llm = RateLimited::builder(ScriptedLlm::new().then_text("one").then_text("two"), limiter)
//!     .with_max_wait(Duration::from_secs(90))
//!     .build()?;
//! let ask = || ChatRequest::new(vec![Message::user("hi")]);
//! assert!(llm.complete(ask()).await?.info.is_none(), "the first call goes at once");
//! // The second waits a minute for the scope's next request.
//! let second = llm.complete(ask()).await?;
//! let waited = second.info.and_then(|i| i.rate_wait).expect("it waited");
//! assert_eq!(waited.scope, "scripted/scripted");
//! assert_eq!(waited.waited, Duration::from_secs(60));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`ReplyInfo::rate_wait`]: klieo_types::ReplyInfo::rate_wait

use crate::stamp::{stamp_info, Stamp, Stamped};
use klieo_types::{
    async_trait, Capabilities, ChatRequest, ChatResponse, ChunkStream, ConfigError, Embedding,
    LlmClient, LlmError, RateLimiter, RateWait, RetryHint,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The longest a call waits for its scope by default.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(60);

/// The longest a server's "slow down" pauses a scope: a server that asks
/// for more (a day, a year) does not hold a fleet back that long.
pub const MAX_PAUSE: Duration = Duration::from_secs(300);

/// The longest one question to the limiter (its store) may take.
pub const LIMITER_TIMEOUT: Duration = Duration::from_secs(10);

/// A client whose calls are held to a shared rate limit; see the
/// [module docs](self). Built with [`RateLimited::builder`].
///
/// # Default
/// - scope: `"{provider name}/{model}"` of the client
/// - max wait: [`DEFAULT_MAX_WAIT`] (60 s); a call that would wait longer
///   fails with a retryable [`LlmError::RateLimit`] whose hint is the wait
#[derive(Clone)]
pub struct RateLimited {
    client: Arc<dyn LlmClient>,
    limiter: Arc<dyn RateLimiter>,
    scope: Arc<str>,
    max_wait: Duration,
}

impl std::fmt::Debug for RateLimited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimited")
            .field("provider", &self.client.provider_name())
            .field("scope", &self.scope)
            .field("max_wait", &self.max_wait)
            .finish()
    }
}

/// Builds a [`RateLimited`].
///
/// # Default
/// - scope: `"{provider name}/{model}"` of the client
/// - max wait: [`DEFAULT_MAX_WAIT`] (60 s)
pub struct RateLimitedBuilder {
    client: Arc<dyn LlmClient>,
    limiter: Arc<dyn RateLimiter>,
    scope: Option<String>,
    max_wait: Duration,
}

impl std::fmt::Debug for RateLimitedBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitedBuilder")
            .field("provider", &self.client.provider_name())
            .field("scope", &self.scope)
            .field("max_wait", &self.max_wait)
            .finish()
    }
}

impl RateLimited {
    /// `client`'s calls, asking `limiter` first.
    pub fn builder(
        client: impl LlmClient + 'static,
        limiter: impl RateLimiter + 'static,
    ) -> RateLimitedBuilder {
        RateLimitedBuilder {
            client: Arc::new(client),
            limiter: Arc::new(limiter),
            scope: None,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }

    /// The scope its calls count against.
    pub fn scope(&self) -> &str {
        &self.scope
    }
}

impl RateLimitedBuilder {
    /// Counts the calls against `scope` (one account's limit shared by
    /// several models, say) instead of the client's own.
    #[must_use]
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Sets how long a call may wait for its scope (0: not at all).
    #[must_use]
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The client, or a [`ConfigError`] for an empty scope (which would
    /// share one limit with every other client given no scope of its own).
    pub fn build(self) -> Result<RateLimited, ConfigError> {
        let scope = match self.scope {
            Some(scope) if scope.is_empty() => {
                return Err(ConfigError::invalid(
                    "RateLimitedBuilder::with_scope",
                    "an empty scope names no limit: name the account or model whose \
                     limit the calls share, such as `openai/gpt-4o` (the default is the \
                     client's provider and model)",
                ));
            }
            Some(scope) => scope,
            None => format!("{}/{}", self.client.provider_name(), self.client.model()),
        };
        Ok(RateLimited {
            client: self.client,
            limiter: self.limiter,
            scope: scope.into(),
            max_wait: self.max_wait,
        })
    }
}

/// What a call counts against a tokens-per-minute limit: its estimated
/// size (messages, tools' definitions, the answer's schema, as providers
/// count them) and the most it may generate.
fn tokens_of(req: &ChatRequest) -> u64 {
    let messages: usize = req.messages.iter().map(|m| m.estimated_tokens()).sum();
    let tools: usize = req.tools.iter().map(|t| t.estimated_tokens()).sum();
    let input = messages + tools + req.response_format.estimated_tokens();
    input as u64 + req.max_tokens.map_or(0, u64::from)
}

impl RateLimited {
    /// Asks the limiter for the call, within [`LIMITER_TIMEOUT`].
    async fn ask(&self, tokens: u64) -> Result<Option<Duration>, LlmError> {
        let failed = |reason: String, cause: Option<klieo_types::MemoryError>| LlmError::Network {
            reason,
            cause: cause.map(|e| Arc::new(e) as _),
        };
        match tokio::time::timeout(LIMITER_TIMEOUT, self.limiter.acquire(&self.scope, tokens)).await
        {
            Ok(Ok(wait)) => Ok(wait),
            Ok(Err(e)) => Err(failed(
                format!("the rate limiter of `{}` failed", self.scope),
                Some(e),
            )),
            Err(_) => Err(failed(
                format!(
                    "the rate limiter of `{}` did not answer within {} ms",
                    self.scope,
                    LIMITER_TIMEOUT.as_millis()
                ),
                None,
            )),
        }
    }

    /// Waits until the scope takes the call: how long it waited, if it
    /// did.
    async fn acquire(&self, tokens: u64) -> Result<Option<RateWait>, LlmError> {
        let began = Instant::now();
        loop {
            let wait = self.ask(tokens).await?;
            let waited = began.elapsed();
            let Some(wait) = wait else {
                let waited = (!waited.is_zero()).then(|| RateWait::new(&*self.scope, waited));
                return Ok(waited);
            };
            let until = waited.saturating_add(wait);
            if until > self.max_wait {
                // The wait itself is the hint's, said once.
                let message = format!(
                    "the shared rate limit of `{}` would keep the call waiting past the {} ms a \
                     call may wait (RateLimited's max wait)",
                    self.scope,
                    self.max_wait.as_millis()
                );
                let hint = RetryHint::new()
                    .with_retry_after(Some(wait))
                    .with_from_limiter(true);
                return Err(LlmError::RateLimit { message, hint });
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// A server asked the scope to slow down: pauses it for everyone. A
    /// wait a rate limit under this one refused the call for (another
    /// scope's) is no server's: it pauses nothing.
    async fn paused_by(&self, error: &LlmError) {
        let asked = matches!(
            error,
            LlmError::RateLimit { .. }
                | LlmError::Server {
                    status: Some(503 | 529),
                    ..
                }
        ) && error.hint().is_none_or(|hint| !hint.from_limiter);
        if let (true, Some(pause)) = (asked, error.retry_after()) {
            // A pause that could not be written costs the other processes
            // a 429 of their own; the call's failure is the server's, and
            // this call's own retry waits the hint anyway.
            let pause = self.limiter.pause(&self.scope, pause.min(MAX_PAUSE));
            let _ = tokio::time::timeout(LIMITER_TIMEOUT, pause).await;
        }
    }
}

/// Names the wait on a reply's info.
fn waited_stamp(wait: RateWait) -> Stamp {
    Box::new(move |info| info.rate_wait = Some(wait.clone()))
}

#[async_trait]
impl LlmClient for RateLimited {
    fn name(&self) -> &str {
        self.client.name()
    }

    fn model(&self) -> &str {
        self.client.model()
    }

    fn models(&self) -> Vec<String> {
        self.client.models()
    }

    fn provider_name(&self) -> &str {
        self.client.provider_name()
    }

    fn capabilities(&self) -> Capabilities {
        self.client.capabilities()
    }

    async fn discover_capabilities(&self) -> Capabilities {
        self.client.discover_capabilities().await
    }

    async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError> {
        let waited = self.acquire(tokens_of(&req)).await?;
        match self.client.complete(req).await {
            Ok(mut reply) => {
                if let Some(wait) = waited {
                    stamp_info(&mut reply.info, &waited_stamp(wait));
                }
                Ok(reply)
            }
            Err(e) => {
                self.paused_by(&e).await;
                Err(e)
            }
        }
    }

    async fn stream(&self, req: ChatRequest) -> Result<ChunkStream, LlmError> {
        let waited = self.acquire(tokens_of(&req)).await?;
        match self.client.stream(req).await {
            Ok(stream) => match waited {
                Some(wait) => Ok(Box::pin(Stamped::new(None, stream, waited_stamp(wait)))),
                None => Ok(stream),
            },
            Err(e) => {
                self.paused_by(&e).await;
                Err(e)
            }
        }
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, LlmError> {
        let tokens: usize = texts.iter().map(|t| t.len().div_ceil(4)).sum();
        self.acquire(tokens as u64).await?;
        let embedded = self.client.embed(texts).await;
        if let Err(e) = &embedded {
            self.paused_by(e).await;
        }
        embedded
    }
}

#[cfg(test)]
mod tests;
