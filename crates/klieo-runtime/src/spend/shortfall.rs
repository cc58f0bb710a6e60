//! A budget's limit a model call would pass: what the run's refusal says
//! of it.

use klieo_types::{BudgetLimit, Error, KeyShortfall};

/// A limit of a budget a call would pass: which limit, its value, what
/// was spent of it, and what the call needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shortfall {
    limit: BudgetLimit,
    max: u64,
    spent: u64,
    needed: u64,
}

impl Shortfall {
    pub(crate) fn new(limit: BudgetLimit, max: u64, spent: u64, needed: u64) -> Self {
        Self {
            limit,
            max,
            spent,
            needed,
        }
    }

    /// The run's error: its budget (or its caller's) exceeded.
    pub(crate) fn exceeded(self) -> Error {
        Error::BudgetExceeded {
            limit: self.limit,
            max: self.max,
            spent: self.spent,
            needed: self.needed,
        }
    }

    /// The run's error: `key`'s budget exceeded.
    pub(crate) fn key_exceeded(self, key: &str) -> Error {
        Error::KeyBudgetExceeded {
            key: key.to_owned(),
            limit: self.limit,
            max: self.max,
            spent: self.spent,
            needed: self.needed,
        }
    }
}

impl From<KeyShortfall> for Shortfall {
    fn from(short: KeyShortfall) -> Self {
        Self::new(short.limit, short.max, short.spent, short.needed)
    }
}
