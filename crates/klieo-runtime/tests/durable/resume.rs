//! Resuming runs whose process stopped: calls that may have had their
//! effect are not run again, recorded results are kept, and runs that
//! cannot be resumed say why.

use super::store::{fresh, Store};
use super::support::{count, outcomes, Counted, Told};
use klieo_runtime::{Agent, RunOptions};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{
    Episode, EpisodicMemory, Error, Journal, LlmError, Role, RunId, ShortTermMemory, ThreadId,
    ToolCall, ToolOutcome,
};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// A killed process's lease would keep others out until it ran out;
/// leases have tests of their own.
pub(super) fn no_lease() -> RunOptions {
    RunOptions::default().with_lease_ttl(None)
}

/// The store's one run.
pub(super) async fn only_run(store: &Store) -> RunId {
    let runs = store.list_runs().await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0]
}

#[tokio::test]
async fn a_run_stopped_while_its_tools_ran_settles_them_and_goes_on() {
    let (_dir, store) = fresh().await;
    let (mails, lookups) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let started = Arc::new(Notify::new());
    let calls = vec![
        ToolCall::new("c1", "send_mail", json!({})),
        ToolCall::new("c2", "lookup", json!({})),
    ];
    {
        let agent = Agent::builder(ScriptedLlm::new().then_tool_calls(calls))
            .add_tool(Counted::new("send_mail", false, &mails).hanging(&started))
            .add_tool(Counted::new("lookup", true, &lookups).hanging(&started))
            .with_memory(store.clone())
            .with_options(no_lease().with_tool_concurrency(1))
            .build()
            .expect("the options are valid");
        let chat = agent.session("t");
        let ended = tokio::select! {
            answer = chat.run("mail Ada") => Some(answer),
            () = started.notified() => None,
        };
        assert!(ended.is_none(), "the run cannot end while its tool hangs");
        // The process dies here, with send_mail running.
    }
    let run_id = only_run(&store).await;
    assert_eq!((count(&mails), count(&lookups)), (1, 0));

    // Another process: the same store, a model that answers.
    let llm = ScriptedLlm::new().then_text("Sent? Unknown; looked up.");
    let agent = Agent::builder(llm.clone())
        .add_tool(Counted::new("send_mail", false, &mails))
        .add_tool(Counted::new("lookup", true, &lookups))
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    let answer = agent.resume(run_id).await.unwrap();
    assert_eq!(answer.text, "Sent? Unknown; looked up.");
    assert_eq!(
        (count(&mails), count(&lookups)),
        (1, 1),
        "the mail was not sent again; the idempotent lookup ran once"
    );

    let log = store.replay(run_id).await.unwrap();
    assert_eq!(
        outcomes(&log),
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
    assert!(matches!(
        log[3],
        Episode::ToolCall {
            result: ToolOutcome::Interrupted,
            ..
        }
    ));
    assert_eq!(store.pending(run_id).await.unwrap(), None);
    let thread = store.load(&ThreadId::new("t"), 100_000).await.unwrap();
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
}

#[tokio::test]
async fn a_run_stopped_while_the_model_thought_does_not_run_its_tools_again() {
    let (_dir, store) = fresh().await;
    let mails = Arc::new(AtomicUsize::new(0));
    let called = Arc::new(Notify::new());
    let script = ScriptedLlm::new()
        .then_tool_calls(vec![ToolCall::new("c1", "send_mail", json!({}))])
        .then_stall();
    let llm = Told {
        inner: script.clone(),
        called: Arc::clone(&called),
    };
    let agent = Agent::builder(llm)
        .add_tool(Counted::new("send_mail", false, &mails))
        .with_memory(store.clone())
        .with_options(no_lease())
        .build()
        .expect("the options are valid");
    let chat = agent.session("t");
    let mut run = Box::pin(chat.run("mail Ada"));
    // With nothing but memory between them, both calls may start within
    // one poll of the run (and leave one notification): count them.
    while script.requests().len() < 2 {
        let ended = tokio::select! {
            answer = &mut run => Some(answer),
            () = called.notified() => None,
        };
        assert!(ended.is_none(), "the second model call never answers");
    }
    drop(run); // the process dies during the second model call
    let run_id = only_run(&store).await;

    let agent = Agent::builder(ScriptedLlm::new().then_text("Sent."))
        .add_tool(Counted::new("send_mail", false, &mails))
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    let answer = agent.resume(run_id).await.unwrap();
    assert_eq!(answer.text, "Sent.");
    assert_eq!(count(&mails), 1, "the recorded result is not re-run");
    let log = store.replay(run_id).await.unwrap();
    assert_eq!(
        outcomes(&log),
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
    assert_eq!(store.replay(run_id).await.unwrap().len(), log.len());
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

    let (_empty_dir, empty) = fresh().await;
    let agent = Agent::builder(ScriptedLlm::new())
        .with_memory(empty)
        .build()
        .expect("the options are valid");
    let error = agent.resume(RunId::new()).await.expect_err("unknown run");
    assert!(error.to_string().contains("no record"), "{error}");

    let (_dir, store) = fresh().await;
    let failing = Agent::builder(ScriptedLlm::new().then_error(LlmError::unauthorized("bad key")))
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    failing.session("t").run("hi").await.expect_err("fails");
    let run = only_run(&store).await;
    let error = failing.resume(run).await.expect_err("ended");
    assert!(error.to_string().contains("already ended"), "{error}");
}

#[tokio::test]
async fn a_run_that_fails_while_its_tools_run_keeps_their_intent() {
    let (_dir, store) = fresh().await;
    let mails = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(Notify::new());
    let call = ToolCall::new("c1", "send_mail", json!({}));
    let agent = Agent::builder(ScriptedLlm::new().then_tool_calls(vec![call]))
        .add_tool(Counted::new("send_mail", false, &mails).hanging(&started))
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    let mut events = agent.session("t").stream("mail Ada");
    let ended = tokio::select! {
        failed = async {
            while let Some(event) = events.next().await {
                if event.is_err() {
                    return true;
                }
            }
            false
        } => Some(failed),
        () = started.notified() => None,
    };
    assert!(ended.is_none(), "the tool hangs: {ended:?}");
    // The consumer goes away while send_mail runs: the run fails...
    drop(events);
    let run = only_run(&store).await;
    // The failure is written by a task the drop spawned, through the
    // store's writer thread: looked for until it is in, within a bound.
    let mut look = tokio::time::interval(std::time::Duration::from_millis(1));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while tokio::time::Instant::now() < deadline {
        if store.replay(run).await.unwrap().len() > 2 {
            break;
        }
        look.tick().await;
    }
    let log = store.replay(run).await.unwrap();
    assert_eq!(log.last().map(Episode::kind), Some("failed"), "{log:?}");
    // ...and its log still says a mail may have gone.
    let pending = store.pending(run).await.unwrap().expect("kept");
    assert_eq!(pending.reply.tool_calls[0].name, "send_mail".into());
}

#[tokio::test]
async fn a_result_written_before_the_crash_is_kept_and_not_run_again() {
    let (_dir, store) = fresh().await;
    let (charges, mails) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let started = Arc::new(Notify::new());
    let calls = vec![
        ToolCall::new("c1", "charge", json!({})),
        ToolCall::new("c2", "send_mail", json!({})),
    ];
    let agent = Agent::builder(ScriptedLlm::new().then_tool_calls(calls))
        .add_tool(Counted::new("charge", false, &charges))
        .add_tool(Counted::new("send_mail", false, &mails).hanging(&started))
        .with_memory(store.clone())
        .with_options(no_lease())
        .build()
        .expect("the options are valid");
    let chat = agent.session("t");
    let mut run = Box::pin(chat.run("charge Ada, then mail her"));
    // The charge is done and written while send_mail hangs...
    let charged = |log: &[Episode]| {
        log.iter()
            .any(|e| matches!(e, Episode::ToolCall { call_id, .. } if call_id.as_ref() == "c1"))
    };
    let run_id = tokio::select! {
        ended = &mut run => panic!("the run cannot end while send_mail hangs: {ended:?}"),
        id = async {
            started.notified().await;
            // Written through the store's writer thread: looked for until
            // it is in, within a bound.
            let mut look = tokio::time::interval(std::time::Duration::from_millis(1));
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
            while tokio::time::Instant::now() < deadline {
                if let Some(&id) = store.list_runs().await.unwrap().first() {
                    if charged(&store.replay(id).await.unwrap()) {
                        return id;
                    }
                }
                look.tick().await;
            }
            panic!("the charge's result was never written while send_mail ran");
        } => id,
    };
    // ...and the process dies.
    drop(run);

    let llm = ScriptedLlm::new().then_text("Charged; the mail is unknown.");
    let agent = Agent::builder(llm.clone())
        .add_tool(Counted::new("charge", false, &charges))
        .add_tool(Counted::new("send_mail", false, &mails))
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    agent.resume(run_id).await.unwrap();
    assert_eq!(
        (charges.load(Ordering::SeqCst), count(&mails)),
        (1, 1),
        "neither call ran again"
    );
    let log = store.replay(run_id).await.unwrap();
    assert_eq!(
        outcomes(&log),
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
