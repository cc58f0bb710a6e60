//! Shared helpers: a distinct error per attempt, and attempt timestamps.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

/// An error that remembers which attempt (1-based) produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptError {
    /// Which attempt failed, from 1.
    pub attempt: usize,
    /// Whether the classifier should retry it.
    pub retryable: bool,
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt {} failed", self.attempt)
    }
}

impl std::error::Error for AttemptError {}

/// The gaps between consecutive attempt start times.
pub fn gaps(starts: &[Instant]) -> Vec<Duration> {
    starts.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Whole milliseconds, as a `Vec` for comparing schedules.
pub fn ms(list: &[u64]) -> Vec<Duration> {
    list.iter().copied().map(Duration::from_millis).collect()
}
