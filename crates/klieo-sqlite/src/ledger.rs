//! The store as a [`SpendLedger`]: keys' settled spend and runs'
//! reservations in two tables, shared by every process that opens the
//! file. A reservation is checked and written in one transaction of the
//! store's writer, so two workers never both take the last of a key's
//! allowance; a commit's [`Settlement`] is written in the commit's own
//! transaction (`settle_in`).

use crate::error::backend;
use crate::SqliteStore;
use async_trait::async_trait;
use klieo_store::{key_shortfall, StoreRows};
use klieo_types::{
    KeySpend, KeyStanding, MemoryError, Reservation, Reserved, RunId, Settlement, SpendLedger,
};
use rusqlite::{params, Connection, OptionalExtension};

/// A count as SQLite's integer (a count past `i64::MAX` is kept at it).
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A count read back (a negative one, which klieo never writes, as 0).
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn spend_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeySpend> {
    Ok(KeySpend::new(
        count(row.get(0)?),
        count(row.get(1)?),
        count(row.get(2)?),
    ))
}

/// Where `key` stands in `period`, leaving `run`'s reservation out.
fn standing_in(
    connection: &Connection,
    key: &str,
    period: i64,
    run: &str,
) -> rusqlite::Result<KeyStanding> {
    let settled = connection
        .prepare_cached(
            "SELECT tokens, cost_micros, model_calls FROM key_spend WHERE key = ?1 AND period = ?2",
        )?
        .query_row(params![key, period], spend_of)
        .optional()?
        .unwrap_or_default();
    let reserved = connection
        .prepare_cached(
            "SELECT COALESCE(SUM(tokens), 0), COALESCE(SUM(cost_micros), 0), \
             COALESCE(SUM(model_calls), 0) FROM key_reservations \
             WHERE key = ?1 AND period = ?2 AND run <> ?3 \
             AND until_ms > CAST(unixepoch('subsec') * 1000 AS INTEGER)",
        )?
        .query_row(params![key, period, run], spend_of)?;
    Ok(KeyStanding::new(settled, reserved))
}

/// Adds `settlement` to its key (saturating) and drops `run`'s
/// reservation on it, in the transaction of the commit that records the
/// spend. Spend is settled only against the run's live reservation: a
/// call that outlasted it could otherwise settle into an allowance
/// another run took meanwhile, so the commit is refused
/// ([`MemoryError::Conflict`]).
pub(crate) fn settle_in(
    connection: &Connection,
    run: &str,
    settlement: &Settlement,
) -> Result<(), MemoryError> {
    let doing = "settling a key's spend";
    let spend = &settlement.spend;
    let live = connection
        .prepare_cached(
            "DELETE FROM key_reservations WHERE key = ?1 AND run = ?2 \
             AND until_ms > CAST(unixepoch('subsec') * 1000 AS INTEGER)",
        )
        .and_then(|mut drop| drop.execute(params![settlement.key, run]))
        .map_err(|e| backend(doing, e))?;
    if *spend == KeySpend::default() {
        return Ok(());
    }
    if live == 0 {
        return Err(MemoryError::Conflict(format!(
            "the reservation of run {run} on key `{}` lapsed before the call's spend was \
             settled (the call outlasted KeyBudget::reservation_ttl): the step is not \
             written, and the run is left to be resumed",
            settlement.key
        )));
    }
    connection
        .prepare_cached(
            "INSERT INTO key_spend (key, period, tokens, cost_micros, model_calls) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (key, period) DO UPDATE SET \
             tokens = CASE WHEN tokens > 9223372036854775807 - excluded.tokens \
             THEN 9223372036854775807 ELSE tokens + excluded.tokens END, \
             cost_micros = CASE WHEN cost_micros > 9223372036854775807 - excluded.cost_micros \
             THEN 9223372036854775807 ELSE cost_micros + excluded.cost_micros END, \
             model_calls = CASE WHEN model_calls > 9223372036854775807 - excluded.model_calls \
             THEN 9223372036854775807 ELSE model_calls + excluded.model_calls END",
        )
        .and_then(|mut add| {
            add.execute(params![
                settlement.key,
                int(settlement.period),
                int(spend.tokens),
                int(spend.cost_micros),
                int(spend.model_calls)
            ])
        })
        .map_err(|e| backend(doing, e))?;
    Ok(())
}

#[async_trait]
impl SpendLedger for SqliteStore {
    async fn reserve(&self, reservation: &Reservation) -> Result<Reserved, MemoryError> {
        let doing = "reserving a key's spend";
        let reservation = reservation.clone();
        // Not synced alone: a power cut that loses a reservation stops
        // this machine's workers too, and their calls with them.
        self.writer
            .write_volatile(doing, move |connection| {
                let run = reservation.run.to_string();
                let period = int(reservation.period);
                let standing = standing_in(connection, &reservation.key, period, &run)
                    .map_err(|e| backend(doing, e))?;
                if let Some(short) =
                    key_shortfall(&standing, &reservation.amount, &reservation.limits)
                {
                    return Ok(Reserved::Refused(short));
                }
                // The key's lapsed reservations go: they hold nothing.
                connection
                    .prepare_cached(
                        "DELETE FROM key_reservations WHERE key = ?1 \
                         AND until_ms <= CAST(unixepoch('subsec') * 1000 AS INTEGER)",
                    )
                    .and_then(|mut drop| drop.execute(params![reservation.key]))
                    .map_err(|e| backend(doing, e))?;
                let amount = &reservation.amount;
                connection
                    .prepare_cached(
                        "INSERT INTO key_reservations \
                         (key, run, period, tokens, cost_micros, model_calls, until_ms) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, \
                         CAST(unixepoch('subsec') * 1000 AS INTEGER) + ?7) \
                         ON CONFLICT (key, run) DO UPDATE SET period = excluded.period, \
                         tokens = excluded.tokens, cost_micros = excluded.cost_micros, \
                         model_calls = excluded.model_calls, until_ms = excluded.until_ms",
                    )
                    .and_then(|mut claim| {
                        claim.execute(params![
                            reservation.key,
                            run,
                            period,
                            int(amount.tokens),
                            int(amount.cost_micros),
                            int(amount.model_calls),
                            StoreRows::millis(reservation.ttl)
                        ])
                    })
                    .map_err(|e| backend(doing, e))?;
                Ok(Reserved::Granted(standing))
            })
            .await
    }

    async fn standing(
        &self,
        key: &str,
        period: u64,
        run: RunId,
    ) -> Result<KeyStanding, MemoryError> {
        let doing = "reading a key's spend";
        let (key, run) = (key.to_owned(), run.to_string());
        self.readers
            .read(doing, move |connection| {
                // One snapshot for both reads: a settlement committing
                // between them would drop a reservation from the sum.
                let read = || {
                    let snapshot = connection.unchecked_transaction()?;
                    standing_in(&snapshot, &key, int(period), &run)
                };
                read().map_err(|e| backend(doing, e))
            })
            .await
    }
}
