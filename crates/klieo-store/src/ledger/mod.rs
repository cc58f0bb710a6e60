//! The [`InMemoryJournal`] as a [`SpendLedger`]: keys' settled spend and
//! runs' reservations in the store's maps, timed by tokio's clock; a
//! commit's [`Settlement`] lands under the commit's lock.

mod rule;

pub use rule::key_shortfall;

use crate::InMemoryJournal;
use async_trait::async_trait;
use klieo_types::{
    KeySpend, KeyStanding, MemoryError, Reservation, Reserved, RunId, Settlement, SpendLedger,
};
use std::collections::HashMap;
use tokio::time::Instant;

/// Keys' settled spend per period, and runs' live reservations.
#[derive(Default)]
pub(crate) struct Ledger {
    settled: HashMap<(String, u64), KeySpend>,
    /// Each run's reservation on a key: its period, amount, and when it
    /// lapses (`None`: later than the clock can tell).
    reservations: HashMap<(String, RunId), (u64, KeySpend, Option<Instant>)>,
}

impl Ledger {
    fn standing(&self, key: &str, period: u64, run: RunId, now: Instant) -> KeyStanding {
        let settled = self
            .settled
            .get(&(key.to_owned(), period))
            .copied()
            .unwrap_or_default();
        let reserved = self
            .reservations
            .iter()
            .filter(|((k, r), (p, _, until))| {
                k == key && *r != run && *p == period && until.is_none_or(|until| until > now)
            })
            .fold(KeySpend::default(), |sum, (_, (_, amount, _))| {
                sum.plus(*amount)
            });
        KeyStanding::new(settled, reserved)
    }

    /// `MemoryError::Conflict` when `settlement` records spend and `run`
    /// holds no live reservation on its key at `now`: a call that
    /// outlasted its reservation could settle into an allowance another
    /// run took meanwhile.
    pub(crate) fn check(
        &self,
        run: RunId,
        settlement: &Settlement,
        now: Instant,
    ) -> Result<(), MemoryError> {
        if settlement.spend == KeySpend::default() {
            return Ok(());
        }
        let live = self
            .reservations
            .get(&(settlement.key.clone(), run))
            .is_some_and(|(_, _, until)| until.is_none_or(|until| until > now));
        if live {
            return Ok(());
        }
        Err(MemoryError::Conflict(format!(
            "the reservation of run {run} on key `{}` lapsed before the call's spend was \
             settled (the call outlasted KeyBudget::reservation_ttl): the step is not written, \
             and the run is left to be resumed",
            settlement.key
        )))
    }

    /// Adds `settlement` to its key, dropping `run`'s reservation on it
    /// (after [`check`](Self::check)).
    pub(crate) fn settle(&mut self, run: RunId, settlement: Settlement) {
        let Settlement {
            key, period, spend, ..
        } = settlement;
        self.reservations.remove(&(key.clone(), run));
        let settled = self.settled.entry((key, period)).or_default();
        *settled = settled.plus(spend);
    }
}

#[async_trait]
impl SpendLedger for InMemoryJournal {
    async fn reserve(&self, reservation: &Reservation) -> Result<Reserved, MemoryError> {
        let now = Instant::now();
        let mut state = self.state();
        let ledger = &mut state.ledger;
        let standing = ledger.standing(&reservation.key, reservation.period, reservation.run, now);
        if let Some(short) = key_shortfall(&standing, &reservation.amount, &reservation.limits) {
            return Ok(Reserved::Refused(short));
        }
        // The key's lapsed reservations go: they hold nothing.
        ledger.reservations.retain(|(key, _), (_, _, until)| {
            key != &reservation.key || until.is_none_or(|until| until > now)
        });
        ledger.reservations.insert(
            (reservation.key.clone(), reservation.run),
            (
                reservation.period,
                reservation.amount,
                now.checked_add(reservation.ttl),
            ),
        );
        Ok(Reserved::Granted(standing))
    }

    async fn standing(
        &self,
        key: &str,
        period: u64,
        run: RunId,
    ) -> Result<KeyStanding, MemoryError> {
        Ok(self
            .state()
            .ledger
            .standing(key, period, run, Instant::now()))
    }
}
