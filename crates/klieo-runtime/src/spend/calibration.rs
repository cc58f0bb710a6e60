//! What a run's calls taught of its input's size: the next request's
//! input is the last reported one and the bound of what was added, when
//! the next request only adds to the last.

use klieo_types::{CallSpend, InputCalibration};

/// Where a request's history starts in its thread, and the summary read
/// before it (its `through`). The thread only grows at its end, so a
/// request of the same window holds the last one's messages and more;
/// one whose window moved dropped some.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) start: Start,
    pub(crate) summary: Option<u64>,
}

/// The start of a request's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// The thread's index of its first message, from a memory that
    /// numbers them.
    Index(u64),
    /// A digest of its first message, from one that does not.
    Message(u64),
}

/// The input bound and the reported input of the last call that
/// reported usage, its request's window, and what else it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Calibration {
    pub(crate) bound: u64,
    pub(crate) reported: u64,
    pub(crate) window: Window,
    /// The [`besides`] of its request.
    pub(crate) besides: u64,
}

/// A fingerprint of a model's name (FNV-1a, the same in every process
/// and build: the log keeps it), for [`besides`].
pub(crate) fn model_fingerprint(model: &str) -> u64 {
    klieo_types::digest::fnv1a(model.bytes())
}

/// A fingerprint of what a request holds besides its history, and of the
/// model it goes to (`model`, its [`model_fingerprint`]): the bound of the
/// request's instructions, tools and schema, folded into the model's. A
/// request sized from a calibration holds what its call held and more only
/// when this is the same: other instructions or tools, or another model's
/// tokenizer, make the calibration say nothing of it.
pub(crate) fn besides(model: u64, bound_besides_history: u64) -> u64 {
    klieo_types::digest::fnv1a_from(model, bound_besides_history.to_le_bytes())
}

impl Calibration {
    /// What the log keeps of it, for a run taken up again: a window that
    /// starts at an index (a journal numbers its messages); a digest of
    /// a first message is this process's (its hasher's seed), not the
    /// log's to keep.
    pub(crate) fn to_logged(self) -> Option<InputCalibration> {
        match self.window.start {
            Start::Index(first) => Some(InputCalibration::new(
                self.bound,
                first,
                self.window.summary,
                self.besides,
            )),
            Start::Message(_) => None,
        }
    }

    /// What the log kept of a call's calibration, if it kept one: the
    /// call's input (`spent.input_tokens`) is what its server reported.
    pub(crate) fn from_logged(spent: &CallSpend) -> Option<Self> {
        let logged = spent.calibration?;
        Some(Self {
            bound: logged.input_bound,
            reported: spent.input_tokens,
            window: Window {
                start: Start::Index(logged.history_start),
                summary: logged.summary_through,
            },
            besides: logged.besides,
        })
    }

    /// The input of a request of `window` whose bound is `bound`: what
    /// the calibrated call reported and the bound of what was added, when
    /// the request holds that call's messages (the same window); `None`
    /// otherwise (a window that moved dropped messages, whose bound says
    /// nothing of what they counted), for the request's bound.
    pub(crate) fn input(&self, bound: u64, window: Option<Window>, besides: u64) -> Option<u64> {
        (window == Some(self.window) && besides == self.besides && bound >= self.bound)
            .then(|| self.reported.saturating_add(bound - self.bound))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the requests below hold besides their history.
    const SAME: u64 = 7;

    #[test]
    fn a_request_of_the_same_window_adds_to_what_was_reported() {
        let window = Window {
            start: Start::Index(3),
            summary: None,
        };
        let learned = Calibration {
            bound: 4_000,
            reported: 1_000,
            window,
            besides: SAME,
        };
        let input = |bound, window| learned.input(bound, window, SAME);
        assert_eq!(input(4_500, Some(window)), Some(1_500));
        assert_eq!(input(3_000, Some(window)), None, "smaller: a new request");
        let moved = Window {
            start: Start::Index(9),
            ..window
        };
        assert_eq!(input(4_500, Some(moved)), None, "messages dropped");
        let summarised = Window {
            summary: Some(3),
            ..window
        };
        assert_eq!(input(4_500, Some(summarised)), None);
        assert_eq!(input(4_500, None), None, "a window not known");
        let by_message = Window {
            start: Start::Message(3),
            ..window
        };
        assert_eq!(
            input(4_500, Some(by_message)),
            None,
            "another kind of start"
        );
        assert_eq!(
            learned.input(4_500, Some(window), SAME + 1),
            None,
            "other instructions, tools or model"
        );
    }

    /// The fingerprint tells models and what a request holds besides its
    /// history apart, and is the same in every process (the log keeps
    /// it): FNV-1a's published value for the empty name.
    #[test]
    fn what_a_request_holds_besides_its_history_is_fingerprinted_stably() {
        assert_eq!(model_fingerprint(""), 0xcbf2_9ce4_8422_2325);
        let (a, b) = (model_fingerprint("gpt-x"), model_fingerprint("claude-y"));
        assert_ne!(a, b);
        assert_ne!(besides(a, 100), besides(b, 100), "another model");
        assert_ne!(
            besides(a, 100),
            besides(a, 101),
            "other instructions or tools"
        );
        assert_eq!(besides(a, 100), besides(model_fingerprint("gpt-x"), 100));
    }
}
