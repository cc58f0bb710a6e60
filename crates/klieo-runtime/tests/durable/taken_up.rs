//! What a run taken up again remembers of its log, as one that never
//! stopped would: the repairs of its answer it asked for, and the tool
//! calls it repeated.

use super::resume::{no_lease, only_run};
use super::store::fresh;
use super::support::{Counted, Told};
use klieo_runtime::Agent;
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Error, ToolCall};
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::sync::Notify;

/// The answer's shape: never read, as the run below never fits it.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Product {
    /// The product.
    #[expect(dead_code, reason = "only the shape is asked for")]
    result: i64,
}

#[tokio::test]
async fn a_typed_run_taken_up_keeps_the_repairs_it_used() {
    let (_dir, store) = fresh().await;
    let called = Arc::new(Notify::new());
    let script = ScriptedLlm::new()
        .with_capabilities(klieo_types::Capabilities::default().with_json_mode(true))
        .then_text("It is 391.")
        .then_stall();
    let llm = Told {
        inner: script.clone(),
        called: Arc::clone(&called),
    };
    let one_repair = no_lease().with_output_repairs(1);
    let agent = Agent::builder(llm)
        .with_memory(store.clone())
        .with_options(one_repair.clone())
        .build()
        .expect("the options are valid");
    let chat = agent.session("t");
    let mut run = Box::pin(chat.run_typed::<Product>("17*23?"));
    while script.requests().len() < 2 {
        let ended = tokio::select! {
            answer = &mut run => Some(answer),
            () = called.notified() => None,
        };
        assert!(ended.is_none(), "the repair's model call never answers");
    }
    drop(run); // the process dies while the model repairs its answer
    let run_id = only_run(&store).await;

    let later = ScriptedLlm::new()
        .with_capabilities(klieo_types::Capabilities::default().with_json_mode(true))
        .then_text(r#"{"value": 391}"#)
        .then_text(r#"{"result": 391}"#);
    let agent = Agent::builder(later.clone())
        .with_memory(store.clone())
        .with_options(one_repair)
        .build()
        .expect("the options are valid");
    let error = agent
        .resume_typed::<Product>(run_id)
        .await
        .expect_err("its one repair was used before the crash");
    assert!(
        matches!(error, Error::InvalidOutput { attempts: 2, .. }),
        "{error:?}"
    );
    assert_eq!(later.requests().len(), 1, "no third answer is asked for");
}

#[tokio::test]
async fn a_run_taken_up_knows_the_calls_it_repeated() {
    let (_dir, store) = fresh().await;
    let searches = Arc::new(AtomicUsize::new(0));
    let (started, proceed) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let search = || ToolCall::new("c1", "search", json!({"q": "x"}));
    let script = ScriptedLlm::new()
        .then_tool_calls(vec![search()])
        .then_tool_calls(vec![search()]);
    let agent = Agent::builder(script)
        .add_tool(Counted::new("search", true, &searches).waiting(&started, &proceed))
        .with_memory(store.clone())
        .with_options(no_lease())
        .build()
        .expect("the options are valid");
    let chat = agent.session("t");
    let mut run = Box::pin(chat.run("find x"));
    for round in 1..=2 {
        let ended = tokio::select! {
            answer = &mut run => Some(answer),
            () = started.notified() => None,
        };
        assert!(ended.is_none(), "round {round}'s search never answers");
        if round == 1 {
            proceed.notify_one();
        }
    }
    drop(run); // the process dies while the repeated search runs
    let run_id = only_run(&store).await;

    let later = ScriptedLlm::new().then_text("x is here.");
    let agent = Agent::builder(later.clone())
        .add_tool(Counted::new("search", true, &searches))
        .with_memory(store.clone())
        .build()
        .expect("the options are valid");
    assert_eq!(agent.resume(run_id).await.unwrap().text, "x is here.");
    assert_eq!(
        later.requests()[0].tool_choice,
        Some(klieo_types::ToolChoice::None),
        "the second round only repeated the first: the model is asked to answer"
    );
}
