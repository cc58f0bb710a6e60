//! [`TimeLimit`]: which time limit a model call ran into.

use std::time::Duration;

/// Which time limit a [`LlmError::Timeout`](crate::LlmError::Timeout) ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeLimit {
    /// Connecting to the server.
    Connect,
    /// Waiting for the reply to start (its status and headers).
    FirstByte,
    /// Waiting for more of a streamed reply: nothing came for this long.
    Idle,
    /// The whole of a blocking call, or a request's own timeout.
    Call,
    /// The time budget of one model call and its retries (the runtime's
    /// retry policy).
    RetryBudget,
    /// The reservation of a call on its key's budget, which no longer
    /// holds the call's spend once it lapses.
    KeyReservation,
}

pub(super) fn timeout_text(limit: &TimeLimit, after: &Duration) -> String {
    let ms = after.as_millis();
    match limit {
        TimeLimit::Connect => format!(
            "could not connect to the model server within {ms} ms; check that it is up \
             and the base URL is right, or raise the connect timeout"
        ),
        TimeLimit::FirstByte => format!(
            "the model server did not start its reply within {ms} ms; retry later, or \
             raise the first-byte timeout for a server that is slow to start"
        ),
        TimeLimit::Idle => format!(
            "the streamed reply stalled: nothing more came for {ms} ms; retry later, or \
             raise the idle timeout for a model that pauses longer"
        ),
        TimeLimit::Call => format!(
            "the model call did not finish within {ms} ms; raise the request timeout, \
             or stream the reply"
        ),
        TimeLimit::RetryBudget => format!(
            "the model call and its retries used up their budget of {ms} ms; retry \
             later, or raise the retry policy's total budget (RunOptions::retry)"
        ),
        TimeLimit::KeyReservation => format!(
            "the model call outlived its {ms} ms reservation on its key's budget, which \
             no longer held its spend; raise KeyBudget::with_reservation_ttl to the longest \
             a call may take"
        ),
    }
}
