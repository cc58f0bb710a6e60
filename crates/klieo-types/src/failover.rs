//! What a client made of several providers says of the ones it passed
//! over: each [`ProviderSwitch`] on the reply that a later provider gave
//! ([`ReplyInfo::switches`](crate::ReplyInfo::switches)), and each
//! [`ProviderFailure`] when every provider failed
//! ([`LlmError::AllProvidersFailed`](crate::LlmError::AllProvidersFailed)).

use crate::LlmError;

/// A call moved from one provider to the next: why, in words (the first
/// provider's error, or what the request needs that it lacks).
///
/// ```
/// use klieo_types::ProviderSwitch;
///
/// let switch = ProviderSwitch::new("openai", "llama", "the model server failed (HTTP 503)");
/// assert_eq!(switch.to_string(), "openai → llama: the model server failed (HTTP 503)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderSwitch {
    /// The provider passed over.
    pub from: String,
    /// The provider tried next.
    pub to: String,
    /// Why `from` was passed over.
    pub reason: String,
}

impl ProviderSwitch {
    /// A switch from `from` to `to`, for `reason`.
    pub fn new(from: impl Into<String>, to: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for ProviderSwitch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} → {}: {}", self.from, self.to, self.reason)
    }
}

/// One provider's failure in a call that every provider failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderFailure {
    /// The provider's name.
    pub provider: String,
    /// How its call failed.
    pub error: LlmError,
}

impl ProviderFailure {
    /// `provider` failed with `error`.
    pub fn new(provider: impl Into<String>, error: LlmError) -> Self {
        Self {
            provider: provider.into(),
            error,
        }
    }
}

/// `AllProvidersFailed`'s text: each provider and its error, in order.
pub(crate) fn all_failed_text(failures: &[ProviderFailure]) -> String {
    let each: Vec<String> = failures
        .iter()
        .map(|f| format!("{}: {}", f.provider, f.error))
        .collect();
    format!(
        "every provider of the fallback list failed ({}); retry later, or add a provider",
        each.join("; ")
    )
}
