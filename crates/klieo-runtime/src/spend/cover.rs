//! [`Cover`]: the budgets of a run's callers covering it (agents used as
//! tools start child runs). A child's model and tool calls are checked
//! against what each caller's budget has left when the call starts (its
//! parent's, its grandparent's, …), and counted in each caller's spend
//! as they are made (a caller taken up again counts its children's logs:
//! `team::tree::children_spent`).

use super::Spend;
use crate::options::Budget;
use klieo_types::{
    BudgetLimit, CallSpend, ChatRequest, ChatResponse, ConfigError, Error, LlmClient,
};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// One caller's budget: its token, call and cost limits (not its time,
/// which its own clock counts while a call runs, nor its key's, on which
/// each run reserves by itself), and its spend, shared.
#[derive(Clone)]
struct Level {
    budget: Arc<Budget>,
    spend: Arc<Mutex<Spend>>,
}

/// What a run hands the children its calls start: its own budget when it
/// has one, and the budgets covering it, nearest first.
#[derive(Clone)]
pub(crate) struct Cover {
    levels: Vec<Level>,
}

impl Cover {
    /// The cover of a run under `budget` whose spend is `spend`, itself
    /// under `above` (the cover of the run that called it); none when
    /// neither limits tokens, calls or cost.
    pub(crate) fn of(
        budget: &Budget,
        spend: &Arc<Mutex<Spend>>,
        above: Option<&Cover>,
    ) -> Option<Self> {
        let own = budget.for_children().map(|covered| Level {
            budget: Arc::new(covered),
            spend: Arc::clone(spend),
        });
        let levels: Vec<Level> = own
            .into_iter()
            .chain(above.into_iter().flat_map(|a| a.levels.iter().cloned()))
            .collect();
        (!levels.is_empty()).then_some(Self { levels })
    }

    /// A child run on `llm` under this cover. A cost limit needs the
    /// price of each model the child's replies may come from in that
    /// caller's table.
    pub(crate) fn covering(&self, llm: &dyn LlmClient) -> Result<Covered, ConfigError> {
        for level in &self.levels {
            level.budget.check_client(llm)?;
        }
        Ok(Covered {
            cover: self.clone(),
            models: llm.models(),
            reserved: Mutex::default(),
            calibration: Mutex::default(),
        })
    }
}

/// A child run under its callers' [`Cover`].
pub(crate) struct Covered {
    cover: Cover,
    /// The models the child's replies may come from, its own first.
    models: Vec<String>,
    /// The call in flight as each caller's budget reserved it, for its
    /// settling.
    reserved: Mutex<Vec<Spend>>,
    /// What this run's calls taught about its input's size (see
    /// `Spend::calibration`): the same for every caller's count.
    calibration: Mutex<Option<super::Calibration>>,
}

impl Covered {
    /// The cover, for the children this run's calls start.
    pub(crate) fn cover(&self) -> &Cover {
        &self.cover
    }

    /// Each caller's spend now, priced for this run's model, sizing this
    /// run's input as its calls so far taught.
    fn now(&self) -> Vec<Spend> {
        let calibration = *lock(&self.calibration);
        let levels = &self.cover.levels;
        levels
            .iter()
            .map(|level| {
                let mut now = Spend::new(&level.budget, &self.models);
                now.add_counts(&lock(&level.spend));
                now.calibration = calibration;
                now
            })
            .collect()
    }

    /// Takes what the run's log taught of its input's size (`logged`, its
    /// spend as a run taken up again counts it), as its calls had.
    pub(crate) fn take_up(&self, logged: &Spend) {
        *lock(&self.calibration) = logged.calibration;
    }

    /// Checks the call of `req` against what each caller's budget has
    /// left now, and lowers its `max_tokens` to the least of that; says
    /// which limit lowered it last (the one a reply cut there ran out of).
    pub(crate) fn reserve(
        &self,
        req: &mut ChatRequest,
        window: Option<super::Window>,
    ) -> Result<Option<BudgetLimit>, Error> {
        let mut now = self.now();
        let mut cut = None;
        for (level, spend) in self.cover.levels.iter().zip(&mut now) {
            cut = spend
                .reserve(&level.budget, req, Duration::ZERO, window)?
                .or(cut);
        }
        *lock(&self.reserved) = now;
        Ok(cut)
    }

    /// Notes the call of `req` in each caller's reservation once every
    /// limit lowered it (the run's own budget and key may lower
    /// `max_tokens` after the callers' checked it), so a reply that
    /// reports no usage is counted in each caller's spend at the cap the
    /// call was made with.
    pub(crate) fn noted(&self, req: &ChatRequest) {
        let mut reserved = lock(&self.reserved);
        for (level, spend) in self.cover.levels.iter().zip(reserved.iter_mut()) {
            let _ = spend.noted(&level.budget, req);
        }
    }

    /// Counts the call that answered `reply` in each caller's spend, as
    /// its budget counts it; for the log, the nearest caller's count that
    /// prices the call, else the nearest's.
    pub(crate) fn settle(&self, reply: &ChatResponse) -> Option<CallSpend> {
        let reserved = std::mem::take(&mut *lock(&self.reserved));
        let mut reserved = match reserved.len() == self.cover.levels.len() {
            true => reserved,
            false => self.now(),
        };
        let (mut nearest, mut priced) = (None, None);
        for (level, spend) in self.cover.levels.iter().zip(&mut reserved) {
            let settled = spend.settle(&level.budget, reply);
            lock(&level.spend).add_call(&settled);
            if settled.cost_micros.is_some() {
                priced.get_or_insert(settled);
            }
            nearest.get_or_insert(settled);
        }
        if let Some(first) = reserved.first() {
            *lock(&self.calibration) = first.calibration;
        }
        priced.or(nearest)
    }

    /// Checks `calls` tool calls of one reply against what each caller's
    /// budget has left now.
    pub(crate) fn check_tool_calls(&self, calls: usize) -> Result<(), Error> {
        for (level, mut spend) in self.cover.levels.iter().zip(self.now()) {
            spend.tool_calls(&level.budget, calls)?;
        }
        Ok(())
    }

    /// Counts `calls` tool calls in each caller's spend.
    pub(crate) fn count_tool_calls(&self, calls: usize) {
        for level in &self.cover.levels {
            lock(&level.spend).add_tool_calls(calls);
        }
    }
}

/// `mutex`'s value, whether or not a thread panicked holding it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
