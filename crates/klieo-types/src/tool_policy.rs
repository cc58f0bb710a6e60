//! [`ToolPolicy`]: how the runtime treats the calls of one tool.

use std::time::Duration;

/// How the runtime treats the calls of one tool: how long one may take,
/// whether running one twice does no harm, and whether a person must
/// approve it first. A tool says it once ([`Tool::policy`](crate::Tool::policy));
/// a [`ToolInvoker`](crate::ToolInvoker) answers it by name
/// ([`ToolInvoker::policy`](crate::ToolInvoker::policy)).
///
/// # Default
///
/// - timeout: none of its own (the run's `RunOptions::tool_timeout`, 60 s)
/// - idempotent: `false`
/// - requires approval: `false`
///
/// ```
/// use klieo_types::ToolPolicy;
/// use std::time::Duration;
///
/// let refund = ToolPolicy::new().with_approval(true);
/// assert!(refund.requires_approval() && !refund.idempotent());
/// let lookup = ToolPolicy::new()
///     .with_idempotent(true)
///     .with_timeout(Duration::from_secs(5));
/// assert_eq!(lookup.timeout(), Some(Duration::from_secs(5)));
/// assert_eq!(ToolPolicy::default(), ToolPolicy::new());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ToolPolicy {
    timeout: Option<Duration>,
    idempotent: bool,
    approval: bool,
}

impl ToolPolicy {
    /// The default policy (see the type's docs).
    pub const fn new() -> Self {
        Self {
            timeout: None,
            idempotent: false,
            approval: false,
        }
    }

    /// Sets how long one call may take, when this tool needs another bound
    /// than the run's default. A call past it is stopped (its future
    /// dropped) and becomes `ToolError::Timeout`, which the model is told.
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets whether running a call twice has the effect of running it
    /// once, given the same idempotency key
    /// (`ToolContext::idempotency_key`: run, step and call id). A run resumed after its process stopped while the
    /// tool ran runs the call again only when this is `true`; otherwise
    /// the model is told the call was interrupted and its outcome is
    /// unknown (`ToolOutcome::Interrupted`).
    pub const fn with_idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Sets whether a person must approve each call before it runs. A run
    /// that reaches such a call suspends durably and ends with
    /// `Error::Suspended`, carrying the ticket to approve or deny.
    pub const fn with_approval(mut self, required: bool) -> Self {
        self.approval = required;
        self
    }

    /// The tool's own bound on one call, if it has one.
    pub const fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Whether a call may run again with the same call id.
    pub const fn idempotent(&self) -> bool {
        self.idempotent
    }

    /// Whether a person must approve each call first.
    pub const fn requires_approval(&self) -> bool {
        self.approval
    }
}
