//! What a reply's client says came before it: the providers a fallback
//! passed over (each switch an episode written with the step's `LlmCall`
//! and before it, a `RunEvent` before the step's `StepFinished`, and the
//! chat span names the provider that answered, blocking or streamed), and
//! how long a rate limit held the call back.

use crate::tracing_spans::capture::captured;
use klieo_runtime::{Agent, RunEvent};
use klieo_store::InMemoryJournal;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    ChatResponse, Episode, EpisodicMemory, FinishReason, Message, ProviderSwitch, RateWait,
    ReplyInfo,
};
use std::time::Duration;

/// An answer from `backup`, after `primary` and `spare` were passed over.
fn switched_reply() -> ChatResponse {
    let mut info = ReplyInfo::new(None, None);
    info.provider = Some("backup".into());
    info.switches = vec![
        ProviderSwitch::new("primary", "spare", "the model server failed (HTTP 503)"),
        ProviderSwitch::new("spare", "backup", "could not reach the model server"),
    ];
    ChatResponse::new(Message::assistant("hello"), FinishReason::Stop).with_info(info)
}

fn agent(store: &InMemoryJournal) -> Agent {
    let llm = ScriptedLlm::new().then_reply(switched_reply());
    Agent::builder(llm)
        .with_memory(store.clone())
        .build()
        .unwrap()
}

/// The log's kinds and switches of the one run in `store`.
async fn logged(store: &InMemoryJournal) -> (Vec<&'static str>, Vec<(String, String)>) {
    let runs = store.list_runs().await.unwrap();
    let log = store.replay(runs[0]).await.unwrap();
    let kinds = log.iter().map(Episode::kind).collect();
    let switches = log
        .iter()
        .filter_map(|e| match e {
            Episode::ProviderSwitched { step, from, to, .. } => {
                assert_eq!(*step, 1);
                Some((from.clone(), to.clone()))
            }
            _ => None,
        })
        .collect();
    (kinds, switches)
}

const KINDS: [&str; 5] = [
    "started",
    "provider_switched",
    "provider_switched",
    "llm_call",
    "completed",
];

fn pairs() -> Vec<(String, String)> {
    vec![
        ("primary".into(), "spare".into()),
        ("spare".into(), "backup".into()),
    ]
}

#[tokio::test]
async fn a_blocking_run_logs_each_provider_switch_before_its_call() {
    let store = InMemoryJournal::new();
    let answer = agent(&store).session("t").run("hi").await.unwrap();
    assert_eq!(answer.text, "hello");
    let (kinds, switches) = logged(&store).await;
    assert_eq!(kinds, KINDS);
    assert_eq!(switches, pairs());
}

#[tokio::test]
async fn a_streamed_run_hands_out_each_switch_before_its_step_ends() {
    let store = InMemoryJournal::new();
    let agent = agent(&store);
    let mut events = agent.session("t").stream("hi");
    let mut seen = Vec::new();
    while let Some(event) = events.next().await {
        match event.unwrap() {
            RunEvent::ProviderSwitched { step, switch } => {
                assert_eq!(step, 1);
                seen.push(format!("switch {} → {}", switch.from, switch.to));
            }
            RunEvent::StepFinished { .. } => seen.push("step".into()),
            _ => {}
        }
    }
    assert_eq!(
        seen,
        ["switch primary → spare", "switch spare → backup", "step"]
    );
    let (kinds, switches) = logged(&store).await;
    assert_eq!(kinds, KINDS);
    assert_eq!(switches, pairs());
}

#[test]
fn the_chat_span_names_the_provider_that_answered_and_those_passed_over() {
    let ((), captured) = captured(|| async {
        let store = InMemoryJournal::new();
        agent(&store).session("t").run("hi").await.unwrap();
    });
    let chat = captured.named("chat");
    assert_eq!(chat.len(), 1);
    assert_eq!(chat[0].get("gen_ai.provider.name"), Some("backup"));
    assert_eq!(
        chat[0].get("klieo.provider.passed_over"),
        Some("primary, spare")
    );
}

#[tokio::test]
async fn a_wait_for_a_rate_limit_is_logged_and_told_before_the_call() {
    let mut info = ReplyInfo::new(None, None);
    info.rate_wait = Some(RateWait::new("openai/gpt-4o", Duration::from_millis(1_500)));
    let reply = ChatResponse::new(Message::assistant("hello"), FinishReason::Stop).with_info(info);
    let store = InMemoryJournal::new();
    let agent = Agent::builder(ScriptedLlm::new().then_reply(reply))
        .with_memory(store.clone())
        .build()
        .unwrap();
    let mut events = agent.session("t").stream("hi");
    let mut waits = Vec::new();
    while let Some(event) = events.next().await {
        if let RunEvent::RateLimitWaited { step, wait } = event.unwrap() {
            waits.push((step, wait.scope, wait.waited));
        }
    }
    assert_eq!(
        waits,
        [(1, "openai/gpt-4o".to_owned(), Duration::from_millis(1_500))]
    );
    let run = store.list_runs().await.unwrap()[0];
    let log = store.replay(run).await.unwrap();
    assert!(
        matches!(
            &log[1],
            Episode::RateLimited { step: 1, scope, waited_ms: 1_500 } if scope == "openai/gpt-4o"
        ),
        "{log:?}"
    );
    assert_eq!(log[2].kind(), "llm_call");
}
