//! The terminal mapping: how a streamed run that ends without an answer
//! reports why, as one `Err` item for the consumer and one
//! `Episode::Failed` text for the log.

use super::reply::RESPONSE_OVER_CAP;
use klieo_types::{Error, ErrorChain, LlmError};

/// The `Episode::Failed` text when the run was cancelled.
pub const CANCELLED: &str = "cancelled";
/// The `Episode::Failed` text when the consumer stopped reading.
pub const CONSUMER_DROPPED: &str = "consumer-dropped";

/// The `error.type` of the span of a blocking run whose future was
/// dropped before its end (nothing of it is recorded).
pub(crate) const DROPPED: &str = "dropped";

/// How a streamed run that did not end with an answer reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    /// The one `Err` item the consumer sees last.
    pub item: LlmError,
    /// The text of the `Episode::Failed` recorded for the run.
    pub episode: String,
}

impl Terminal {
    /// The run's own ending `cause`, told as `message`: a `Server` item
    /// that carries the cause, so it is as retryable as the cause.
    fn ended(message: String, cause: &Error) -> Self {
        Self {
            item: LlmError::ended(message.clone(), cause.clone()),
            episode: message,
        }
    }
}

/// Maps the error that ended a streamed run to its terminal item and
/// episode text. `cancel_observed` tells a cancellation through the run's
/// token (`"cancelled"`) from a consumer that went away
/// (`"consumer-dropped"`), which look alike as errors.
///
/// | ending | item (`Server` message) | episode |
/// |--------|------|---------|
/// | cancelled | `LlmError::Cancelled` | `cancelled` |
/// | consumer dropped | `LlmError::Cancelled` (nobody sees it) | `consumer-dropped` |
/// | max steps | `Server`: `max steps exceeded: N` | `max steps exceeded: N` |
/// | tool failure | `Server`: `tool: …` | `tool: …` |
/// | provider error mid-stream | the provider's `LlmError`, unchanged | its text |
/// | reply over the byte cap (`ResponseTooLarge`) | `Server`: `response exceeded max_response_bytes cap` | the same |
/// | unusable reply (`BadResponse`) | `Server`: its message | its message |
/// | guardrail refusal | `Server`: `refused: …` | `refused: …` |
/// | guardrail hand-off | `Server`: `handoff to AGENT: …` | `handoff to AGENT: …` |
/// | anything else | `Server`: its text | its text |
///
/// An episode text is cut to [`EPISODE_CHARS`] characters.
///
/// Every `Server` item in the table carries the run's error as its
/// `cause`, so it is as retryable as that error (a tool failure or max
/// steps is not) and the cause can be matched on.
///
/// ```
/// use klieo_runtime::terminal_for;
/// use klieo_types::{Error, LlmError};
///
/// let t = terminal_for(&Error::MaxStepsExceeded { steps: 4 }, false);
/// assert_eq!(t.episode, "max steps exceeded: 4");
/// assert!(matches!(t.item, LlmError::Server { .. }));
/// assert!(!t.item.retryable());
/// assert_eq!(t.item.cause(), Some(&Error::MaxStepsExceeded { steps: 4 }));
///
/// let t = terminal_for(&Error::Llm(LlmError::server("overloaded")), false);
/// assert_eq!(t.item, LlmError::server("overloaded"));
/// ```
pub fn terminal_for(error: &Error, cancel_observed: bool) -> Terminal {
    let mut terminal = terminal_of(error, cancel_observed);
    // A tool's or the model's words may run to megabytes: the log, the
    // run's state and the worker's lines keep their start.
    if terminal.episode.len() > EPISODE_CHARS {
        terminal.episode = klieo_types::text::bounded(&terminal.episode, EPISODE_CHARS);
    }
    terminal
}

/// The most characters of an `Episode::Failed` text; a longer one is cut,
/// a `…` marking the cut (the consumer's item keeps the whole).
pub const EPISODE_CHARS: usize = 4_096;

fn terminal_of(error: &Error, cancel_observed: bool) -> Terminal {
    match error {
        Error::Cancelled => Terminal {
            item: LlmError::Cancelled,
            episode: if cancel_observed {
                CANCELLED
            } else {
                CONSUMER_DROPPED
            }
            .to_owned(),
        },
        Error::MaxStepsExceeded { steps } => {
            Terminal::ended(format!("max steps exceeded: {steps}"), error)
        }
        Error::Tool(e) => Terminal::ended(format!("tool: {e}"), error),
        Error::Llm(e) => Terminal {
            item: e.clone(),
            episode: e.to_string(),
        },
        Error::BadResponse(message) => Terminal::ended(message.clone(), error),
        Error::ResponseTooLarge { .. } => Terminal::ended(RESPONSE_OVER_CAP.to_owned(), error),
        Error::Refused { reason } => Terminal::ended(format!("refused: {reason}"), error),
        Error::Handoff { agent, reason } => {
            Terminal::ended(format!("handoff to {agent}: {reason}"), error)
        }
        // The log is read by people: a backend's failure says the driver's
        // words too, which its error keeps as its source.
        Error::Memory(e) => Terminal::ended(ErrorChain(e).to_string(), error),
        other => Terminal::ended(other.to_string(), other),
    }
}

#[cfg(test)]
mod tests {
    //! One test per line of the terminal-error contract.
    use super::*;
    use klieo_types::ToolError;
    use std::time::Duration;

    /// The item is a `Server` error with `message` and a cause, and is
    /// not retryable (no cause in these tests is).
    fn assert_ended(item: &LlmError, message: &str) {
        assert!(
            matches!(item, LlmError::Server { message: m, cause: Some(_), .. } if m == message),
            "{item:?}"
        );
        assert!(!item.retryable(), "{item:?}");
        assert!(
            std::error::Error::source(item).is_some(),
            "the cause is the source"
        );
    }

    #[test]
    fn cancellation_maps_to_cancelled_item_and_cancelled_episode() {
        let t = terminal_for(&Error::Cancelled, true);
        assert_eq!(t.item, LlmError::Cancelled);
        assert_eq!(t.episode, "cancelled");
    }

    #[test]
    fn consumer_dropped_maps_to_consumer_dropped_episode() {
        let t = terminal_for(&Error::Cancelled, false);
        assert_eq!(t.item, LlmError::Cancelled);
        assert_eq!(t.episode, "consumer-dropped");
    }

    /// A provider's own `Cancelled` (its client gave up) is a provider
    /// error like any other: no consumer went away.
    #[test]
    fn a_providers_own_cancellation_is_told_in_its_words() {
        let t = terminal_for(&Error::Llm(LlmError::Cancelled), false);
        assert_eq!(t.item, LlmError::Cancelled);
        assert_eq!(t.episode, LlmError::Cancelled.to_string());
        assert_ne!(t.episode, "consumer-dropped");
    }

    #[test]
    fn max_steps_exceeded_maps_to_server_item_with_step_count() {
        let t = terminal_for(&Error::MaxStepsExceeded { steps: 3 }, false);
        assert_ended(&t.item, "max steps exceeded: 3");
        assert_eq!(t.episode, "max steps exceeded: 3");
    }

    #[test]
    fn tool_failure_maps_to_server_item_prefixed_with_tool() {
        let t = terminal_for(
            &Error::Tool(ToolError::Permanent("disk full".into())),
            false,
        );
        assert_eq!(t.episode, "tool: disk full");
        assert_ended(&t.item, "tool: disk full");
    }

    #[test]
    fn a_tools_huge_failure_is_cut_in_the_episode_and_whole_in_the_item() {
        let said = format!("tool: {}", "x".repeat(1 << 20));
        let huge = Error::Tool(ToolError::Permanent(said["tool: ".len()..].to_owned()));
        let t = terminal_for(&huge, false);
        assert_eq!(
            t.episode.chars().count(),
            EPISODE_CHARS + 1,
            "cut, with its mark"
        );
        assert!(t.episode.starts_with("tool: xxx") && t.episode.ends_with('…'));
        assert_ended(&t.item, &said);
    }

    #[test]
    fn mid_stream_provider_error_keeps_its_own_variant() {
        let rate = LlmError::rate_limit("slow down", Some(Duration::from_millis(1500)));
        let t = terminal_for(&Error::Llm(rate.clone()), false);
        assert_eq!(t.item, rate);
        assert_eq!(t.episode, rate.to_string());
        let t = terminal_for(&Error::Llm(LlmError::network("reset")), false);
        assert_eq!(t.item, LlmError::network("reset"));
    }

    #[test]
    fn byte_cap_maps_to_server_item_naming_the_cap() {
        let t = terminal_for(&Error::ResponseTooLarge { limit: 5 }, false);
        assert_eq!(
            t.item.to_string(),
            "response exceeded max_response_bytes cap"
        );
        assert_eq!(t.episode, "response exceeded max_response_bytes cap");
    }

    #[test]
    fn refusal_maps_to_server_item_prefixed_with_refused() {
        let t = terminal_for(
            &Error::Refused {
                reason: "denied keyword".into(),
            },
            false,
        );
        assert_eq!(t.episode, "refused: denied keyword");
        assert_ended(&t.item, "refused: denied keyword");
    }

    #[test]
    fn handoff_maps_to_server_item_naming_the_agent() {
        let t = terminal_for(
            &Error::Handoff {
                agent: "billing".into(),
                reason: "invoice question".into(),
            },
            false,
        );
        assert_eq!(t.episode, "handoff to billing: invoice question");
    }

    #[test]
    fn a_backends_failure_tells_the_log_the_drivers_words() {
        let io = std::io::Error::other("disk full");
        let e = Error::Memory(klieo_types::MemoryError::backend_from(
            "store: appending",
            io,
        ));
        let t = terminal_for(&e, false);
        assert_eq!(
            t.episode,
            "memory backend failed: store: appending: disk full"
        );
        assert_ended(&t.item, &t.episode);
    }

    #[test]
    fn other_errors_fall_through_to_server_with_their_text() {
        let e = Error::Config(klieo_types::ConfigError::Invalid {
            name: "x".into(),
            reason: "y".into(),
            cause: None,
        });
        let text = e.to_string();
        let t = terminal_for(&e, false);
        assert_eq!(t.episode, text);
        assert_ended(&t.item, &text);
    }
}
