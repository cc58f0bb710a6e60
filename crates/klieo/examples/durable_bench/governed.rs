//! What governing a run costs: a step on SQLite (`synchronous` FULL)
//! with a budget of every kind (tokens, calls, cost, time) and its calls
//! limited by a rate limiter in the same file, beside the same run with
//! neither, measured in turns; and the governed run whose budget also
//! names a key (`keyed`: a reservation in the file's ledger a call).

use crate::{best_of_three, builder, model, store, Counted, Model};
use klieo::prelude::*;
use klieo::provider::rate_limit::RateLimited;
use klieo::runtime::{KeyBudget, ModelPrice, Prices};
use klieo::sqlite::Synchronous;
use klieo::store::{RateLimit, RateLimits};
use klieo::types::{async_trait, Capabilities, LlmError};
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

/// The bench's model behind a `RateLimited` (which takes a client by
/// value).
struct Shared(Arc<Model>);

#[async_trait]
impl LlmClient for Shared {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError> {
        self.0.complete(req).await
    }
}

/// A plain and a governed agent, each on a SQLite file of its own in
/// `dir`, whose model calls the tool `steps - 1` times, and a governed
/// one whose budget names a key (`keyed`); their commits counted in
/// `commits`.
async fn agents(
    dir: &std::path::Path,
    steps: usize,
    commits: &Arc<AtomicUsize>,
    keyed: bool,
) -> (Agent, Agent) {
    let plain_store = Counted(
        store(dir, "plain.db", Synchronous::Full).await,
        Arc::clone(commits),
    );
    let plain = builder(model(steps, false))
        .with_memory(plain_store)
        .build()
        .expect("the options are valid");

    let governed_store = store(dir, "governed.db", Synchronous::Full).await;
    let limits = RateLimits::new().with_default(
        RateLimit::new()
            .with_requests_per_minute(1_000_000)
            .with_tokens_per_minute(1_000_000_000),
    );
    let limiter = governed_store.rate_limiter(limits).unwrap();
    let llm = RateLimited::builder(Shared(model(steps, false)), limiter)
        .build()
        .expect("a valid scope");
    let prices = Prices::new().add_model("bench", ModelPrice::per_million_tokens(1.0, 2.0));
    let mut budget = Budget::new()
        .with_total_tokens(1_000_000_000)
        .with_model_calls(1_000_000)
        .with_tool_calls(1_000_000)
        .with_cost_usd(1_000.0, prices)
        .with_time(Duration::from_secs(3_600));
    if keyed {
        budget = budget.with_key(
            KeyBudget::new("bench")
                .with_total_tokens(1_000_000_000_000)
                .with_cost_usd(1_000_000.0)
                .with_period(Duration::from_secs(86_400)),
        );
    }
    let echo = FnTool::new(
        ToolDef::new("echo", "echoes", json!({"type": "object"})),
        Ok,
    );
    let governed = Agent::builder(llm)
        .add_tool(echo)
        .with_memory(Counted(governed_store, Arc::clone(commits)))
        .with_options(
            RunOptions::default()
                .with_max_steps(2_000)
                .with_budget(budget),
        )
        .build()
        .expect("the options are valid");
    (plain, governed)
}

/// Prints the step cost of a plain and of a governed run, and their ratio.
pub(crate) async fn figure(dir: &std::path::Path) {
    const STEPS: usize = 100;
    let commits = Arc::new(AtomicUsize::new(0));
    let (plain, governed) = agents(dir, STEPS, &commits, false).await;
    let keyed_dir = tempfile::tempdir().unwrap();
    let (_, keyed) = agents(keyed_dir.path(), STEPS, &commits, true).await;
    let (mut plain_ns, mut governed_ns, mut keyed_ns) = (f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..2 {
        plain_ns = plain_ns.min(best_of_three(&plain, STEPS, &commits).await.0);
        governed_ns = governed_ns.min(best_of_three(&governed, STEPS, &commits).await.0);
        keyed_ns = keyed_ns.min(best_of_three(&keyed, STEPS, &commits).await.0);
    }
    println!(
        "{{\"impl\":\"klieo\",\"workload\":\"governed_steps\",\"store\":\"sqlite\",\"synchronous\":\"full\",\"steps\":{STEPS},\"plain_ns_per_step\":{plain_ns:.0},\"governed_ns_per_step\":{governed_ns:.0},\"keyed_ns_per_step\":{keyed_ns:.0},\"ratio\":{:.2},\"keyed_ratio\":{:.2}}}",
        governed_ns / plain_ns,
        keyed_ns / plain_ns
    );
}

/// `durable_bench governed_run plain|governed|keyed STEPS`: one run, printing
/// nothing, for `cargo xtask bench instructions` to count under
/// callgrind (the whole program, at two lengths: the setup cancels out).
pub(crate) async fn run_once(args: &[String]) {
    let [which, steps] = args else {
        panic!("governed_run takes plain|governed|keyed and STEPS, got {args:?}");
    };
    let steps: usize = steps.parse().expect("STEPS is a whole number");
    let dir = tempfile::tempdir().unwrap();
    let commits = Arc::new(AtomicUsize::new(0));
    let keyed = which == "keyed";
    let (plain, governed) = agents(dir.path(), steps, &commits, keyed).await;
    let agent = match which.as_str() {
        "plain" => plain,
        "governed" | "keyed" => governed,
        other => panic!("{other}: plain, governed or keyed"),
    };
    let answer = agent.run("go").await.unwrap();
    assert_eq!(answer.text, "done");
}
