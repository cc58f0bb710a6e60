//! What a run's calls taught of its input's size: the next request's
//! input is the last reported one and the bound of what was added, when
//! the next request only adds to the last.

use klieo_types::InputCalibration;

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
/// reported usage, and its request's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Calibration {
    pub(crate) bound: u64,
    pub(crate) reported: u64,
    pub(crate) window: Window,
}

impl Calibration {
    /// What the log keeps of it, for a run taken up again: a window that
    /// starts at an index (a journal numbers its messages); a digest of
    /// a first message is this process's (its hasher's seed), not the
    /// log's to keep.
    pub(crate) fn logged(&self) -> Option<InputCalibration> {
        match self.window.start {
            Start::Index(first) => Some(InputCalibration::new(
                self.bound,
                first,
                self.window.summary,
            )),
            Start::Message(_) => None,
        }
    }

    /// The calibration `logged` kept of a call that reported `reported`
    /// input tokens.
    pub(crate) fn from_log(logged: InputCalibration, reported: u64) -> Self {
        Self {
            bound: logged.bound,
            reported,
            window: Window {
                start: Start::Index(logged.history_start),
                summary: logged.summary_through,
            },
        }
    }

    /// The input of a request of `window` whose bound is `bound`: what
    /// the calibrated call reported and the bound of what was added, when
    /// the request holds that call's messages (the same window); `None`
    /// otherwise (a window that moved dropped messages, whose bound says
    /// nothing of what they counted), for the request's bound.
    pub(crate) fn input(&self, bound: u64, window: Option<Window>) -> Option<u64> {
        (window == Some(self.window) && bound >= self.bound)
            .then(|| self.reported.saturating_add(bound - self.bound))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        };
        assert_eq!(learned.input(4_500, Some(window)), Some(1_500));
        assert_eq!(
            learned.input(3_000, Some(window)),
            None,
            "smaller: a new request"
        );
        let moved = Window {
            start: Start::Index(9),
            ..window
        };
        assert_eq!(learned.input(4_500, Some(moved)), None, "messages dropped");
        let summarised = Window {
            summary: Some(3),
            ..window
        };
        assert_eq!(learned.input(4_500, Some(summarised)), None);
        assert_eq!(learned.input(4_500, None), None, "a window not known");
        let by_message = Window {
            start: Start::Message(3),
            ..window
        };
        assert_eq!(
            learned.input(4_500, Some(by_message)),
            None,
            "another kind of start"
        );
    }
}
