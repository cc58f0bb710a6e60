//! The in-memory memories: token budgets, tool-result boundaries, sharing
//! between concurrent runs, and child contexts.

use crate::support::{echo_call, echo_tools, episodes, kinds, with_user};
use klieo_runtime::{run_steps, AgentContext, InMemoryEpisodic, InMemoryShortTerm, RunOptions};
use klieo_store::testing::memory;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Episode, EpisodicMemory, Message, Role, RunId, ShortTermMemory, ThreadId};
use std::sync::Arc;

fn contents(messages: impl IntoIterator<Item = Message>) -> Vec<String> {
    messages.into_iter().map(|m| m.content).collect()
}

mod in_memory_short_term_like_every_memory {
    klieo_store::testing::memory::short_term_suite!(Box::new(
        klieo_runtime::InMemoryShortTerm::new()
    ));
}

mod in_memory_episodic_like_every_memory {
    klieo_store::testing::memory::episodic_suite!(Box::new(klieo_runtime::InMemoryEpisodic::new()));
}

#[tokio::test]
async fn in_memory_short_term_takes_concurrent_appends_in_order() {
    let shared = InMemoryShortTerm::new();
    memory::concurrent_appends(&[&shared, &shared]).await;
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
            ctx.short_term()
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
            ctx.run_id()
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
    assert_ne!(child.run_id(), parent.run_id());
    assert!(child.run_id() > parent.run_id(), "later ids sort later");
    assert_eq!(child.agent_name(), "helper");
    assert!(std::ptr::addr_eq(child.short_term(), parent.short_term()));
    assert!(std::ptr::addr_eq(child.episodic(), parent.episodic()));
    assert!(Arc::ptr_eq(child.llm(), parent.llm()));

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
    child.cancel().cancel();
    assert!(!parent.cancel().is_cancelled());
    assert!(!second.cancel().is_cancelled());
    parent.cancel().cancel();
    assert!(second.cancel().is_cancelled());
    assert!(parent.child("late").cancel().is_cancelled());
}

#[tokio::test]
async fn requests_carry_the_system_prompt_and_the_history_within_budget() {
    let llm = ScriptedLlm::new().then_text("ok");
    let ctx = AgentContext::new(llm.clone());
    let thread = ThreadId::new("long");
    let old: Vec<Message> = (0..50)
        .map(|i| Message::user(format!("message{i}")))
        .collect();
    ctx.short_term().append(&thread, old).await.unwrap();
    let opts = RunOptions::default()
        .with_max_history_tokens(24)
        // three messages of 8 estimated tokens (seven letters, two digits)
        .with_temperature(Some(0.25))
        .with_max_tokens(Some(64));
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
    let stored = ctx.short_term().load(&thread, usize::MAX).await.unwrap();
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
