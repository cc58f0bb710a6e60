//! Shared helpers: a distinct error per attempt, operations that record
//! when each attempt started, and schedules to compare.

use std::fmt;
use std::future::{ready, Ready};
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

/// An operation for `retry` whose attempt `n` (from 1) returns
/// `outcome(n)`. Each attempt's start time is pushed to `starts`, so
/// `starts.len()` is the number of calls.
pub fn op_with<'a, T, E>(
    starts: &'a mut Vec<Instant>,
    mut outcome: impl FnMut(usize) -> Result<T, E> + 'a,
) -> impl FnMut() -> Ready<Result<T, E>> + 'a {
    move || {
        starts.push(Instant::now());
        ready(outcome(starts.len()))
    }
}

/// An operation for `retry` that always fails: attempt `n` (from 1) fails
/// with `AttemptError { attempt: n, retryable: true }`. Each attempt's
/// start time is pushed to `starts`.
pub fn failing_op<T>(
    starts: &mut Vec<Instant>,
) -> impl FnMut() -> Ready<Result<T, AttemptError>> + '_ {
    op_with(starts, |attempt| {
        Err(AttemptError {
            attempt,
            retryable: true,
        })
    })
}

/// The gaps between consecutive attempt start times.
pub fn gaps(starts: &[Instant]) -> Vec<Duration> {
    starts.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Whole milliseconds, as a `Vec` for comparing schedules.
pub fn ms(list: &[u64]) -> Vec<Duration> {
    list.iter().copied().map(Duration::from_millis).collect()
}
