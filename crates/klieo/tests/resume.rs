//! Resuming runs whose process stopped, on a SQLite store. The "crash" is
//! the run's future dropped at a known point (a tool running, a model
//! call waiting), which leaves the store exactly as a killed process
//! would; the resume uses a fresh store handle, model and tools, as
//! another process would.

#[path = "resume/leases.rs"]
mod leases;
#[path = "resume/support.rs"]
mod support;

use klieo::prelude::*;
use klieo::types::testing::ScriptedLlm;
use klieo::types::{EpisodicMemory, Journal, ShortTermMemory, ToolOutcome};
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use support::{kinds, open, Counted, Told};
use tokio::sync::Notify;

#[tokio::test]
async fn a_run_stopped_while_its_tools_ran_settles_them_and_goes_on() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("agent.db");
    let (mails, lookups) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let started = Arc::new(Notify::new());
    let calls = vec![
        ToolCall::new("c1", "send_mail", json!({})),
        ToolCall::new("c2", "lookup", json!({})),
    ];
    let run_id = {
        let agent = Agent::builder(ScriptedLlm::new().then_tool_calls(calls.clone()))
            .with_tool(Counted::new("send_mail", false, &mails).hanging(&started))
            .with_tool(Counted::new("lookup", true, &lookups).hanging(&started))
            .with_memory(open(&path).await)
            .with_options(
                RunOptions::default()
                    .with_tool_concurrency(1)
                    // A killed process's lease would keep others out until it
                    // ran out; leases have their own test below.
                    .with_lease_ttl(None),
            )
            .build()
            .expect("the options are valid");
        let chat = agent.session("t");
        let run = chat.run("mail Ada");
        let ended = tokio::select! {
            answer = run => Some(answer),
            () = started.notified() => None,
        };
        assert!(
            ended.is_none(),
            "the run cannot end while its tool hangs: {ended:?}"
        );
        // The process dies here, with send_mail running.
        let store = open(&path).await;
        let runs = store.list_runs().await.expect("list");
        assert_eq!(runs.len(), 1);
        runs[0]
    };
    assert_eq!(
        (mails.load(Ordering::SeqCst), lookups.load(Ordering::SeqCst)),
        (1, 0)
    );

    // Another process: the same store, a model that answers.
    let llm = ScriptedLlm::new().then_text("Sent? Unknown; looked up.");
    let agent = Agent::builder(llm.clone())
        .with_tool(Counted::new("send_mail", false, &mails))
        .with_tool(Counted::new("lookup", true, &lookups))
        .with_memory(open(&path).await)
        .build()
        .expect("the options are valid");
    let answer = agent.resume(run_id).await.expect("the run resumes");
    assert_eq!(answer.text, "Sent? Unknown; looked up.");
    assert_eq!(
        (mails.load(Ordering::SeqCst), lookups.load(Ordering::SeqCst)),
        (1, 1),
        "the mail was not sent again; the idempotent lookup ran once"
    );

    let store = open(&path).await;
    let log = store.replay(run_id).await.expect("replay");
    assert_eq!(
        kinds(&log),
        [
            "started",
            "llm_call",
            "resumed",
            "tool_call:interrupted",
            "tool_call:ok",
            "llm_call",
            "completed"
        ]
    );
    assert!(matches!(log[2], Episode::Resumed { steps: 1 }));
    assert_eq!(store.pending(run_id).await.expect("pending"), None);
    let thread = store
        .load(&ThreadId::new("t"), 100_000)
        .await
        .expect("load");
    let roles: Vec<Role> = thread.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::Tool,
            Role::Assistant
        ],
        "nothing the user said is lost, every call has a result"
    );
    let told = &llm.requests()[0];
    let interrupted = told
        .messages
        .iter()
        .find(|m| m.tool_call_id.as_deref() == Some("c1"))
        .expect("the model saw send_mail's result");
    assert!(
        interrupted
            .content
            .contains("whether it had its effect is unknown"),
        "{}",
        interrupted.content
    );
    assert!(matches!(
        log[3],
        Episode::ToolCall {
            result: ToolOutcome::Interrupted,
            ..
        }
    ));
}

#[tokio::test]
async fn a_run_stopped_while_the_model_thought_does_not_run_its_tools_again() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("agent.db");
    let mails = Arc::new(AtomicUsize::new(0));
    let called = Arc::new(Notify::new());
    let llm = Told {
        inner: ScriptedLlm::new()
            .then_tool_calls(vec![ToolCall::new("c1", "send_mail", json!({}))])
            .then_stall(),
        called: Arc::clone(&called),
    };
    let agent = Agent::builder(llm)
        .with_tool(Counted::new("send_mail", false, &mails))
        .with_memory(open(&path).await)
        .with_options(RunOptions::default().with_lease_ttl(None))
        .build()
        .expect("the options are valid");
    let chat = agent.session("t");
    let mut run = Box::pin(chat.run("mail Ada"));
    for _ in 0..2 {
        let ended = tokio::select! {
            answer = &mut run => Some(answer),
            () = called.notified() => None,
        };
        assert!(
            ended.is_none(),
            "the second model call never answers: {ended:?}"
        );
    }
    drop(run); // the process dies during the second model call
    let store = open(&path).await;
    let run_id = store.list_runs().await.expect("list")[0];

    let agent = Agent::builder(ScriptedLlm::new().then_text("Sent."))
        .with_tool(Counted::new("send_mail", false, &mails))
        .with_memory(open(&path).await)
        .build()
        .expect("the options are valid");
    let answer = agent.resume(run_id).await.expect("resumes");
    assert_eq!(answer.text, "Sent.");
    assert_eq!(
        mails.load(Ordering::SeqCst),
        1,
        "the recorded result is not re-run"
    );
    let log = store.replay(run_id).await.expect("replay");
    assert_eq!(
        kinds(&log),
        [
            "started",
            "llm_call",
            "tool_call:ok",
            "resumed",
            "llm_call",
            "completed"
        ]
    );
    assert!(matches!(log[3], Episode::Resumed { steps: 1 }));

    // A run that answered is over, and resuming it writes nothing.
    let again = agent.resume(run_id).await.expect_err("it completed");
    assert!(again.to_string().contains("already completed"), "{again}");
    assert_eq!(store.replay(run_id).await.expect("replay").len(), log.len());
}

#[tokio::test]
async fn runs_that_cannot_be_resumed_say_why() {
    let in_memory = Agent::builder(ScriptedLlm::new())
        .build()
        .expect("the options are valid");
    let error = in_memory
        .resume(RunId::new())
        .await
        .expect_err("no journal");
    assert!(matches!(error, Error::NotResumable { .. }), "{error:?}");
    assert!(error.to_string().contains("with_memory"), "{error}");

    let dir = tempfile::tempdir().expect("a temporary directory");
    let agent = Agent::builder(ScriptedLlm::new())
        .with_memory(open(&dir.path().join("a.db")).await)
        .build()
        .expect("the options are valid");
    let error = agent.resume(RunId::new()).await.expect_err("unknown run");
    assert!(error.to_string().contains("no record"), "{error}");

    let failing = Agent::builder(ScriptedLlm::new().then_error(LlmError::unauthorized("bad key")))
        .with_memory(open(&dir.path().join("b.db")).await)
        .build()
        .expect("the options are valid");
    failing.session("t").run("hi").await.expect_err("fails");
    let store = open(&dir.path().join("b.db")).await;
    let run = store.list_runs().await.expect("list")[0];
    let error = failing.resume(run).await.expect_err("ended");
    assert!(error.to_string().contains("already ended"), "{error}");
}

#[tokio::test]
async fn a_run_that_fails_while_its_tools_run_keeps_their_intent() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("agent.db");
    let mails = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(Notify::new());
    let call = ToolCall::new("c1", "send_mail", json!({}));
    let agent = Agent::builder(ScriptedLlm::new().then_tool_calls(vec![call]))
        .with_tool(Counted::new("send_mail", false, &mails).hanging(&started))
        .with_memory(open(&path).await)
        .build()
        .expect("the options are valid");
    let mut events = agent.session("t").stream("mail Ada");
    let ended = tokio::select! {
        event = async { while let Some(e) = events.next().await { if e.is_err() { return Some(e) } } None } => event.map(|e| e.is_err()),
        () = started.notified() => None,
    };
    assert!(ended.is_none(), "the tool hangs: {ended:?}");
    // The consumer goes away while send_mail runs: the run fails...
    drop(events);
    let store = open(&path).await;
    let run = store.list_runs().await.expect("list")[0];
    for _ in 0..1_000 {
        if store.replay(run).await.expect("replay").len() > 2 {
            break;
        }
        tokio::task::yield_now().await;
    }
    let log = store.replay(run).await.expect("replay");
    assert_eq!(log.last().map(Episode::kind), Some("failed"), "{log:?}");
    // ...and its log still says a mail may have gone.
    let pending = store.pending(run).await.expect("pending").expect("kept");
    assert_eq!(pending.reply.tool_calls[0].name, "send_mail");
}

/// Waits (up to 10 s) for the store's one run to log a result of `call_id`,
/// and returns the run.
async fn result_logged(path: &Path, call_id: &str) -> RunId {
    let store = open(path).await;
    let look = async {
        loop {
            if let Some(&id) = store.list_runs().await.expect("list").first() {
                let log = store.replay(id).await.expect("replay");
                let logged =
                    |e: &Episode| matches!(e, Episode::ToolCall { call_id: c, .. } if c == call_id);
                if log.iter().any(logged) {
                    return id;
                }
            }
            tokio::task::yield_now().await;
        }
    };
    let waited = tokio::time::timeout(std::time::Duration::from_secs(10), look).await;
    waited.expect("the result is written while the other call runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_written_before_the_crash_is_kept_and_not_run_again() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("agent.db");
    let (charges, mails) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let started = Arc::new(Notify::new());
    let calls = vec![
        ToolCall::new("c1", "charge", json!({})),
        ToolCall::new("c2", "send_mail", json!({})),
    ];
    let agent = Agent::builder(ScriptedLlm::new().then_tool_calls(calls))
        .with_tool(Counted::new("charge", false, &charges))
        .with_tool(Counted::new("send_mail", false, &mails).hanging(&started))
        .with_memory(open(&path).await)
        .with_options(RunOptions::default().with_lease_ttl(None))
        .build()
        .expect("the options are valid");
    let chat = agent.session("t");
    let mut run = Box::pin(chat.run("charge Ada, then mail her"));
    // The charge is done and written while send_mail hangs...
    let run_id = tokio::select! {
        ended = &mut run => panic!("the run cannot end while send_mail hangs: {ended:?}"),
        id = result_logged(&path, "c1") => id,
    };
    // ...and the process dies.
    drop(run);

    let llm = ScriptedLlm::new().then_text("Charged; the mail is unknown.");
    let agent = Agent::builder(llm.clone())
        .with_tool(Counted::new("charge", false, &charges))
        .with_tool(Counted::new("send_mail", false, &mails))
        .with_memory(open(&path).await)
        .build()
        .expect("the options are valid");
    agent.resume(run_id).await.expect("the run resumes");
    assert_eq!(
        (charges.load(Ordering::SeqCst), mails.load(Ordering::SeqCst)),
        (1, 1),
        "neither call ran again"
    );
    let log = open(&path).await.replay(run_id).await.expect("replay");
    assert_eq!(
        kinds(&log),
        [
            "started",
            "llm_call",
            "tool_call:ok",
            "resumed",
            "tool_call:interrupted",
            "llm_call",
            "completed"
        ]
    );
    // The model reads the charge's real result, not "interrupted".
    let asked = llm.requests();
    let results: Vec<&str> = asked[0]
        .messages
        .iter()
        .filter(|m| m.role == Role::Tool)
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(results[0], r#"{"call":"c1"}"#);
    assert!(
        results[1].starts_with("error: the run was interrupted"),
        "{results:?}"
    );
}
