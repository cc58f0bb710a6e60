//! Compaction: when a thread's history grows past a share of what a
//! request may hold, its older messages are summarised into one, which
//! later requests read in their place.
//!
//! A run with a [`Compaction`] (see
//! [`RunOptions::with_compaction`](crate::RunOptions::with_compaction))
//! checks, as it builds each request, how much of the history budget the
//! thread's history takes (its latest summary and the messages after it).
//! Past [`Compaction::trigger_percent`], its [`Compactor`] summarises the
//! older messages (the newest [`Compaction::keep_percent`] stay as they
//! are, and a tool call stays with its results); the summary is kept
//! beside the thread's messages, which are not deleted, in the same commit
//! as the run's [`Episode::Compacted`](klieo_types::Episode::Compacted),
//! so a resumed run and every later run on the thread read the same
//! history. A compaction that fails (the model call, an empty summary, a
//! store that keeps no summaries, another run that summarised the thread
//! first) is recorded as
//! [`Episode::CompactionFailed`](klieo_types::Episode::CompactionFailed)
//! and leaves the history as it was; the run goes on with plain fitting
//! and does not try again.
//!
//! [`Summarize`] is the strategy built in: one call to the run's own model.

mod summarize;
pub(crate) use summarize::cut_marked;

pub use summarize::{Summarize, DEFAULT_INSTRUCTIONS};

use async_trait::async_trait;
use klieo_types::{ConfigError, LlmClient, LlmError, MemoryError, Transcript, Usage};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What a [`Compactor`] summarises.
#[non_exhaustive]
pub struct CompactionInput<'a> {
    /// The thread's summary so far, which the new one replaces too.
    pub previous: Option<&'a str>,
    /// The messages to summarise, oldest first: whole turns (a tool call
    /// with its results).
    pub messages: &'a Transcript,
    /// The run's model client.
    pub llm: &'a dyn LlmClient,
}

impl<'a> CompactionInput<'a> {
    /// `messages` after `previous`, for a strategy that may call `llm`.
    pub fn new(
        previous: Option<&'a str>,
        messages: &'a Transcript,
        llm: &'a dyn LlmClient,
    ) -> Self {
        Self {
            previous,
            messages,
            llm,
        }
    }
}

/// A summary a [`Compactor`] made, and what its model call used.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Summarized {
    /// The summary's text.
    pub text: String,
    /// What the model call reported using, if it made one and was told.
    pub usage: Option<Usage>,
}

impl Summarized {
    /// A summary of `text`, with `usage` if a model call made it.
    pub fn new(text: impl Into<String>, usage: Option<Usage>) -> Self {
        Self {
            text: text.into(),
            usage,
        }
    }
}

/// A strategy that summarises a thread's older messages.
///
/// ```
/// use klieo_runtime::compaction::{CompactionError, CompactionInput, Compactor, Summarized};
///
/// /// Keeps the first line of every message, with no model call.
/// struct FirstLines;
///
/// #[klieo_types::async_trait]
/// impl Compactor for FirstLines {
///     async fn summarize(&self, input: CompactionInput<'_>) -> Result<Summarized, CompactionError> {
///         let mut text = input.previous.unwrap_or_default().to_owned();
///         for message in input.messages {
///             text.push_str(message.content.lines().next().unwrap_or_default());
///             text.push('\n');
///         }
///         Ok(Summarized::new(text, None))
///     }
/// }
/// ```
#[async_trait]
pub trait Compactor: Send + Sync {
    /// Summarises `input.messages`, after `input.previous`, into text a
    /// model reads in their place. An empty summary is refused as
    /// [`CompactionError::EmptySummary`].
    async fn summarize(&self, input: CompactionInput<'_>) -> Result<Summarized, CompactionError>;

    /// Checks the strategy's settings, for
    /// [`Compaction::validate`] (and so `RunOptions::validate` and the
    /// agent's build). The default accepts.
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }

    /// What each of its model calls spends of the window besides the
    /// messages it is given, the summary so far and its reply, in estimated
    /// tokens ([`Message::estimated_tokens`](klieo_types::Message::estimated_tokens)):
    /// its instructions and the request's frame. With
    /// [`reply_tokens`](Self::reply_tokens), what its calls spend past the
    /// run's own request comes out of the chunks it is given, so its calls
    /// fit where the run's do. The default, 0, is for a strategy that
    /// calls no model.
    fn overhead_tokens(&self) -> usize {
        0
    }

    /// The room each of its model calls keeps for its reply, in the
    /// server's tokens (its `max_tokens`). The default, 0, is for a
    /// strategy that calls no model.
    fn reply_tokens(&self) -> u32 {
        0
    }
}

/// Why a compaction did not happen. The run goes on with its history as
/// it was; the reason is recorded as
/// [`Episode::CompactionFailed`](klieo_types::Episode::CompactionFailed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompactionError {
    /// The model call that makes the summary failed.
    #[error("the model call that summarises the thread failed")]
    Model(#[source] LlmError),
    /// The strategy gave an empty summary.
    #[error("the summary came back empty, so it cannot stand for the messages it would replace")]
    EmptySummary,
    /// The strategy took longer than [`Compaction::timeout`].
    #[error("summarising the thread took longer than {after:?}; raise Compaction::with_timeout if the model is slow")]
    TimedOut {
        /// The limit.
        after: Duration,
    },
    /// The run was cancelled while the thread was being summarised.
    #[error("the run was cancelled while its thread was being summarised")]
    Cancelled,
    /// The store did not keep the summary (it keeps none, or another run
    /// summarised the thread first).
    #[error("the store did not keep the summary")]
    Store(#[source] MemoryError),
    /// The summary is longer than the history budget leaves beside the
    /// messages kept: a request could not hold both.
    #[error("the summary takes about {tokens} tokens, more than the {max} the history budget leaves beside the messages kept; ask the strategy for a shorter one")]
    SummaryTooLarge {
        /// The summary's estimated tokens.
        tokens: u64,
        /// The most it may take.
        max: u64,
    },
    /// A strategy's own failure.
    #[error("the compaction strategy failed")]
    Strategy(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl CompactionError {
    /// A short name for the kind of failure (`error.type` on the
    /// compaction's span): `model`, `empty_summary`, `timed_out`,
    /// `cancelled`, `store`, `summary_too_large` or `strategy`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Model(_) => "model",
            Self::EmptySummary => "empty_summary",
            Self::TimedOut { .. } => "timed_out",
            Self::Cancelled => "cancelled",
            Self::Store(_) => "store",
            Self::SummaryTooLarge { .. } => "summary_too_large",
            Self::Strategy(_) => "strategy",
        }
    }
}

/// How a run compacts its thread: which [`Compactor`], when, and how
/// much it keeps.
///
/// Defaults (`Compaction::new`):
/// - `trigger_percent`: 75: compact when the history read (summary and
///   messages) takes three quarters of the request's history budget (the
///   room the model's window leaves, or `max_history_tokens`)
/// - `keep_percent`: 25: the newest quarter of that budget stays as it is
///   (at least the newest turn)
/// - `timeout`: 60 s for each call of the strategy (a thread long since
///   its last summary is summarised in several, each a chunk that fits
///   the history budget)
///
/// ```
/// use klieo_runtime::compaction::{Compaction, Summarize};
/// use klieo_runtime::RunOptions;
/// use klieo_types::ConfigError;
///
/// let opts = RunOptions::default()
///     .with_compaction(Compaction::new(Summarize::new()).with_trigger_percent(60));
/// assert!(opts.validate().is_ok());
///
/// let backwards = Compaction::new(Summarize::new()).with_keep_percent(80);
/// let opts = RunOptions::default().with_compaction(backwards);
/// assert!(matches!(opts.validate(), Err(ConfigError::Invalid { .. })));
/// ```
#[derive(Clone)]
pub struct Compaction {
    compactor: Arc<dyn Compactor>,
    trigger_percent: u8,
    keep_percent: u8,
    timeout: Duration,
}

impl Compaction {
    /// Compaction by `compactor`, with the defaults above.
    pub fn new(compactor: impl Compactor + 'static) -> Self {
        Self {
            compactor: Arc::new(compactor),
            trigger_percent: 75,
            keep_percent: 25,
            timeout: Duration::from_secs(60),
        }
    }

    /// Sets [`trigger_percent`](Self::trigger_percent).
    pub fn with_trigger_percent(mut self, percent: u8) -> Self {
        self.trigger_percent = percent;
        self
    }

    /// Sets [`keep_percent`](Self::keep_percent).
    pub fn with_keep_percent(mut self, percent: u8) -> Self {
        self.keep_percent = percent;
        self
    }

    /// Sets [`timeout`](Self::timeout).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The share of the history budget, in percent, at which the thread
    /// is compacted.
    pub fn trigger_percent(&self) -> u8 {
        self.trigger_percent
    }

    /// The share of the history budget, in percent, of newest messages
    /// kept as they are.
    pub fn keep_percent(&self) -> u8 {
        self.keep_percent
    }

    /// The longest the strategy may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The strategy.
    pub fn compactor(&self) -> &dyn Compactor {
        &*self.compactor
    }

    /// Checks the values: a trigger from 1 to 100 percent, a share kept
    /// below it, a timeout above zero, and the strategy's own
    /// ([`Compactor::validate`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.compactor.validate()?;
        let invalid = |name: &str, reason: String| {
            Err(ConfigError::invalid(format!("Compaction::{name}"), reason))
        };
        if !(1..=100).contains(&self.trigger_percent) {
            return invalid(
                "trigger_percent",
                format!(
                    "{} is not a share of the history budget: use 1 to 100 (the default is 75)",
                    self.trigger_percent
                ),
            );
        }
        if self.keep_percent >= self.trigger_percent {
            return invalid(
                "keep_percent",
                format!(
                    "{} keeps at least the {} percent that triggers compaction, so nothing \
                     would be summarised: keep less than the trigger (the defaults are 25 and 75)",
                    self.keep_percent, self.trigger_percent
                ),
            );
        }
        if self.timeout.is_zero() {
            return invalid(
                "timeout",
                "0 s would time every summary out before it starts: use the longest a \
                 summary may take (the default is 60 s)"
                    .into(),
            );
        }
        Ok(())
    }

    /// The tokens of history at which a budget of `budget` compacts.
    pub(crate) fn trigger(&self, budget: usize) -> usize {
        budget.saturating_mul(usize::from(self.trigger_percent)) / 100
    }

    /// The tokens of newest history a budget of `budget` keeps.
    pub(crate) fn keep(&self, budget: usize) -> usize {
        budget.saturating_mul(usize::from(self.keep_percent)) / 100
    }
}

impl fmt::Debug for Compaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compaction")
            .field("trigger_percent", &self.trigger_percent)
            .field("keep_percent", &self.keep_percent)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `error` and its causes, as one line for the run's log.
pub(crate) fn reason(error: &CompactionError) -> String {
    klieo_types::ErrorChain(error).to_string()
}
