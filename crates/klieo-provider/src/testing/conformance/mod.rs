//! The provider conformance suite: the scenarios every HTTP provider must
//! get right, each served by a loopback [`RawServer`](super::RawServer) in
//! the provider's own wire format, which the provider's test describes
//! with a [`Wire`].
//!
//! A provider's test crate invokes [`suite!`] with its `Wire`: it expands
//! to one `#[tokio::test(start_paused = true)]` per scenario, named after
//! it (the three tool-call [`Habit`]s are three tests), so a failure names
//! its scenario and never hides the others. The test crate needs `tokio`
//! with its `macros`, `rt` and `test-util` features. Paused time lets the
//! stalled-body scenario wait out the client's idle limit at once.
//!
//! ```text
//! struct MyWire;
//! impl klieo_provider::testing::conformance::Wire for MyWire { /* … */ }
//!
//! klieo_provider::testing::conformance::suite!(MyWire);
//! ```

mod scenarios;
mod statuses;
mod whole;

use klieo_types::{LlmClient, ToolCall, Usage};
use std::time::Duration;

pub use scenarios::{
    a_blocking_reply_is_whole, a_large_tool_call_streams_whole,
    a_stalled_body_is_cut_at_the_idle_limit, a_stream_cut_after_its_first_event_is_interrupted,
    a_stream_cut_before_its_first_event_is_retryable, an_error_event_mid_stream_is_a_typed_error,
    blocking_tool_calls, streamed_tool_calls_come_whole, streamed_tool_calls_whole,
    streamed_tool_calls_with_id_and_name_in_every_fragment,
    streamed_tool_calls_with_id_and_name_once, text_streams_as_it_comes, the_key_never_shows,
};
pub use statuses::{
    retry_after_ms_reaches_the_error, retry_after_reaches_the_error,
    should_retry_false_wins_over_a_server_error, should_retry_true_wins_over_a_bad_request,
    status_400_is_a_bad_request, status_401_is_unauthorized, status_403_is_unauthorized,
    status_404_is_a_bad_request, status_413_is_a_bad_request, status_429_is_a_retryable_rate_limit,
    status_500_is_a_retryable_server_error, status_503_is_a_retryable_server_error,
    status_529_is_a_retryable_server_error,
};
pub use whole::{
    a_whole_reply_to_a_stream_is_one_chunk_of_it,
    an_error_object_with_a_2xx_status_is_the_error_it_says,
};

/// The API key the suite's clients hold: it must never show.
pub const KEY: &str = "sk-conformance-SECRET-0123456789";

/// The idle limit the suite's clients are built with.
pub const IDLE: Duration = Duration::from_secs(5);

/// How a server sends a streamed tool call's pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Habit {
    /// The id and name once, then the arguments in several fragments
    /// (OpenAI, Anthropic).
    IdAndNameOnce,
    /// The id and name again in every fragment (llama.cpp's server).
    IdAndNameInEveryFragment,
    /// Each call whole in one fragment.
    Whole,
}

/// How a provider's wire says what the suite serves. Every text is the
/// body as the server sends it: for a stream, whole events (each ending
/// in a blank line), so the suite can cut between them.
pub trait Wire: Send + Sync {
    /// The provider's client.
    type Client: LlmClient + std::fmt::Debug;

    /// A client of this provider whose base URL is `base` (the server's
    /// `http://127.0.0.1:PORT`, to which the provider adds its path), with
    /// `key` as its API key and `idle` as its idle limit.
    fn client(&self, base: &str, key: &str, idle: Duration) -> Self::Client;

    /// A streamed reply: `pieces` as text deltas, then the end of the
    /// answer (a `stop` or `end_turn`) with `usage`.
    fn text_stream(&self, pieces: &[&str], usage: Usage) -> String;

    /// The opening of a streamed reply, up to and including one text
    /// delta of `text`, with no end.
    fn opening(&self, text: &str) -> String;

    /// A streamed reply calling `calls` in parallel, sent in `habit`, each
    /// call's arguments in three fragments unless the habit says whole.
    fn tool_call_stream(&self, calls: &[ToolCall], habit: Habit) -> String;

    /// A whole reply with `text` and `usage`.
    fn text_reply(&self, text: &str, usage: Usage) -> String;

    /// A whole reply calling `calls`.
    fn tool_call_reply(&self, calls: &[ToolCall]) -> String;

    /// The body of an error status, carrying `message`.
    fn error_body(&self, status: u16, message: &str) -> String;

    /// An error event sent mid-stream for an overloaded or failing server,
    /// carrying `message`.
    fn error_event(&self, message: &str) -> String;
}

/// `text` in three fragments, cut at character boundaries (fewer for a
/// text too short), for [`Wire::tool_call_stream`].
pub fn thirds(text: &str) -> Vec<&str> {
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let at = |n: usize| {
        bounds
            .get(bounds.len() * n / 3)
            .copied()
            .unwrap_or(text.len())
    };
    let (a, b) = (at(1), at(2));
    [&text[..a], &text[a..b], &text[b..]]
        .into_iter()
        .filter(|piece| !piece.is_empty())
        .collect()
}

/// Expands to one `#[tokio::test(start_paused = true)]` per conformance
/// scenario, each named after the scenario's function in this module and
/// running it against `$wire` (an expression, evaluated in each test).
#[doc(hidden)]
#[macro_export]
macro_rules! __klieo_provider_conformance_suite {
    ($wire:expr) => {
        $crate::__klieo_provider_conformance_suite!(@each $wire;
            text_streams_as_it_comes,
            a_blocking_reply_is_whole,
            streamed_tool_calls_with_id_and_name_once,
            streamed_tool_calls_with_id_and_name_in_every_fragment,
            streamed_tool_calls_whole,
            a_large_tool_call_streams_whole,
            blocking_tool_calls,
            status_400_is_a_bad_request,
            status_401_is_unauthorized,
            status_403_is_unauthorized,
            status_404_is_a_bad_request,
            status_413_is_a_bad_request,
            status_429_is_a_retryable_rate_limit,
            status_500_is_a_retryable_server_error,
            status_503_is_a_retryable_server_error,
            status_529_is_a_retryable_server_error,
            retry_after_reaches_the_error,
            retry_after_ms_reaches_the_error,
            should_retry_false_wins_over_a_server_error,
            should_retry_true_wins_over_a_bad_request,
            the_key_never_shows,
            a_stream_cut_before_its_first_event_is_retryable,
            a_stream_cut_after_its_first_event_is_interrupted,
            an_error_event_mid_stream_is_a_typed_error,
            a_stalled_body_is_cut_at_the_idle_limit,
            a_whole_reply_to_a_stream_is_one_chunk_of_it,
            an_error_object_with_a_2xx_status_is_the_error_it_says,
        );
    };
    (@each $wire:expr; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(start_paused = true)]
            async fn $scenario() {
                $crate::testing::conformance::$scenario(&$wire).await;
            }
        )*
    };
}

#[doc(inline)]
pub use crate::__klieo_provider_conformance_suite as suite;
