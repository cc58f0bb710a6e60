//! A run's model calls on its key's budget ([`KeyBudget`]): reserved in
//! the journal's ledger before each call, settled by the commit that
//! records it.

use super::Run;
use crate::journal::Memories;
use crate::options::{Budget, KeyBudget};
use crate::spend::{claim, KeyHold};
use klieo_types::{
    BudgetLimit, ChatRequest, Commit, ConfigError, Episode, Error, KeySpend, Reservation, Reserved,
    Settlement, SpendLedger,
};
use std::time::SystemTime;

/// The ledger of `memories`' journal; `ConfigError::Invalid` when they
/// keep none, since a key's spend could not be counted.
fn ledger_of(memories: &Memories) -> Result<&dyn SpendLedger, ConfigError> {
    memories
        .journal_ref()
        .and_then(|journal| journal.ledger())
        .ok_or_else(|| {
            ConfigError::invalid(
                "Budget::key",
                "the run's memories keep no ledger of keys' spend, so the key's limits could \
                 not be kept: give the agent a journal that keeps one (AgentBuilder::with_memory \
                 with an InMemoryJournal, a SqliteStore or a PostgresStore)",
            )
        })
}

/// `ConfigError::Invalid` when `budget` names a key and `memories` keep
/// no ledger: checked when an agent is built and when a run starts.
pub(crate) fn check_ledger(budget: &Budget, memories: &Memories) -> Result<(), ConfigError> {
    match budget.key() {
        Some(_) => ledger_of(memories).map(|_| ()),
        None => Ok(()),
    }
}

impl Run {
    /// Reserves the call of `req` on `key`'s allowance, lowering its
    /// `max_tokens` to what the key has left; `Error::KeyBudgetExceeded`
    /// when the key would pass a limit.
    ///
    /// The call is sized by where the key stood at the run's last
    /// reservation (one round trip to the ledger a call); when that
    /// leaves too little or lowers the reply's `max_tokens`, or the
    /// ledger refuses what it sized, the key's standing is read afresh
    /// and the call sized again once. Says the key's limit that lowered
    /// `max_tokens`, if one did: a reply cut there ran out of it.
    pub(crate) async fn reserve_on_key(
        &self,
        key: &KeyBudget,
        req: &mut ChatRequest,
    ) -> Result<Option<BudgetLimit>, Error> {
        let ledger = ledger_of(&self.ctx.memories)?;
        let period = key.period_at(SystemTime::now());
        let run = self.ctx.run_id;
        let (input, dearest, known) = {
            let spend = self.lock_spend();
            (
                spend.reserved_input(),
                spend.dearest(),
                spend.known_standing(period),
            )
        };
        let asked = req.max_tokens;
        let (mut standing, mut fresh) = match known {
            Some(standing) => (standing, false),
            None => (ledger.standing(key.key(), period, run).await?, true),
        };
        loop {
            req.max_tokens = asked;
            // A standing from the run's last call may hold reservations
            // since settled for less: when it leaves too little, or cuts
            // the reply short, ask the ledger before settling for it.
            let (amount, lowered) = match claim(key, &standing, input, dearest.as_ref(), req) {
                Ok(claimed) if claimed.lowered.is_none() || fresh => {
                    (claimed.amount, claimed.lowered)
                }
                Err(refused) if fresh => return Err(refused),
                _ => {
                    standing = ledger.standing(key.key(), period, run).await?;
                    fresh = true;
                    continue;
                }
            };
            let ttl = key.reservation_ttl();
            // Timed from before the ledger's clock starts it: this process
            // lets go of the call no later than the ledger does.
            let until = tokio::time::Instant::now() + ttl;
            let reservation = Reservation::new(key.key(), period, run, amount, key.limits(), ttl);
            let hold = KeyHold { period, until, ttl };
            // A store's write goes on when the run is dropped mid-way.
            self.lock_spend().reserving(hold);
            let answer = ledger.reserve(&reservation).await?;
            match answer {
                Reserved::Granted(before) => {
                    self.lock_spend().hold(hold, before);
                    return Ok(lowered);
                }
                Reserved::Refused(short) => {
                    self.lock_spend().refused();
                    if fresh {
                        return Err(short.exceeded(key.key()));
                    }
                    standing = ledger.standing(key.key(), period, run).await?;
                    fresh = true;
                }
            }
        }
    }

    /// The settlement `commit` carries when the run holds a reservation on
    /// its key: the spend its episodes record (nothing, when they record
    /// no model call), which the journal adds to the key's ledger in the
    /// commit's transaction, dropping the reservation.
    pub(crate) fn settlement(&self, commit: &Commit) -> Option<Settlement> {
        let key = self.opts.budget.key()?;
        let hold = self.lock_spend().held()?;
        let spend = commit
            .episodes
            .iter()
            .filter_map(|episode| match episode {
                Episode::LlmCall {
                    spend: Some(spend), ..
                } => Some(KeySpend::of_call(spend)),
                _ => None,
            })
            .fold(KeySpend::default(), KeySpend::plus);
        Some(Settlement::new(key.key(), hold.period, spend))
    }

    /// The reservation was settled as `spend`: let go of it.
    pub(crate) fn settled(&self, spend: KeySpend) {
        self.lock_spend().settled(spend);
    }
}
