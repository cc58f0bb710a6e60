//! [`SpendLedger`]: what a key (a tenant, a session, a user) has spent in
//! a period, kept in a store and shared by every process that opens it.
//!
//! A run whose budget names a key reserves each model call in the ledger
//! before making it; the reservation is refused when the key's settled
//! spend, the live reservations of its other runs and this call together
//! would pass a limit. The call's spend is settled by the journal commit
//! that records it ([`Commit::settlement`](crate::Commit::settlement)),
//! in the same transaction, which also drops the run's reservation: what
//! a key has settled is always the sum of what its runs' journals hold.

use crate::error::{BudgetLimit, MemoryError};
use crate::{CallSpend, RunId};
use async_trait::async_trait;
use std::time::Duration;

/// Amounts a key's ledger counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeySpend {
    /// Input and output tokens.
    pub tokens: u64,
    /// Cost, in millionths of a US dollar.
    pub cost_micros: u64,
    /// Model calls.
    pub model_calls: u64,
}

impl KeySpend {
    /// `tokens` and `model_calls` costing `cost_micros`.
    pub fn new(tokens: u64, cost_micros: u64, model_calls: u64) -> Self {
        Self {
            tokens,
            cost_micros,
            model_calls,
        }
    }

    /// One model call, counted as `spend`.
    pub fn of_call(spend: &CallSpend) -> Self {
        Self::new(
            spend.input_tokens.saturating_add(spend.output_tokens),
            spend.cost_micros.unwrap_or(0),
            1,
        )
    }

    /// Both together (saturating: a store's numbers are data).
    pub fn plus(self, other: Self) -> Self {
        Self {
            tokens: self.tokens.saturating_add(other.tokens),
            cost_micros: self.cost_micros.saturating_add(other.cost_micros),
            model_calls: self.model_calls.saturating_add(other.model_calls),
        }
    }
}

/// A key's limits in one period; `None` is no limit.
///
/// # Default
/// - tokens, cost and model calls: no limit
///
/// ```
/// use klieo_types::KeyLimits;
///
/// let limits = KeyLimits::new().with_tokens(30_000);
/// assert_eq!(limits.tokens(), Some(30_000));
/// assert_eq!(limits.model_calls(), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyLimits {
    tokens: Option<u64>,
    cost_micros: Option<u64>,
    model_calls: Option<u64>,
}

impl KeyLimits {
    /// No limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// The most input and output tokens.
    pub fn tokens(&self) -> Option<u64> {
        self.tokens
    }

    /// The most cost, in millionths of a US dollar.
    pub fn cost_micros(&self) -> Option<u64> {
        self.cost_micros
    }

    /// The most model calls.
    pub fn model_calls(&self) -> Option<u64> {
        self.model_calls
    }

    /// Sets [`tokens`](Self::tokens).
    pub fn with_tokens(mut self, max: u64) -> Self {
        self.tokens = Some(max);
        self
    }

    /// Sets [`cost_micros`](Self::cost_micros).
    pub fn with_cost_micros(mut self, max: u64) -> Self {
        self.cost_micros = Some(max);
        self
    }

    /// Sets [`model_calls`](Self::model_calls).
    pub fn with_model_calls(mut self, max: u64) -> Self {
        self.model_calls = Some(max);
        self
    }
}

/// A limit a key would pass: which, its value, what the key has spent and
/// reserved of it, and what the call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyShortfall {
    /// The limit.
    pub limit: BudgetLimit,
    /// Its value.
    pub max: u64,
    /// Settled and reserved by the key's runs.
    pub spent: u64,
    /// What the call needs.
    pub needed: u64,
}

impl KeyShortfall {
    /// `limit` of `max` would pass: `spent` held, `needed` more asked.
    pub fn new(limit: BudgetLimit, max: u64, spent: u64, needed: u64) -> Self {
        Self {
            limit,
            max,
            spent,
            needed,
        }
    }

    /// The error a run refused by `key`'s shortfall stops with.
    ///
    /// ```
    /// use klieo_types::{BudgetLimit, Error, KeyShortfall};
    ///
    /// let short = KeyShortfall::new(BudgetLimit::TotalTokens, 1_000, 900, 200);
    /// assert!(matches!(
    ///     short.exceeded("team-a"),
    ///     Error::KeyBudgetExceeded { ref key, max: 1_000, spent: 900, needed: 200, .. } if key == "team-a"
    /// ));
    /// ```
    pub fn exceeded(self, key: &str) -> crate::Error {
        crate::Error::KeyBudgetExceeded {
            key: key.to_owned(),
            limit: self.limit,
            max: self.max,
            spent: self.spent,
            needed: self.needed,
        }
    }
}

/// Where a key stands in one period, as one run sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyStanding {
    /// Spend settled by the journal's commits.
    pub settled: KeySpend,
    /// The live reservations of the key's other runs.
    pub reserved: KeySpend,
}

impl KeyStanding {
    /// `settled` and `reserved`.
    pub fn new(settled: KeySpend, reserved: KeySpend) -> Self {
        Self { settled, reserved }
    }

    /// Settled and reserved together.
    pub fn held(&self) -> KeySpend {
        self.settled.plus(self.reserved)
    }
}

/// A claim on a key's allowance for one run's next model call; it
/// replaces the run's earlier reservation, and lapses after its `ttl`
/// unless a commit settles it first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reservation {
    /// The key.
    pub key: String,
    /// The period's start, in seconds since the Unix epoch (0 for a key
    /// counted over all time).
    pub period: u64,
    /// The run that claims it.
    pub run: RunId,
    /// The most the call may spend.
    pub amount: KeySpend,
    /// The key's limits.
    pub limits: KeyLimits,
    /// How long the reservation holds.
    pub ttl: Duration,
}

impl Reservation {
    /// `run`'s claim of `amount` on `key` in `period`, under `limits`,
    /// for `ttl`.
    pub fn new(
        key: impl Into<String>,
        period: u64,
        run: RunId,
        amount: KeySpend,
        limits: KeyLimits,
        ttl: Duration,
    ) -> Self {
        Self {
            key: key.into(),
            period,
            run,
            amount,
            limits,
            ttl,
        }
    }
}

/// What a ledger answered a [`Reservation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved {
    /// Reserved; where the key stood before, leaving out the run's own
    /// reservation (what [`SpendLedger::standing`] would have said), so
    /// the run can size its next call without asking again.
    Granted(KeyStanding),
    /// Not reserved: the key would pass a limit.
    Refused(KeyShortfall),
}

/// A key's spend settled by a journal commit (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settlement {
    /// The key.
    pub key: String,
    /// The period the spend was reserved in.
    pub period: u64,
    /// The spend the commit's episodes record (nothing, for a commit
    /// that only gives the reservation up).
    pub spend: KeySpend,
}

impl Settlement {
    /// `spend` settled on `key` in `period`.
    pub fn new(key: impl Into<String>, period: u64, spend: KeySpend) -> Self {
        Self {
            key: key.into(),
            period,
            spend,
        }
    }
}

/// The ledger of keys' spend in a store (see the module docs). A
/// [`Journal`](crate::Journal) that keeps one returns it from
/// [`Journal::ledger`](crate::Journal::ledger), and applies each
/// commit's [`Settlement`] in the commit's transaction.
#[async_trait]
pub trait SpendLedger: Send + Sync {
    /// Reserves `reservation` (replacing its run's earlier one on the
    /// key) unless the key's settled spend and the live reservations of
    /// its other runs, with it, would pass a limit.
    async fn reserve(&self, reservation: &Reservation) -> Result<Reserved, MemoryError>;

    /// Where `key` stands in `period`, leaving out the reservation of
    /// `run` (which its next one replaces).
    async fn standing(
        &self,
        key: &str,
        period: u64,
        run: RunId,
    ) -> Result<KeyStanding, MemoryError>;
}
