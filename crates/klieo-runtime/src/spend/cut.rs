//! The limit that lowered a call's `max_tokens`, and the refusal a reply
//! cut there stands for.

use klieo_types::{BudgetLimit, Error};

/// A budget's limit that lowered a call's `max_tokens`: a reply cut there
/// ran out of it, as a refusal of the call would have said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cut {
    limit: BudgetLimit,
    max: u64,
    spent: u64,
    needed: u64,
}

impl Cut {
    pub(crate) fn new(limit: BudgetLimit, max: u64, spent: u64, needed: u64) -> Self {
        Self {
            limit,
            max,
            spent,
            needed,
        }
    }

    /// The run's error: its budget exceeded.
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
