//! Fitting a request to the model's context window: the system prompt,
//! the tools' schemas, the answer's schema and the room kept for the
//! reply are counted first, then the newest history that fits in what is
//! left (the memories load it, a tool call never apart from its results).
//!
//! Counts are estimates ([`Message::estimated_tokens`], which the
//! memories keep as running sums), scaled by [`FIRST_SCALE`], above the
//! most the estimate fell short of the local server's tokenizer
//! (docs/AGENTS.md, "Long conversations", has the measurements), or by
//! more when a server reports counting more: the reported input over the
//! estimate of what was sent, for the model's last request. A tenth of
//! the window is kept free besides, for the chat template's markers and
//! the estimate's error.

use klieo_types::{Error, Message, ToolDef, Transcript};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

/// Room kept for the reply of a request that asks for no `max_tokens`:
/// a quarter of the window, at most this.
pub(crate) const DEFAULT_REPLY_ROOM: u32 = 1_024;

/// The scale of the estimates before any call of the run reported its
/// usage, in thousandths: the server's tokens per estimated token.
pub(crate) const FIRST_SCALE: u64 = 1_250;

/// The least and the most the scale is taken to be, in thousandths. Never
/// under the first scale: a request's count says how its own text
/// tokenizes, and a later request may hold denser text (a JSON or digits
/// tool result after prose), so a server that counts less than the
/// estimate does not let requests grow past what the first scale allows.
/// A count far above the most is a server's error, not the estimate's.
const SCALES: (u64, u64) = (FIRST_SCALE, 8_000);

/// Estimated tokens of a request besides its messages and tools: the
/// template's opening of the reply, and a little.
const PER_REQUEST: u64 = 16;

/// What a request spends of the window besides its history, in
/// estimated tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Fixed {
    pub(crate) system: u64,
    pub(crate) tools: u64,
    pub(crate) schema: u64,
}

impl Fixed {
    fn total(&self) -> u64 {
        self.system + self.tools + self.schema + PER_REQUEST
    }
}

/// The estimated tokens of `messages`.
pub(crate) fn estimate(messages: &Transcript) -> u64 {
    messages
        .iter()
        .map(|m: &Message| m.estimated_tokens() as u64)
        .sum()
}

/// The estimated tokens of the tools' definitions, as a provider sends
/// them (see [`ToolDef::estimated_tokens`]).
fn tools_estimate(tools: &[ToolDef]) -> u64 {
    tools.iter().map(|t| t.estimated_tokens() as u64).sum()
}

/// What the runs of one model (one [`AgentContext`](crate::AgentContext)
/// and its clones) learned of it: its window, once asked, and the scale
/// its server's counts put on the estimates.
#[derive(Debug, Default)]
pub(crate) struct ModelFit {
    learned: Mutex<Learned>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Learned {
    /// The window, once the client said it.
    window: Option<u32>,
    /// The server's tokens per estimated token, in thousandths; `None`
    /// until a call reported its usage.
    scale: Option<u64>,
}

impl ModelFit {
    fn learned(&self) -> MutexGuard<'_, Learned> {
        self.learned.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The window, once the client said it.
    pub(crate) fn window(&self) -> Option<u32> {
        self.learned().window
    }

    /// The client said its window is `window` tokens.
    pub(crate) fn set_window(&self, window: u32) {
        self.learned().window = Some(window);
    }

    /// The scale of the estimates, in thousandths.
    pub(crate) fn scale(&self) -> u64 {
        self.learned().scale.unwrap_or(FIRST_SCALE)
    }

    /// A request estimated at `sent` tokens was counted `reported` by its
    /// server: the scale of the next requests.
    pub(crate) fn reported(&self, sent: u64, reported: u32) {
        if sent > 0 && reported > 0 {
            let scale = u64::from(reported).saturating_mul(1_000) / sent;
            self.learned().scale = Some(scale.clamp(SCALES.0, SCALES.1));
        }
    }
}

/// What one run keeps of its requests' fitting: the tools' estimate, the
/// estimate of the request in flight, and how long its client took to
/// answer about the window. Read on every call, so the common case (no
/// window asked about, no estimate sent) takes no lock.
#[derive(Debug, Default)]
pub(crate) struct Fit {
    /// The estimated tokens of the request in flight (0: none).
    sent: AtomicU64,
    /// Whether `asked` holds a time not yet taken.
    asking: AtomicBool,
    /// How long the client took to answer about the window, until the
    /// call it was asked for takes it (its retry budget counts it).
    asked: Mutex<Option<Duration>>,
    /// The tools' estimate, by the catalogue it was made for.
    tools: Mutex<Option<(Arc<[ToolDef]>, u64)>>,
    /// What the client said of its window when this run asked (`None`
    /// inside: it did not say), so a run asks once.
    window: OnceLock<Option<u32>>,
}

impl Fit {
    /// The tools' estimate, made once per catalogue.
    pub(crate) fn tools(&self, tools: &Arc<[ToolDef]>) -> u64 {
        let mut cached = self.tools.lock().unwrap_or_else(PoisonError::into_inner);
        match &*cached {
            Some((seen, estimate)) if Arc::ptr_eq(seen, tools) => *estimate,
            _ => {
                let estimate = tools_estimate(tools);
                *cached = Some((Arc::clone(tools), estimate));
                estimate
            }
        }
    }

    /// The request in flight is estimated at `estimate` tokens.
    pub(crate) fn sent(&self, estimate: u64) {
        self.sent.store(estimate, Ordering::Relaxed);
    }

    /// The estimate of the request in flight, taken (0 when none).
    pub(crate) fn take_sent(&self) -> u64 {
        self.sent.swap(0, Ordering::Relaxed)
    }

    /// What the client said of its window when this run asked, if it did.
    pub(crate) fn window(&self) -> Option<Option<u32>> {
        self.window.get().copied()
    }

    /// What the client said of its window to this run.
    pub(crate) fn set_window(&self, window: Option<u32>) {
        let _ = self.window.set(window);
    }

    /// The client took `took` to answer about the window.
    pub(crate) fn asked(&self, took: Duration) {
        *self.asked.lock().unwrap_or_else(PoisonError::into_inner) = Some(took);
        self.asking.store(true, Ordering::Release);
    }

    /// How long the client took to answer about the window, if no call
    /// took it yet.
    pub(crate) fn take_asked(&self) -> Option<Duration> {
        if !self.asking.swap(false, Ordering::Acquire) {
            return None;
        }
        self.asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// The estimate of a request holding `fixed` and `history` estimated
/// tokens.
pub(crate) fn estimate_of(fixed: &Fixed, history: u64) -> u64 {
    fixed.total().saturating_add(history)
}

/// The estimated tokens of history a request may hold in `window`, at
/// `scale` (thousandths), besides `fixed` and `reply` tokens kept for the
/// reply, at most `max_history`; `Error::ContextWindowExceeded` when
/// nothing is left even for no history.
pub(crate) fn history_budget(
    window: u32,
    scale: u64,
    fixed: &Fixed,
    reply: u32,
    max_history: usize,
) -> Result<usize, Error> {
    let scaled = |estimate: u64| estimate.saturating_mul(scale).div_ceil(1_000);
    let usable = u64::from(window) - u64::from(window) / 10;
    let taken = scaled(fixed.total()).saturating_add(u64::from(reply));
    if taken >= usable {
        return Err(Error::ContextWindowExceeded {
            window,
            system: scaled(fixed.system),
            tools: scaled(fixed.tools),
            schema: scaled(fixed.schema),
            reply,
        });
    }
    let left = (usable - taken).saturating_mul(1_000) / scale.max(1);
    Ok(usize::try_from(left).unwrap_or(usize::MAX).min(max_history))
}

/// The room kept for the reply in `window`: the request's `max_tokens`,
/// else a quarter of the window, at most [`DEFAULT_REPLY_ROOM`].
pub(crate) fn reply_room(window: u32, max_tokens: Option<u32>) -> u32 {
    max_tokens.unwrap_or((window / 4).min(DEFAULT_REPLY_ROOM))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn fixed(system: u64, tools: u64, schema: u64) -> Fixed {
        Fixed {
            system,
            tools,
            schema,
        }
    }

    #[test]
    fn the_history_gets_what_the_window_leaves_at_the_first_scale() {
        let model = ModelFit::default();
        // 4,096 less a tenth is 3,687; the fixed parts (100 + 16
        // estimated) scale to 145, the reply keeps 1,024: 2,518 real
        // tokens, 2,014 estimated.
        let budget = history_budget(4_096, model.scale(), &fixed(100, 0, 0), 1_024, 8_000);
        assert_eq!(budget.unwrap(), 2_014);
        let capped = history_budget(4_096, model.scale(), &fixed(100, 0, 0), 1_024, 500);
        assert_eq!(capped.unwrap(), 500, "at most max_history_tokens");
    }

    #[test]
    fn the_scale_rises_with_a_server_that_counts_more_and_never_falls_under_the_first() {
        let model = ModelFit::default();
        model.reported(1_000, 2_000);
        // At 2.0: 3,687 - 232 - 1,024 = 2,431 real tokens, 1,215
        // estimated.
        let budget = history_budget(4_096, model.scale(), &fixed(100, 0, 0), 1_024, 8_000);
        assert_eq!(budget.unwrap(), 1_215);
        model.reported(1_000, 800);
        assert_eq!(model.scale(), FIRST_SCALE, "a server counting less");
        model.reported(1_000, 100_000);
        assert_eq!(model.scale(), SCALES.1, "a count far off is bounded");
        model.reported(0, 5);
        assert_eq!(model.scale(), SCALES.1, "nothing sent, nothing learned");
    }

    #[test]
    fn a_request_that_cannot_fit_with_no_history_names_its_parts() {
        let Err(Error::ContextWindowExceeded {
            window,
            system,
            tools,
            schema,
            reply,
        }) = history_budget(1_024, FIRST_SCALE, &fixed(400, 200, 0), 256, 8_000)
        else {
            panic!("616 estimated tokens scale to 770, past 1,024 less a tenth and 256");
        };
        assert_eq!(
            (window, system, tools, schema, reply),
            (1_024, 500, 250, 0, 256)
        );
    }

    #[test]
    fn a_request_asking_no_max_tokens_keeps_a_quarter_of_the_window_up_to_1024() {
        assert_eq!(reply_room(1_024, None), 256);
        assert_eq!(reply_room(128_000, None), DEFAULT_REPLY_ROOM);
        assert_eq!(reply_room(1_024, Some(64)), 64);
    }

    #[test]
    fn the_tools_estimate_is_made_once_per_catalogue() {
        let tools: Arc<[ToolDef]> = vec![ToolDef::new(
            "echo",
            "Echoes.",
            serde_json::json!({"type": "object"}),
        )]
        .into();
        let fit = Fit::default();
        let first = fit.tools(&tools);
        assert_eq!(first, tools_estimate(&tools));
        assert!(first > 8, "more than the markers around a tool");
        assert_eq!(fit.tools(&tools), first);
        let none: Arc<[ToolDef]> = Vec::new().into();
        assert_eq!(fit.tools(&none), 0);
    }
}
