//! The [`InMemoryJournal`] as a [`SpendLedger`]: keys' settled spend and
//! runs' reservations in the store's maps, timed by tokio's clock; a
//! commit's [`Settlement`] lands under the commit's lock.

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

    /// Adds `settlement` to its key, dropping `run`'s reservation on it.
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
        if let Some(short) = standing.shortfall(&reservation.amount, &reservation.limits) {
            return Ok(Reserved::Refused(short));
        }
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
