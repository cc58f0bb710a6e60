//! [`CallSpend`]: what a budgeted model call was counted as spending, and
//! what it taught about the size of its run's next requests
//! ([`InputCalibration`]), as its `llm_call` episode keeps them.

use serde::{Deserialize, Serialize};

/// What a model call of a run with a budget was counted as spending (on
/// its [`Episode::LlmCall`](crate::Episode::LlmCall)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CallSpend {
    /// Input tokens counted.
    pub input_tokens: u64,
    /// Output tokens counted.
    pub output_tokens: u64,
    /// What they cost, in millionths of a US dollar, when the budget has a
    /// cost limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_micros: Option<u64>,
    /// Whether the tokens are estimated (the server reported no usage):
    /// the reservation's input bound and the reply's size.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
    /// The tokens reserved for the call before it was made (its input's
    /// bound and the `max_tokens` it was sent with), under a token or
    /// cost limit or a key's budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_tokens: Option<u64>,
    /// What the reservation would have cost at the dearest prices, in
    /// millionths of a US dollar, when calls are priced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_cost_micros: Option<u64>,
    /// What the call taught about the size of the run's next requests,
    /// when the server reported its input: a run taken up again reserves
    /// its next call from it, as the run would have gone on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<InputCalibration>,
}

impl CallSpend {
    /// `input_tokens` and `output_tokens`, costing `cost_micros`,
    /// `estimated` or reported.
    pub fn new(
        input_tokens: u64,
        output_tokens: u64,
        cost_micros: Option<u64>,
        estimated: bool,
    ) -> Self {
        Self {
            input_tokens,
            output_tokens,
            cost_micros,
            estimated,
            reserved_tokens: None,
            reserved_cost_micros: None,
            calibration: None,
        }
    }

    /// The same, having taught the run `calibration`.
    pub fn with_calibration(mut self, calibration: InputCalibration) -> Self {
        self.calibration = Some(calibration);
        self
    }

    /// The same, reserved as `tokens` costing `cost_micros` before it
    /// was made.
    pub fn with_reserved(mut self, tokens: u64, cost_micros: Option<u64>) -> Self {
        self.reserved_tokens = Some(tokens);
        self.reserved_cost_micros = cost_micros;
        self
    }
}

/// What a model call that reported its input taught about the size of
/// its run's requests: the input's bound the call was reserved at (an
/// upper estimate, several times the server's count for prose), and
/// where the request's history began in its thread. A later request
/// whose history begins there holds the call's messages and more: its
/// input is the call's reported input (its `input_tokens`) and the bound
/// of what was added.
///
/// ```
/// use klieo_types::{CallSpend, InputCalibration};
///
/// let taught = InputCalibration::new(4_000, 12, None, 0x5eed);
/// let spend = CallSpend::new(1_000, 50, None, false).with_calibration(taught);
/// assert_eq!(spend.calibration.map(|c| c.input_bound), Some(4_000));
/// let json = serde_json::to_value(spend)?;
/// assert_eq!(json["calibration"]["history_start"], 12);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InputCalibration {
    /// The bound of the call's input, in tokens.
    pub input_bound: u64,
    /// The index in its thread of the request's first history message.
    pub history_start: u64,
    /// The thread's index of the last message the summary sent before
    /// the history covers (its `through`), when one was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_through: Option<u64>,
    /// A fingerprint of what the request held besides its history (its
    /// instructions, tools and schema) and of the model it went to: a
    /// later request is sized from this only when its own is the same
    /// (other instructions, tools or a model counting tokens its own way
    /// make this say nothing of it).
    pub besides: u64,
}

impl InputCalibration {
    /// A call reserved at `input_bound` input tokens, whose history began
    /// at `history_start`, after a summary through `summary_through`,
    /// holding besides it what `besides` fingerprints.
    pub fn new(
        input_bound: u64,
        history_start: u64,
        summary_through: Option<u64>,
        besides: u64,
    ) -> Self {
        Self {
            input_bound,
            history_start,
            summary_through,
            besides,
        }
    }
}
