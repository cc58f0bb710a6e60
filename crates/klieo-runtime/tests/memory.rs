//! The in-memory memories: token budgets, tool-result boundaries, sharing
//! between concurrent runs, and child contexts.

use crate::support::{echo_call, echo_tools, episodes, kinds, with_user};
use klieo_runtime::{run_steps, AgentContext, InMemoryEpisodic, InMemoryShortTerm, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    Episode, EpisodicMemory, Message, Role, RunId, ShortTermMemory, ThreadId, ToolCall,
};
use serde_json::json;
use std::sync::Arc;

fn contents(messages: impl IntoIterator<Item = Message>) -> Vec<String> {
    messages.into_iter().map(|m| m.content).collect()
}

#[tokio::test]
async fn load_honours_token_budget_newest_first() {
    let memory = InMemoryShortTerm::new();
    let thread = ThreadId::new("t");
    // Eight bytes of text each: 4 + 2 = 6 estimated tokens per message.
    let messages: Vec<Message> = (0..10)
        .map(|i| Message::user(format!("message{i}")))
        .collect();
    assert_eq!(messages[0].estimated_tokens(), 6);
    memory.append(&thread, messages.clone()).await.unwrap();

    let load = |budget| {
        let (memory, thread) = (&memory, &thread);
        async move { contents(memory.load(thread, budget).await.unwrap().to_vec()) }
    };
    assert_eq!(load(18).await, ["message7", "message8", "message9"]);
    assert_eq!(load(17).await, ["message8", "message9"]);
    assert_eq!(load(6).await, ["message9"]);
    assert!(load(5).await.is_empty(), "even the newest is over budget");
    assert_eq!(load(1_000).await, contents(messages));
    assert!(memory
        .load(&ThreadId::new("unknown"), 1_000)
        .await
        .unwrap()
        .is_empty());

    memory.clear(&thread).await.unwrap();
    assert!(load(1_000).await.is_empty());
}

#[tokio::test]
async fn load_never_starts_with_orphaned_tool_result() {
    let memory = InMemoryShortTerm::new();
    let thread = ThreadId::new("t");
    let calls = vec![
        ToolCall::new("c1", "echo", json!({"n": 1})),
        ToolCall::new("c2", "echo", json!({"n": 2})),
    ];
    let thread_messages = vec![
        Message::user("question"),
        Message::assistant_tool_calls("", calls),
        Message::tool_result("c1", "first result"),
        Message::tool_result("c2", "second result"),
        Message::assistant("the answer"),
    ];
    memory
        .append(&thread, thread_messages.clone())
        .await
        .unwrap();
    let total: usize = thread_messages.iter().map(Message::estimated_tokens).sum();
    for budget in 0..=total + 1 {
        let window = memory.load(&thread, budget).await.unwrap().to_vec();
        if let Some(first) = window.first() {
            assert_ne!(first.role, Role::Tool, "budget {budget}: {window:?}");
        }
        let tail = &thread_messages[thread_messages.len() - window.len()..];
        assert_eq!(window, tail, "budget {budget}: a suffix of the thread");
        let used: usize = window.iter().map(Message::estimated_tokens).sum();
        assert!(used <= budget, "budget {budget}, used {used}");
    }
    // The budget that would start at the second result drops both results.
    let from_second: usize = thread_messages[3..]
        .iter()
        .map(Message::estimated_tokens)
        .sum();
    let window = memory.load(&thread, from_second).await.unwrap().to_vec();
    assert_eq!(contents(window), ["the answer"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_share_memories_correctly() {
    const TASKS: usize = 32;
    const SHARED_PER_TASK: usize = 10;
    let short_term: Arc<dyn ShortTermMemory> = Arc::new(InMemoryShortTerm::new());
    let episodic: Arc<dyn EpisodicMemory> = Arc::new(InMemoryEpisodic::new());
    let shared = ThreadId::new("shared");

    let mut handles = Vec::new();
    for task in 0..TASKS {
        let (short_term, episodic, shared) = (short_term.clone(), episodic.clone(), shared.clone());
        handles.push(tokio::spawn(async move {
            let llm = ScriptedLlm::new()
                .then_tool_calls(vec![echo_call(&format!("c{task}"))])
                .then_text(format!("answer {task}"));
            let ctx = AgentContext::new(llm)
                .with_tools(echo_tools())
                .with_short_term(short_term.clone())
                .with_episodic(episodic);
            let own = ThreadId::new(format!("t{task}"));
            ctx.short_term
                .append(&own, vec![Message::user(format!("question {task}"))])
                .await
                .unwrap();
            for k in 0..SHARED_PER_TASK {
                let note = Message::user(format!("{task}:{k}"));
                short_term.append(&shared, vec![note]).await.unwrap();
                tokio::task::yield_now().await;
            }
            let answer = run_steps(&ctx, "", own, RunOptions::default()).await;
            assert_eq!(answer, Ok(format!("answer {task}")));
            ctx.run_id
        }));
    }
    let mut run_ids: Vec<RunId> = Vec::new();
    for handle in handles {
        run_ids.push(handle.await.unwrap());
    }

    for task in 0..TASKS {
        let own = short_term
            .load(&ThreadId::new(format!("t{task}")), 100_000)
            .await
            .unwrap();
        let roles: Vec<Role> = own.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [Role::User, Role::Assistant, Role::Tool, Role::Assistant]
        );
        assert_eq!(
            own.get(0).map(|m| m.content.clone()),
            Some(format!("question {task}"))
        );
        assert_eq!(
            own.get(3).map(|m| m.content.clone()),
            Some(format!("answer {task}"))
        );
    }

    let notes = contents(short_term.load(&shared, usize::MAX).await.unwrap().to_vec());
    assert_eq!(notes.len(), TASKS * SHARED_PER_TASK);
    for task in 0..TASKS {
        let prefix = format!("{task}:");
        let mine: Vec<&String> = notes.iter().filter(|n| n.starts_with(&prefix)).collect();
        let expected: Vec<String> = (0..SHARED_PER_TASK)
            .map(|k| format!("{task}:{k}"))
            .collect();
        assert_eq!(
            mine,
            expected.iter().collect::<Vec<_>>(),
            "task {task} keeps its order"
        );
    }

    let mut sorted = run_ids.clone();
    sorted.sort();
    assert_eq!(episodic.list_runs().await.unwrap(), sorted);
    for id in run_ids {
        let log = episodic.replay(id).await.unwrap();
        assert_eq!(
            kinds(&log),
            ["started", "llm_call", "tool_call", "llm_call", "completed"]
        );
    }
}

#[tokio::test]
async fn child_context_has_fresh_run_id_and_child_cancel() {
    let llm = ScriptedLlm::new().then_text("from the child");
    let parent = AgentContext::new(llm).with_agent_name("parent");
    let child = parent.child("helper");
    assert_ne!(child.run_id, parent.run_id);
    assert!(child.run_id > parent.run_id, "later ids sort later");
    assert_eq!(&*child.agent_name, "helper");
    assert!(Arc::ptr_eq(&child.short_term, &parent.short_term));
    assert!(Arc::ptr_eq(&child.episodic, &parent.episodic));
    assert!(Arc::ptr_eq(&child.llm, &parent.llm));

    // The child's run is filed under its own id, in the shared log.
    let (child, thread) = with_user(child, "hi").await;
    run_steps(&child, "", thread, RunOptions::default())
        .await
        .unwrap();
    assert_eq!(
        episodes(&child).await.first(),
        Some(&Episode::Started {
            agent: "helper".into()
        })
    );
    assert!(episodes(&parent).await.is_empty());

    // Cancelling a child leaves the parent; cancelling the parent reaches
    // every child.
    let second = parent.child("second");
    child.cancel.cancel();
    assert!(!parent.cancel.is_cancelled());
    assert!(!second.cancel.is_cancelled());
    parent.cancel.cancel();
    assert!(second.cancel.is_cancelled());
    assert!(parent.child("late").cancel.is_cancelled());
}

#[tokio::test]
async fn requests_carry_the_system_prompt_and_the_history_within_budget() {
    let llm = ScriptedLlm::new().then_text("ok");
    let ctx = AgentContext::new(llm.clone());
    let thread = ThreadId::new("long");
    let old: Vec<Message> = (0..50)
        .map(|i| Message::user(format!("message{i}")))
        .collect();
    ctx.short_term.append(&thread, old).await.unwrap();
    let opts = RunOptions {
        max_history_tokens: 21, // three messages of 7 estimated tokens
        temperature: Some(0.25),
        max_tokens: Some(64),
        ..RunOptions::default()
    };
    run_steps(&ctx, "Be brief.", thread.clone(), opts)
        .await
        .unwrap();

    let req = &llm.requests()[0];
    assert_eq!(
        contents(req.messages.to_vec()),
        ["Be brief.", "message47", "message48", "message49"],
        "the system prompt, then the newest history that fits"
    );
    assert_eq!(req.messages.get(0).map(|m| m.role), Some(Role::System));
    assert_eq!((req.temperature, req.max_tokens), (Some(0.25), Some(64)));
    let stored = ctx.short_term.load(&thread, usize::MAX).await.unwrap();
    assert_eq!(
        stored.len(),
        51,
        "the whole thread stays stored, the answer added"
    );

    // No system prompt: no system message.
    let llm = ScriptedLlm::new().then_text("ok");
    let (ctx, thread) = with_user(AgentContext::new(llm.clone()), "hi").await;
    run_steps(&ctx, "", thread, RunOptions::default())
        .await
        .unwrap();
    let roles: Vec<Role> = llm.requests()[0].messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User]);
}
