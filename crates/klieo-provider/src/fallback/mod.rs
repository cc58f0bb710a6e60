//! [`Fallback`]: an [`LlmClient`] made of providers tried in order. A call
//! goes to the first provider that can serve it; a failure that another
//! provider may not share (a retryable error, a timeout, an exhausted
//! quota, a refused key, an unknown model, a feature it lacks) moves it
//! to the next, at once. The reply
//! names the provider that answered and each switch before it
//! ([`ReplyInfo::provider`](klieo_types::ReplyInfo::provider),
//! [`ReplyInfo::switches`](klieo_types::ReplyInfo::switches)), which the runtime
//! records in the run's journal, events and spans.
//!
//! A request for an answer's shape (a JSON Schema, JSON mode) goes to the
//! providers that can enforce it first, in order; when none of them
//! answers, the providers that cannot are asked in words, in order (the
//! schema in the system message; the caller checks the answer as it
//! would any, and a typed run repairs one that does not fit). So a typed
//! run fails over from a hosted provider with strict schemas to a local
//! server without them.
//!
//! Whether a provider can serve a call is asked of it at each call, so
//! what it learned since the list was built counts: a server's window
//! and JSON Schema support once discovered
//! ([`LlmClient::discover_capabilities`], which the fallback asks of
//! each), a stream found not to carry the model's tool calls. The list's
//! own [`capabilities`](LlmClient::capabilities) are its providers' as
//! they are now.
//!
//! One pass over the list is one attempt: the runtime's retry policy and
//! its time budget cover the whole list, so failing over does not
//! multiply the wait. When every provider fails, the call fails with
//! [`LlmError::AllProvidersFailed`], retryable when any failure was.
//!
//! ```
//! use klieo_provider::fallback::Fallback;
//! use klieo_types::testing::ScriptedLlm;
//! use klieo_types::{ChatRequest, LlmClient, LlmError, Message};
//!
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
//! # rt.block_on(async {
//! let down = ScriptedLlm::new().with_name("primary").then_error(LlmError::server("overloaded"));
//! let up = ScriptedLlm::new().with_name("backup").then_text("hello");
//! let llm = Fallback::builder().add_provider(down).add_provider(up).build()?;
//!
//! let reply = llm.complete(ChatRequest::new(vec![Message::user("hi")])).await?;
//! let info = reply.info.expect("a fallback names who answered");
//! assert_eq!(info.provider.as_deref(), Some("backup"));
//! assert_eq!(info.switches[0].from, "primary");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod needs;

use crate::stamp::{stamp_info, Stamp, Stamped};
use klieo_types::{
    async_trait, Capabilities, ChatRequest, ChatResponse, ChunkStream, ConfigError, Embedding,
    LlmClient, LlmError, ProviderFailure, ProviderSwitch, TimeLimit,
};
use needs::{combined, lacks, told_in_words, Mode};
use std::future::{poll_fn, Future};
use std::sync::Arc;
use std::time::Duration;

/// One provider of the list. Its capabilities are asked at each call, not
/// kept: a client learns some of them (a server's window and JSON Schema
/// support once discovered, a stream that turned out not to carry its
/// tool calls).
struct Member {
    client: Arc<dyn LlmClient>,
}

/// Providers tried in order as one [`LlmClient`]; see the
/// [module docs](self). Built with [`Fallback::builder`].
///
/// # Default
/// - no time limit of its own on a provider's attempt: each provider's
///   own limits (connect, first byte, idle) apply; set
///   [`FallbackBuilder::with_attempt_timeout`] to move on from a slow
///   provider sooner.
#[derive(Clone)]
pub struct Fallback {
    members: Arc<[Member]>,
    attempt_timeout: Option<Duration>,
}

impl std::fmt::Debug for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self
            .members
            .iter()
            .map(|m| m.client.provider_name())
            .collect();
        f.debug_struct("Fallback")
            .field("providers", &names)
            .field("attempt_timeout", &self.attempt_timeout)
            .finish()
    }
}

impl Fallback {
    /// A builder with no providers yet.
    pub fn builder() -> FallbackBuilder {
        FallbackBuilder::default()
    }
}

/// Builds a [`Fallback`]: add providers in the order to try them.
///
/// # Default
/// - providers: none (`build` refuses a fallback without one)
/// - attempt timeout: none of its own; each provider's limits apply
#[derive(Default)]
pub struct FallbackBuilder {
    members: Vec<Arc<dyn LlmClient>>,
    attempt_timeout: Option<Duration>,
}

impl std::fmt::Debug for FallbackBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.members.iter().map(|m| m.provider_name()).collect();
        f.debug_struct("FallbackBuilder")
            .field("providers", &names)
            .field("attempt_timeout", &self.attempt_timeout)
            .finish()
    }
}

impl FallbackBuilder {
    /// Adds `client` after the providers added before it. It is named by
    /// its [`provider_name`](LlmClient::provider_name).
    #[must_use]
    pub fn add_provider(mut self, client: impl LlmClient + 'static) -> Self {
        self.members.push(Arc::new(client));
        self
    }

    /// Bounds each provider's attempt (a blocking call whole; a stream
    /// until its first item): past it, the call moves to the next
    /// provider with a [`LlmError::Timeout`].
    #[must_use]
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// The client.
    ///
    /// # Errors
    /// [`ConfigError`] when no provider was added, two have the same
    /// name (the journal could not tell them apart), or the attempt
    /// timeout is zero.
    pub fn build(self) -> Result<Fallback, ConfigError> {
        if self.members.is_empty() {
            return Err(ConfigError::invalid(
                "Fallback providers",
                "a fallback of no providers cannot answer: add at least one with add_provider",
            ));
        }
        for (i, member) in self.members.iter().enumerate() {
            let name = member.provider_name();
            if self.members[..i].iter().any(|m| m.provider_name() == name) {
                return Err(ConfigError::invalid(
                    "Fallback providers",
                    format!(
                        "two providers are named `{name}`: give one another name (its \
                         builder's with_provider_name) so a switch says which failed"
                    ),
                ));
            }
        }
        if self.attempt_timeout == Some(Duration::ZERO) {
            return Err(ConfigError::invalid(
                "Fallback::attempt_timeout",
                "0 leaves no provider time to answer: give a positive duration",
            ));
        }
        let members: Arc<[Member]> = self
            .members
            .into_iter()
            .map(|client| Member { client })
            .collect();
        Ok(Fallback {
            members,
            attempt_timeout: self.attempt_timeout,
        })
    }
}

/// Whether `error` moves a call on to the next provider: a failure the
/// next may not share (the server's state, this provider's quota, key or
/// model), by its kind, whatever the server said of retrying it (its
/// `x-should-retry` is about asking it again, not another). Anything else
/// (a request the server refused as malformed, a cancel) ends the call
/// with it: the next would refuse it too.
fn moves_on(error: &LlmError) -> bool {
    error.retryable()
        || matches!(
            error,
            LlmError::Network { .. }
                | LlmError::Interrupted { .. }
                | LlmError::Timeout { .. }
                | LlmError::RateLimit { .. }
                | LlmError::Server { cause: None, .. }
                | LlmError::QuotaExhausted { .. }
                | LlmError::Unauthorized { .. }
                | LlmError::Unsupported(_)
                | LlmError::BadRequest {
                    status: Some(404),
                    ..
                }
        )
}

/// One pass over the list: the providers passed over so far, and why.
#[derive(Default)]
struct Pass {
    passed: Vec<ProviderFailure>,
}

impl Pass {
    fn skip(&mut self, member: &Member, why: &str) {
        let error = LlmError::Unsupported(why.to_owned());
        self.passed
            .push(ProviderFailure::new(member.client.provider_name(), error));
    }

    fn fail(&mut self, member: &Member, error: LlmError) {
        self.passed
            .push(ProviderFailure::new(member.client.provider_name(), error));
    }

    /// `member` answered: names it, and the switches that led to it, on
    /// the reply.
    fn answered(self, member: &Member) -> Stamp {
        let provider = member.client.provider_name().to_owned();
        let mut switches = Vec::with_capacity(self.passed.len());
        let mut passed = self.passed.into_iter().peekable();
        while let Some(failure) = passed.next() {
            let to = passed
                .peek()
                .map_or(provider.as_str(), |f| f.provider.as_str());
            switches.push(ProviderSwitch::new(
                failure.provider.as_str(),
                to,
                failure.error.to_string(),
            ));
        }
        Box::new(move |info| {
            info.provider = Some(provider.clone());
            info.switches.clone_from(&switches);
        })
    }

    fn exhausted(self) -> LlmError {
        LlmError::AllProvidersFailed {
            failures: self.passed,
        }
    }
}

impl Fallback {
    /// `req` completed by `member`: its reply, stamped with the switches
    /// of `pass`; `None` when it failed in a way the next may not
    /// (recorded in `pass`); an error that ends the call.
    async fn complete_on(
        &self,
        member: &Member,
        req: ChatRequest,
        pass: &mut Pass,
    ) -> Result<Option<ChatResponse>, LlmError> {
        let attempt = member.client.complete(req);
        match self.bounded(TimeLimit::Call, attempt).await {
            Ok(mut reply) => {
                stamp_info(&mut reply.info, &std::mem::take(pass).answered(member));
                Ok(Some(reply))
            }
            Err(e) if moves_on(&e) => {
                pass.fail(member, e);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `req` streamed by `member`, as [`complete_on`](Self::complete_on).
    async fn stream_on(
        &self,
        member: &Member,
        req: ChatRequest,
        pass: &mut Pass,
    ) -> Result<Option<ChunkStream>, LlmError> {
        let opened = self.bounded(TimeLimit::FirstByte, async {
            let mut stream = member.client.stream(req).await?;
            let first = poll_fn(|cx| stream.as_mut().poll_next(cx)).await;
            Ok((stream, first))
        });
        match opened.await {
            Ok((stream, Some(first))) => match first {
                Err(e) if moves_on(&e) => {
                    pass.fail(member, e);
                    Ok(None)
                }
                first => {
                    let stamp = std::mem::take(pass).answered(member);
                    Ok(Some(Box::pin(Stamped::new(Some(first), stream, stamp))))
                }
            },
            // A stream that ends before any item has nothing to relay.
            Ok((stream, None)) => Ok(Some(stream)),
            Err(e) if moves_on(&e) => {
                pass.fail(member, e);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `attempt`, bounded by the attempt timeout when one is set.
    async fn bounded<T>(
        &self,
        limit: TimeLimit,
        attempt: impl Future<Output = Result<T, LlmError>>,
    ) -> Result<T, LlmError> {
        match self.attempt_timeout {
            None => attempt.await,
            Some(after) => tokio::time::timeout(after, attempt)
                .await
                .unwrap_or_else(|_| Err(LlmError::timeout(limit, after))),
        }
    }
}

#[async_trait]
impl LlmClient for Fallback {
    fn name(&self) -> &str {
        "fallback"
    }

    /// The first provider's model.
    fn model(&self) -> &str {
        self.members[0].client.model()
    }

    /// Every provider's models, in the list's order, each once.
    fn models(&self) -> Vec<String> {
        let mut models: Vec<String> = Vec::new();
        for model in self.members.iter().flat_map(|m| m.client.models()) {
            if !models.contains(&model) {
                models.push(model);
            }
        }
        models
    }

    fn capabilities(&self) -> Capabilities {
        let each: Vec<Capabilities> = self
            .members
            .iter()
            .map(|m| m.client.capabilities())
            .collect();
        combined(&each)
    }

    async fn discover_capabilities(&self) -> Capabilities {
        let mut each = Vec::with_capacity(self.members.len());
        for member in self.members.iter() {
            each.push(member.client.discover_capabilities().await);
        }
        combined(&each)
    }

    async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError> {
        let mut pass = Pass::default();
        let mut in_words = Vec::new();
        for member in self.members.iter() {
            let caps = member.client.capabilities();
            if let Some(why) = lacks(&caps, &req, Mode::Complete) {
                match told_in_words(&caps, &req, Mode::Complete) {
                    Some(told) => in_words.push((member, told)),
                    None => pass.skip(member, why),
                }
                continue;
            }
            if let Some(reply) = self.complete_on(member, req.clone(), &mut pass).await? {
                return Ok(reply);
            }
        }
        for (member, told) in in_words {
            if let Some(reply) = self.complete_on(member, told, &mut pass).await? {
                return Ok(reply);
            }
        }
        Err(pass.exhausted())
    }

    /// Fails over only before a provider's first item: once a chunk may
    /// have reached the consumer, the stream is that provider's to its
    /// end. A provider whose first item is a failure that moves on is
    /// passed over like one whose stream did not open.
    async fn stream(&self, req: ChatRequest) -> Result<ChunkStream, LlmError> {
        let mut pass = Pass::default();
        let mut in_words = Vec::new();
        for member in self.members.iter() {
            let caps = member.client.capabilities();
            if let Some(why) = lacks(&caps, &req, Mode::Stream) {
                match told_in_words(&caps, &req, Mode::Stream) {
                    Some(told) => in_words.push((member, told)),
                    None => pass.skip(member, why),
                }
                continue;
            }
            if let Some(stream) = self.stream_on(member, req.clone(), &mut pass).await? {
                return Ok(stream);
            }
        }
        for (member, told) in in_words {
            if let Some(stream) = self.stream_on(member, told, &mut pass).await? {
                return Ok(stream);
            }
        }
        Err(pass.exhausted())
    }

    /// Embeds with the first provider that has embeddings and answers.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, LlmError> {
        let mut pass = Pass::default();
        for member in self.members.iter() {
            if !member.client.capabilities().embeddings() {
                pass.skip(member, "the provider has no embeddings");
                continue;
            }
            match self
                .bounded(TimeLimit::Call, member.client.embed(texts))
                .await
            {
                Err(e) if moves_on(&e) => pass.fail(member, e),
                done => return done,
            }
        }
        Err(pass.exhausted())
    }
}

#[cfg(test)]
mod tests;
