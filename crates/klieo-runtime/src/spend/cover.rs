//! [`Cover`]: a run's budget covering the child runs its tool calls start
//! (agents used as tools). A child's model and tool calls are checked
//! against what its caller's budget has left when the child begins, and
//! counted in its caller's spend as they are made; a caller taken up
//! again counts its children's logs.

use super::Spend;
use crate::options::Budget;
use klieo_types::{
    CallSpend, ChatRequest, ChatResponse, ConfigError, Episode, Error, Journal, RunId, ToolContext,
};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How deep a tree of runs a caller taken up again counts (as
/// `team::tree`'s walk).
const MAX_DEPTH: usize = 32;

/// What a run with a budget hands the children its calls start: its
/// budget's token, call and cost limits (not its time, which its own
/// clock counts while a call runs, nor its key's, on which each run
/// reserves by itself), and its spend, shared.
#[derive(Clone)]
pub(crate) struct Cover {
    budget: Arc<Budget>,
    spend: Arc<Mutex<Spend>>,
}

impl Cover {
    /// The cover of a run under `budget` whose spend is `spend`; none
    /// when the budget limits no tokens, calls or cost.
    pub(crate) fn of(budget: &Budget, spend: &Arc<Mutex<Spend>>) -> Option<Self> {
        let covered = budget.for_children()?;
        Some(Self {
            budget: Arc::new(covered),
            spend: Arc::clone(spend),
        })
    }

    /// A child run on `model` under this cover, from what the caller has
    /// spent now. A cost limit needs the child's model's price in the
    /// caller's table.
    pub(crate) fn covering(&self, model: &str) -> Result<Covered, ConfigError> {
        self.budget.check_model(model)?;
        let mut seen = Spend::new(&self.budget, model);
        seen.add_counts(&lock(&self.spend));
        Ok(Covered {
            cover: self.clone(),
            seen: Mutex::new(seen),
        })
    }
}

/// A child run under its caller's [`Cover`].
pub(crate) struct Covered {
    cover: Cover,
    /// The caller's spend when the child began, and the child's own
    /// calls since.
    seen: Mutex<Spend>,
}

impl Covered {
    /// Checks the call of `req` against the caller's budget and lowers
    /// its `max_tokens` to what that leaves.
    pub(crate) fn reserve(&self, req: &mut ChatRequest) -> Result<(), Error> {
        let mut seen = lock(&self.seen);
        seen.reserve(&self.cover.budget, req, Duration::ZERO)?;
        let _ = seen.noted(&self.cover.budget, req);
        Ok(())
    }

    /// Counts the call that answered `reply`, here and in the caller's
    /// spend, as the caller's budget counts it.
    pub(crate) fn settle(&self, reply: &ChatResponse) -> CallSpend {
        let settled = lock(&self.seen).settle(&self.cover.budget, reply);
        lock(&self.cover.spend).add_call(&settled);
        settled
    }

    /// Checks and counts `calls` tool calls of one reply against the
    /// caller's budget.
    pub(crate) fn tool_calls(&self, calls: usize) -> Result<(), Error> {
        lock(&self.seen).tool_calls(&self.cover.budget, calls)?;
        lock(&self.cover.spend).add_tool_calls(calls);
        Ok(())
    }
}

fn lock(spend: &Mutex<Spend>) -> std::sync::MutexGuard<'_, Spend> {
    spend.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the child runs of `run`, whose log is `log`, spent, as their
/// logs record it (their own children's included): each tool call of the
/// log may have started one (an agent used as a tool), whose id it
/// derives.
pub(crate) async fn children_spent(
    journal: &dyn Journal,
    budget: &Budget,
    run: RunId,
    log: &[Episode],
) -> Result<Spend, Error> {
    let mut spent = Spend::new(budget, "");
    let mut level: Vec<(RunId, Vec<Episode>)> = vec![(run, log.to_vec())];
    for _ in 0..MAX_DEPTH {
        let mut next = Vec::new();
        for (parent, episodes) in &level {
            for (step, call_id) in episodes.iter().filter_map(|e| match e {
                Episode::ToolCall { step, call_id, .. } => Some((*step, call_id.as_str())),
                _ => None,
            }) {
                let key = ToolContext::new(*parent, call_id, "")
                    .with_step(step)
                    .idempotency_key();
                let child = parent.child(&key);
                let child_log = journal.replay(child).await?;
                let ours = child_log
                    .iter()
                    .take(3)
                    .any(|e| matches!(e, Episode::ChildOf { parent: of, .. } if of == parent));
                if ours {
                    spent.add_counts(&Spend::from_log(budget, "", &child_log));
                    next.push((child, child_log));
                }
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    Ok(spent)
}
