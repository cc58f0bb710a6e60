//! The desk itself: an agent with a typed order lookup and a refund that
//! a person approves and that pays at most once, on a SQLite store.

use klieo::prelude::*;
use klieo::sqlite::SqliteStore;
use klieo::types::{Journal, LlmClient, OwnedToolContext};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub(crate) const INSTRUCTIONS: &str = "You run a refund desk. Look the order up, refund \
    what the customer paid when the order arrived damaged, then answer.";

/// An order to look up.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct Lookup {
    /// The order's number.
    pub(crate) order: u32,
}

/// A refund to pay.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct Refund {
    /// The order's number.
    pub(crate) order: u32,
    /// The amount, in cents.
    pub(crate) cents: u32,
}

/// What the desk decided, the run's typed answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Decision {
    /// Cents refunded; 0 when nothing was.
    pub(crate) refunded_cents: u32,
    /// One sentence for the customer.
    pub(crate) note: String,
}

/// The payment service: each payment keyed by the tool call's id, so a
/// call that runs twice pays once. A file of `key cents` lines.
#[derive(Clone)]
pub(crate) struct Ledger {
    path: PathBuf,
    lock: Arc<Mutex<()>>,
    /// For the tests: told once the refund paid, after which it never
    /// returns, as a process killed right after the money moved.
    stall_after_paying: Option<Arc<tokio::sync::Notify>>,
}

impl Ledger {
    pub(crate) fn beside(store: &Path) -> Self {
        Self {
            path: store.with_extension("ledger"),
            lock: Arc::default(),
            stall_after_paying: None,
        }
    }

    /// This ledger, telling `paid` once the refund paid and then never
    /// returning, as a process killed right after the money moved (for
    /// the tests).
    #[cfg(test)]
    pub(crate) fn stalling_after_paying(&self, paid: Arc<tokio::sync::Notify>) -> Self {
        Self {
            stall_after_paying: Some(paid),
            ..self.clone()
        }
    }

    /// Every payment, by key.
    pub(crate) fn payments(&self) -> BTreeMap<String, u32> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let (key, cents) = line.split_once(' ')?;
                Some((key.to_owned(), cents.parse().ok()?))
            })
            .collect()
    }

    /// Pays `cents` under `key`, unless a payment has that key already.
    fn pay(&self, key: &str, cents: u32) -> Result<bool, std::io::Error> {
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.payments().contains_key(key) {
            return Ok(false);
        }
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        writeln!(file, "{key} {cents}")?;
        file.sync_all()?;
        Ok(true)
    }
}

/// The desk's agent on `store`, paying into `ledger`.
pub(crate) fn agent(
    llm: impl LlmClient + 'static,
    store: SqliteStore,
    ledger: &Ledger,
    options: RunOptions,
) -> Result<Agent, klieo::types::ConfigError> {
    let lookup = TypedTool::new(
        "lookup_order",
        "Looks an order up.",
        |l: Lookup| async move {
            Ok::<_, ToolError>(serde_json::json!({
                "order": l.order, "paid_cents": 1200, "status": "arrived damaged"
            }))
        },
    )
    .with_idempotent(true);
    let ledger = ledger.clone();
    let refund = TypedTool::with_context(
        "refund",
        "Refunds an order.",
        move |r: Refund, call: OwnedToolContext| {
            let ledger = ledger.clone();
            async move {
                // The call's idempotency key is the payment's.
                let paid = ledger
                    .pay(&call.idempotency_key(), r.cents)
                    .map_err(|e| ToolError::Permanent(format!("the ledger failed: {e}")))?;
                if let Some(paid) = &ledger.stall_after_paying {
                    paid.notify_one();
                    std::future::pending::<()>().await;
                }
                Ok::<_, ToolError>(match paid {
                    true => format!("refunded {} cents for order {}", r.cents, r.order),
                    false => format!("order {} was refunded already", r.order),
                })
            }
        },
    )
    .with_approval(true)
    // Paid under the call's idempotency key, so running it again pays
    // nothing twice: a refund a crash cut short runs again on resume
    // instead of waiting for a person to settle it.
    .with_idempotent(true);
    Agent::builder(llm)
        .with_name("refund-desk")
        .with_instructions(INSTRUCTIONS)
        .add_tool(lookup)
        .add_tool(refund)
        .with_memory(store)
        .with_options(options)
        .build()
}

/// The store at `path`, whose journal the desk's agents share.
pub(crate) async fn open(path: &Path) -> Result<SqliteStore, Box<dyn std::error::Error>> {
    let store = SqliteStore::open(path).await?;
    let _: &dyn Journal = &store;
    Ok(store)
}
