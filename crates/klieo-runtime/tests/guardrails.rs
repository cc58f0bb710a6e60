//! Guardrails: order, both hooks, what the post hook sees in a streamed
//! run, and the two ready ones end to end.

use crate::support::{
    collect, context, echo_call, ended, episodes, failed_text, start, terminal, text,
};
use klieo_runtime::{
    run_steps, DenyKeywords, Guardrail, GuardrailOutcome, MaxResponseLength, RunOptions,
};
use klieo_types::testing::{text_chunks, ScriptedLlm};
use klieo_types::{async_trait, ChatRequest, ChatResponse, Error, LlmError};
use std::sync::{Arc, Mutex};

/// Answers `outcome` from one hook and records what both hooks saw.
struct Scripted {
    pre: Option<GuardrailOutcome>,
    post: Option<GuardrailOutcome>,
    pre_calls: Mutex<usize>,
    replies: Mutex<Vec<String>>,
}

impl Scripted {
    fn new(pre: Option<GuardrailOutcome>, post: Option<GuardrailOutcome>) -> Arc<Self> {
        Arc::new(Self {
            pre,
            post,
            pre_calls: Mutex::new(0),
            replies: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait]
impl Guardrail for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    async fn pre_llm(&self, _req: &ChatRequest) -> GuardrailOutcome {
        *self.pre_calls.lock().unwrap() += 1;
        self.pre.clone().unwrap_or(GuardrailOutcome::Pass)
    }
    async fn post_llm(&self, _req: &ChatRequest, resp: &ChatResponse) -> GuardrailOutcome {
        self.replies
            .lock()
            .unwrap()
            .push(resp.message.content.clone());
        self.post.clone().unwrap_or(GuardrailOutcome::Pass)
    }
}

fn refuse(reason: &str) -> Option<GuardrailOutcome> {
    Some(GuardrailOutcome::Refuse {
        reason: reason.into(),
    })
}

fn handoff(agent: &str) -> Option<GuardrailOutcome> {
    Some(GuardrailOutcome::Handoff {
        agent: agent.into(),
        reason: "theirs".into(),
    })
}

fn with(guardrails: &[&Arc<Scripted>]) -> RunOptions {
    guardrails.iter().fold(RunOptions::default(), |opts, g| {
        opts.add_guardrail(Arc::clone(g) as Arc<dyn Guardrail>)
    })
}

#[tokio::test]
async fn first_non_pass_wins_in_pre_hooks() {
    let first = Scripted::new(refuse("first"), None);
    let second = Scripted::new(handoff("billing"), None);
    let llm = ScriptedLlm::new().then_text("never");
    let (ctx, thread) = context(&llm).await;
    let outcome = run_steps(&ctx, "", thread, with(&[&first, &second])).await;
    assert_eq!(
        outcome,
        Err(Error::Refused {
            reason: "first".into()
        })
    );
    assert_eq!(
        *second.pre_calls.lock().unwrap(),
        0,
        "later guardrails are skipped"
    );
    assert!(
        llm.requests().is_empty(),
        "a pre hook stops the call itself"
    );
    assert_eq!(
        failed_text(&episodes(&ctx).await).as_deref(),
        Some("refused: first")
    );

    let (ctx, thread) = context(&llm).await;
    let outcome = run_steps(&ctx, "", thread, with(&[&second, &first])).await;
    assert!(matches!(outcome, Err(Error::Handoff { agent, .. }) if agent == "billing"));
}

#[tokio::test]
async fn first_non_pass_wins_in_post_hooks() {
    let passes = Scripted::new(None, None);
    let hands_off = Scripted::new(None, handoff("billing"));
    let refuses = Scripted::new(None, refuse("late"));
    let llm = ScriptedLlm::new().then_text("the reply");
    let (ctx, thread) = context(&llm).await;
    let opts = with(&[&passes, &hands_off, &refuses]);
    let outcome = run_steps(&ctx, "", thread, opts).await;
    assert_eq!(
        outcome,
        Err(Error::Handoff {
            agent: "billing".into(),
            reason: "theirs".into()
        })
    );
    assert_eq!(llm.requests().len(), 1);
    assert_eq!(*passes.replies.lock().unwrap(), ["the reply"]);
    assert!(refuses.replies.lock().unwrap().is_empty());
    let log = episodes(&ctx).await;
    assert_eq!(
        failed_text(&log).as_deref(),
        Some("handoff to billing: theirs")
    );
}

#[tokio::test]
async fn hooks_run_around_every_cycle() {
    let watch = Scripted::new(None, None);
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![echo_call("c1")])
        .then_text("done");
    let (ctx, thread) = context(&llm).await;
    run_steps(&ctx, "", thread, with(&[&watch])).await.unwrap();
    assert_eq!(*watch.pre_calls.lock().unwrap(), 2);
    assert_eq!(*watch.replies.lock().unwrap(), ["", "done"]);
}

#[tokio::test]
async fn streamed_post_hook_sees_the_buffered_message_of_the_cycle() {
    let watch = Scripted::new(None, None);
    let llm = ScriptedLlm::new()
        .then_tool_calls(vec![echo_call("c1")])
        .then_chunks(text_chunks(&["Hel", "lo, ", "world"], None));
    let (ctx, thread) = context(&llm).await;
    let items = collect(start(&ctx, thread, with(&[&watch])).await).await;
    assert_eq!(text(&items), "Hello, world");
    assert_eq!(*watch.replies.lock().unwrap(), ["", "Hello, world"]);
    assert_eq!(*watch.pre_calls.lock().unwrap(), 2);
}

#[tokio::test]
async fn deny_keywords_end_to_end() {
    let deny = || RunOptions::default().add_guardrail(Arc::new(DenyKeywords::new(["password"])));
    // In the user's message: the model is never called.
    let llm = ScriptedLlm::new().then_text("never");
    let ctx = klieo_runtime::AgentContext::new(llm.clone());
    let (ctx, thread) = crate::support::with_user(ctx, "What is the admin PASSWORD?").await;
    let outcome = run_steps(&ctx, "", thread, deny()).await;
    assert!(matches!(outcome, Err(Error::Refused { reason }) if reason.contains("password")));
    assert!(llm.requests().is_empty());

    // In the model's reply, blocking and streamed.
    let llm = ScriptedLlm::new().then_text("It is Password123");
    let (ctx, thread) = context(&llm).await;
    let outcome = run_steps(&ctx, "", thread, deny()).await;
    assert!(matches!(outcome, Err(Error::Refused { reason }) if reason.contains("reply")));

    let llm = ScriptedLlm::new().then_chunks(text_chunks(&["pass", "word: x"], None));
    let (ctx, thread) = context(&llm).await;
    let items = collect(start(&ctx, thread, deny()).await).await;
    let expected = "refused: the model's reply contains the denied keyword `password`";
    assert!(matches!(
        ended(&terminal(&items), expected),
        Error::Refused { .. }
    ));

    // Clean text passes.
    let llm = ScriptedLlm::new().then_text("hello there");
    let (ctx, thread) = context(&llm).await;
    assert_eq!(
        run_steps(&ctx, "", thread, deny()).await,
        Ok("hello there".into())
    );
}

#[tokio::test]
async fn max_response_length_end_to_end() {
    let cap = |n| RunOptions::default().add_guardrail(Arc::new(MaxResponseLength::new(n)));
    let llm = ScriptedLlm::new().then_text("far too long");
    let (ctx, thread) = context(&llm).await;
    let outcome = run_steps(&ctx, "", thread, cap(5)).await;
    assert!(matches!(outcome, Err(Error::Refused { reason }) if reason.contains("12 characters")));

    // Characters, not bytes: five two-byte characters fit in five.
    let llm = ScriptedLlm::new().then_text("ééééé");
    let (ctx, thread) = context(&llm).await;
    assert_eq!(
        run_steps(&ctx, "", thread, cap(5)).await,
        Ok("ééééé".into())
    );

    let llm = ScriptedLlm::new().then_chunks(text_chunks(&["far ", "too long"], None));
    let (ctx, thread) = context(&llm).await;
    let items = collect(start(&ctx, thread, cap(5)).await).await;
    assert_eq!(
        text(&items),
        "far too long",
        "the text was relayed before the check"
    );
    assert!(
        matches!(terminal(&items), LlmError::Server { message, .. } if message.starts_with("refused: "))
    );
}

/// A hook that never answers (a moderation service that stalls).
struct Stalls {
    before: bool,
}

#[async_trait]
impl Guardrail for Stalls {
    fn name(&self) -> &str {
        "stalls"
    }
    async fn pre_llm(&self, _req: &ChatRequest) -> GuardrailOutcome {
        if self.before {
            std::future::pending::<()>().await;
        }
        GuardrailOutcome::Pass
    }
    async fn post_llm(&self, _req: &ChatRequest, _resp: &ChatResponse) -> GuardrailOutcome {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_stalled_hook_gives_way_to_a_cancel() {
    for before in [true, false] {
        let llm = ScriptedLlm::new().then_text("the reply");
        let (ctx, thread) = context(&llm).await;
        let opts = RunOptions::default().add_guardrail(Arc::new(Stalls { before }));
        let run = run_steps(&ctx, "", thread, opts);
        tokio::pin!(run);
        for _ in 0..100 {
            tokio::select! {
                biased;
                done = &mut run => panic!("the hook stalls: {done:?}"),
                () = tokio::task::yield_now() => {}
            }
        }
        ctx.cancel().cancel();
        // Paused time moves on when nothing else can: a run the cancel
        // does not end fails here rather than hanging the test.
        let ended = tokio::time::timeout(std::time::Duration::from_secs(3_600), run).await;
        assert_eq!(
            ended,
            Ok(Err(Error::Cancelled)),
            "before the call: {before}"
        );
        assert_eq!(llm.requests().len(), usize::from(!before));
    }
}

/// A verdict on a claim: its schema says "claim".
#[derive(Debug, serde::Deserialize, schemars::JsonSchema, PartialEq)]
struct Verdict {
    /// Whether the claim holds.
    holds: bool,
}

#[tokio::test]
async fn deny_keywords_does_not_refuse_the_runs_own_repair_prompt() {
    let llm = ScriptedLlm::new()
        .then_text("I think it holds.")
        .then_text(r#"{"holds": true}"#);
    let options = RunOptions::default().add_guardrail(Arc::new(DenyKeywords::new(["claim"])));
    let agent = klieo_runtime::Agent::builder(llm.clone())
        .with_options(options)
        .build()
        .unwrap();
    let typed = agent
        .run_typed::<Verdict>("Does it hold?")
        .await
        .expect("the repair's words are the run's, not the user's");
    assert_eq!(typed.value, Verdict { holds: true });
    let repaired = &llm.requests()[1];
    let asked = repaired.messages.last().unwrap();
    assert!(
        asked.content.contains("Whether the claim holds."),
        "{}",
        asked.content
    );
    // The user's own words are still checked.
    let refused = agent.run_typed::<Verdict>("Is the claim true?").await;
    assert!(matches!(refused, Err(Error::Refused { .. })), "{refused:?}");
}
