//! The fallback's choices on scripted providers: who is tried, who
//! answers, what the reply and the error say.
#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;
use klieo_types::testing::{text_chunks, ScriptedLlm};
use klieo_types::{ChatChunk, Message, ToolChoice, ToolDef, Usage};

fn hi() -> ChatRequest {
    ChatRequest::new(vec![Message::user("hi")])
}

fn named(name: &str) -> ScriptedLlm {
    ScriptedLlm::new().with_name(name)
}

fn pair(a: &ScriptedLlm, b: &ScriptedLlm) -> Fallback {
    Fallback::builder()
        .add_provider(a.clone())
        .add_provider(b.clone())
        .build()
        .unwrap()
}

async fn next(stream: &mut ChunkStream) -> Option<Result<ChatChunk, LlmError>> {
    poll_fn(|cx| stream.as_mut().poll_next(cx)).await
}

#[tokio::test]
async fn a_retryable_failure_moves_to_the_next_provider_and_the_reply_says_so() {
    let a = named("primary").then_error(LlmError::server("overloaded"));
    let b = named("backup").then_text("hello");
    let reply = pair(&a, &b).complete(hi()).await.unwrap();
    assert_eq!(reply.message.content, "hello");
    let info = reply.info.unwrap();
    assert_eq!(info.provider.as_deref(), Some("backup"));
    assert_eq!(info.switches.len(), 1);
    assert_eq!(info.switches[0].from, "primary");
    assert_eq!(info.switches[0].to, "backup");
    assert!(info.switches[0].reason.contains("overloaded"));
}

#[tokio::test]
async fn the_first_provider_answering_is_named_with_no_switch() {
    let a = named("primary").then_text("hello");
    let b = named("backup");
    let reply = pair(&a, &b).complete(hi()).await.unwrap();
    let info = reply.info.unwrap();
    assert_eq!(info.provider.as_deref(), Some("primary"));
    assert!(info.switches.is_empty());
    assert!(b.requests().is_empty(), "the backup was not called");
}

#[tokio::test]
async fn a_refused_request_ends_the_call_without_trying_the_next() {
    let a = named("primary").then_error(LlmError::bad_request("messages is empty"));
    let b = named("backup").then_text("hello");
    let err = pair(&a, &b).complete(hi()).await.unwrap_err();
    assert_eq!(err, LlmError::bad_request("messages is empty"));
    assert!(b.requests().is_empty());
}

#[tokio::test]
async fn an_exhausted_quota_moves_to_the_next_provider() {
    let quota = LlmError::QuotaExhausted {
        message: "no credit".into(),
    };
    let a = named("primary").then_error(quota);
    let b = named("backup").then_text("hello");
    let reply = pair(&a, &b).complete(hi()).await.unwrap();
    assert_eq!(reply.info.unwrap().provider.as_deref(), Some("backup"));
}

#[tokio::test]
async fn a_server_saying_not_to_retry_it_still_moves_to_the_next_provider() {
    let hint = klieo_types::RetryHint::new().with_should_retry(Some(false));
    let limited = LlmError::RateLimit {
        message: "slow down".into(),
        hint,
    };
    assert!(!limited.retryable());
    let a = named("primary").then_error(limited);
    let b = named("backup").then_text("hello");
    let reply = pair(&a, &b).complete(hi()).await.unwrap();
    assert_eq!(reply.info.unwrap().provider.as_deref(), Some("backup"));
}

#[tokio::test]
async fn every_provider_failing_lists_each_and_waits_the_shortest_hint() {
    let slow = LlmError::rate_limit("slow down", Some(Duration::from_secs(5)));
    let soon = LlmError::rate_limit("slow down", Some(Duration::from_secs(2)));
    let a = named("primary").then_error(slow);
    let b = named("backup").then_error(soon);
    let err = pair(&a, &b).complete(hi()).await.unwrap_err();
    let LlmError::AllProvidersFailed { failures } = &err else {
        panic!("not every provider failed: {err:?}");
    };
    let names: Vec<&str> = failures.iter().map(|f| f.provider.as_str()).collect();
    assert_eq!(names, ["primary", "backup"]);
    assert!(err.retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    assert!(err.to_string().contains("primary: rate limited"), "{err}");
}

#[tokio::test]
async fn a_list_that_failed_only_for_good_is_not_retried() {
    let quota = LlmError::QuotaExhausted {
        message: "no credit".into(),
    };
    let a = named("primary").then_error(quota.clone());
    let b = named("backup").then_error(quota);
    let err = pair(&a, &b).complete(hi()).await.unwrap_err();
    assert_eq!(err.kind(), "all_providers_failed");
    assert!(!err.retryable());
}

#[tokio::test]
async fn a_provider_that_cannot_serve_the_request_is_skipped_with_the_reason() {
    let a = named("primary").with_capabilities(Capabilities::default().with_tool_calling(false));
    let b = named("backup").then_text("hello");
    let mut req = hi();
    req.tools = vec![ToolDef::new("echo", "echoes", serde_json::json!({}))].into();
    let reply = pair(&a, &b).complete(req).await.unwrap();
    let info = reply.info.unwrap();
    assert!(
        info.switches[0].reason.contains("does not call tools"),
        "{:?}",
        info.switches
    );
    assert!(
        a.requests().is_empty(),
        "the skipped provider was not called"
    );
}

#[tokio::test]
async fn a_tool_forced_by_name_goes_to_a_provider_that_cannot_be_told_the_name() {
    let unnamed = Capabilities::default().with_named_tool_choice(false);
    let a = named("llama-server")
        .with_capabilities(unnamed)
        .then_text("called");
    let only = Fallback::builder().add_provider(a.clone()).build().unwrap();
    let mut req = hi();
    req.tools = vec![ToolDef::new("echo", "echoes", serde_json::json!({}))].into();
    req.tool_choice = Some(ToolChoice::Function("echo".into()));
    let reply = only.complete(req).await.unwrap();
    assert_eq!(reply.message.content, "called");
    assert_eq!(a.requests().len(), 1);
}

/// A provider that learns it can enforce a JSON Schema when asked what
/// it can do, as a client of llama-server learns it from `/props`.
struct Learning {
    llm: ScriptedLlm,
    learned: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl LlmClient for Learning {
    fn name(&self) -> &str {
        self.llm.name()
    }

    fn capabilities(&self) -> Capabilities {
        let learned = self.learned.load(std::sync::atomic::Ordering::Relaxed);
        self.llm.capabilities().with_json_schema(learned)
    }

    async fn discover_capabilities(&self) -> Capabilities {
        self.learned
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.capabilities()
    }

    async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError> {
        self.llm.complete(req).await
    }
}

#[tokio::test]
async fn a_provider_is_judged_by_what_it_can_do_now_not_at_build() {
    let learns = named("local").then_text("{}");
    let fallback = Fallback::builder()
        .add_provider(Learning {
            llm: learns.clone(),
            learned: false.into(),
        })
        .add_provider(named("backup").with_capabilities(Capabilities::default()))
        .build()
        .unwrap();
    assert!(!fallback.capabilities().json_schema());
    assert!(fallback.discover_capabilities().await.json_schema());
    assert!(
        fallback.capabilities().json_schema(),
        "what it learned holds"
    );
    let mut req = hi();
    req.response_format = klieo_types::ResponseFormat::JsonSchema {
        name: "answer".into(),
        schema: serde_json::json!({"type": "object"}),
        strict: true,
    };
    let reply = fallback.complete(req).await.unwrap();
    assert_eq!(reply.info.unwrap().provider.as_deref(), Some("local"));
    assert_eq!(learns.requests().len(), 1);
    assert!(
        matches!(
            learns.requests()[0].response_format,
            klieo_types::ResponseFormat::JsonSchema { .. }
        ),
        "asked to enforce the schema it learned it can"
    );
}

#[tokio::test]
async fn a_stream_fails_over_when_its_first_item_is_a_failure() {
    let a = named("primary").then_chunks(vec![Err(LlmError::server("overloaded"))]);
    let b = named("backup").then_chunks(text_chunks(&["hel", "lo"], Some(Usage::new(3, 2))));
    let mut stream = pair(&a, &b).stream(hi()).await.unwrap();
    let first = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(first.delta, "hel");
    let info = first.info.unwrap();
    assert_eq!(info.provider.as_deref(), Some("backup"));
    assert_eq!(info.switches[0].from, "primary");
    let mut last = None;
    while let Some(item) = next(&mut stream).await {
        last = Some(item.unwrap());
    }
    let last = last.unwrap();
    assert_eq!(last.delta, "");
    assert!(last.finish_reason.is_some());
}

#[tokio::test]
async fn a_stream_that_began_is_not_failed_over() {
    let a = named("primary").then_chunks(vec![
        Ok(ChatChunk::delta("hel")),
        Err(LlmError::server("dropped")),
    ]);
    let b = named("backup").then_text("hello");
    let mut stream = pair(&a, &b).stream(hi()).await.unwrap();
    assert_eq!(next(&mut stream).await.unwrap().unwrap().delta, "hel");
    let failed = next(&mut stream).await.unwrap().unwrap_err();
    assert_eq!(failed, LlmError::server("dropped"));
    assert!(b.requests().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_stalled_provider_is_left_after_the_attempt_timeout() {
    let a = named("primary").then_stall();
    let b = named("backup").then_text("hello");
    let llm = Fallback::builder()
        .add_provider(a.clone())
        .add_provider(b.clone())
        .with_attempt_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let reply = llm.complete(hi()).await.unwrap();
    let info = reply.info.unwrap();
    assert_eq!(info.provider.as_deref(), Some("backup"));
    assert!(info.switches[0].reason.contains("5000 ms"), "{info:?}");
}

#[test]
fn a_list_of_no_providers_or_two_of_one_name_is_refused() {
    let none = Fallback::builder().build().unwrap_err();
    assert!(none.to_string().contains("add at least one"), "{none}");
    let twice = Fallback::builder()
        .add_provider(named("openai"))
        .add_provider(named("openai"))
        .build()
        .unwrap_err();
    assert!(twice
        .to_string()
        .contains("two providers are named `openai`"));
    let zero = Fallback::builder()
        .add_provider(named("openai"))
        .with_attempt_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(zero.to_string().contains("attempt_timeout"), "{zero}");
}

#[tokio::test]
async fn a_refused_key_moves_to_the_next_provider() {
    let a = named("primary").then_error(LlmError::unauthorized("revoked"));
    let b = named("backup").then_text("hello");
    let reply = pair(&a, &b).complete(hi()).await.unwrap();
    assert_eq!(reply.info.unwrap().provider.as_deref(), Some("backup"));
}

#[tokio::test]
async fn a_failure_without_a_delay_leaves_the_retry_to_its_own_backoff() {
    let hinted = LlmError::rate_limit("slow down", Some(Duration::from_secs(60)));
    let a = named("primary").then_error(LlmError::network("refused"));
    let b = named("backup").then_error(hinted);
    let err = pair(&a, &b).complete(hi()).await.unwrap_err();
    assert!(err.retryable());
    assert_eq!(
        err.retry_after(),
        None,
        "the network failure may pass sooner"
    );
}

#[tokio::test]
async fn a_model_the_provider_does_not_know_moves_to_the_next() {
    let unknown = LlmError::BadRequest {
        status: Some(404),
        message: "model not found".into(),
        hint: klieo_types::RetryHint::new(),
    };
    let a = named("primary").then_error(unknown);
    let b = named("backup").then_text("hello");
    let reply = pair(&a, &b).complete(hi()).await.unwrap();
    assert_eq!(reply.info.unwrap().provider.as_deref(), Some("backup"));
}

/// A provider named apart from the model it serves.
struct OnModel(ScriptedLlm, &'static str);

#[async_trait]
impl LlmClient for OnModel {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn model(&self) -> &str {
        self.1
    }
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError> {
        self.0.complete(req).await
    }
}

#[test]
fn a_fallback_names_every_model_its_replies_may_come_from() {
    let fallback = Fallback::builder()
        .add_provider(OnModel(named("openai"), "gpt-4o-mini"))
        .add_provider(OnModel(named("anthropic"), "claude-opus"))
        .add_provider(OnModel(named("azure"), "gpt-4o-mini"))
        .build()
        .unwrap();
    assert_eq!(fallback.model(), "gpt-4o-mini");
    assert_eq!(fallback.models(), ["gpt-4o-mini", "claude-opus"]);
}

#[tokio::test]
async fn a_schema_fails_over_to_a_provider_that_cannot_enforce_it_told_in_words() {
    let strict = Capabilities::default().with_json_schema(true);
    let hosted = named("hosted")
        .with_capabilities(strict)
        .then_error(LlmError::server("overloaded"));
    let local = named("local")
        .with_capabilities(Capabilities::default().with_json_mode(true))
        .then_text(r#"{"holds": true}"#);
    let schema =
        serde_json::json!({"type": "object", "properties": {"holds": {"type": "boolean"}}});
    let mut req = ChatRequest::new(vec![Message::system("Judge."), Message::user("hi")]);
    req.response_format = klieo_types::ResponseFormat::JsonSchema {
        name: "Verdict".into(),
        schema: schema.clone(),
        strict: true,
    };
    let reply = pair(&hosted, &local).complete(req).await.unwrap();
    assert_eq!(reply.info.unwrap().provider.as_deref(), Some("local"));
    let sent = &local.requests()[0];
    assert_eq!(
        sent.response_format,
        klieo_types::ResponseFormat::JsonObject
    );
    let system = sent.messages.get(0).unwrap();
    assert_eq!(system.role, klieo_types::Role::System);
    assert!(
        system.content.starts_with("Judge.\n\nWhen you give"),
        "{}",
        system.content
    );
    assert!(
        system.content.contains(&schema.to_string()),
        "{}",
        system.content
    );
    assert_eq!(sent.messages.iter().count(), 2);
    let hosted_sent = &hosted.requests()[0];
    assert!(matches!(
        hosted_sent.response_format,
        klieo_types::ResponseFormat::JsonSchema { .. }
    ));
}

#[tokio::test]
async fn a_schema_goes_first_to_a_later_provider_that_can_enforce_it() {
    let plain = named("plain").then_text("{}");
    let strict = named("strict")
        .with_capabilities(Capabilities::default().with_json_schema(true))
        .then_text(r#"{"holds": true}"#);
    let mut req = hi();
    req.response_format = klieo_types::ResponseFormat::JsonSchema {
        name: "Verdict".into(),
        schema: serde_json::json!({"type": "object"}),
        strict: true,
    };
    let reply = pair(&plain, &strict).complete(req).await.unwrap();
    assert_eq!(reply.info.unwrap().provider.as_deref(), Some("strict"));
    assert!(
        plain.requests().is_empty(),
        "asked in words only when none can enforce it"
    );
}

#[tokio::test]
async fn a_schema_the_instructions_ask_for_already_is_not_asked_twice() {
    let local = named("local").then_text(r#"{"holds": true}"#);
    let schema =
        serde_json::json!({"type": "object", "properties": {"holds": {"type": "boolean"}}});
    let instructions = klieo_types::schema_in_instructions("Judge.", &schema);
    let mut req = ChatRequest::new(vec![Message::system(&instructions), Message::user("hi")]);
    req.response_format = klieo_types::ResponseFormat::JsonSchema {
        name: "Verdict".into(),
        schema,
        strict: true,
    };
    let fallback = Fallback::builder()
        .add_provider(local.clone())
        .build()
        .unwrap();
    fallback.complete(req).await.unwrap();
    let sent = &local.requests()[0];
    assert_eq!(sent.messages.get(0).unwrap().content, instructions);
    assert_eq!(sent.response_format, klieo_types::ResponseFormat::Text);
}
