//! [`ConfigError`]: a setting that is missing or cannot work.

use std::error::Error as StdError;
use std::sync::Arc;
use thiserror::Error;

/// A lower-level error behind a [`ConfigError`], shared so that the error
/// stays `Clone`.
type Cause = Arc<dyn StdError + Send + Sync>;

/// A setting is missing or invalid: the setting's name, and what to do.
///
/// A value refused by a library below (a TLS setup, an HTTP client) keeps
/// that library's error as its `source()`, never pasted into its text;
/// equality ignores it.
///
/// ```
/// use klieo_types::ConfigError;
/// use std::error::Error as _;
///
/// let e = ConfigError::invalid("RunOptions::max_steps", "0 allows no model call: use at least 1");
/// assert_eq!(
///     e.to_string(),
///     "invalid value for `RunOptions::max_steps`: 0 allows no model call: use at least 1"
/// );
/// let io = std::io::Error::other("no such file");
/// let e = ConfigError::invalid_from("tls", "the system's root certificates could not be read", io);
/// assert_eq!(e.source().map(|c| c.to_string()).as_deref(), Some("no such file"));
/// ```
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required setting was not given.
    #[error("missing setting `{name}`: {hint}")]
    Missing {
        /// The setting (an option or environment variable).
        name: String,
        /// How to provide it.
        hint: String,
    },
    /// A setting has a value that cannot work.
    #[error("invalid value for `{name}`: {reason}")]
    Invalid {
        /// The setting.
        name: String,
        /// Why the value cannot work, and the fix.
        reason: String,
        /// The lower-level error that refused it, when there is one.
        #[source]
        cause: Option<Cause>,
    },
}

impl ConfigError {
    /// A [`ConfigError::Invalid`] for the setting `name`, saying `reason`.
    pub fn invalid(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            name: name.into(),
            reason: reason.into(),
            cause: None,
        }
    }

    /// A [`ConfigError::Invalid`] for the setting `name`, saying `reason`,
    /// caused by `cause`.
    pub fn invalid_from(
        name: impl Into<String>,
        reason: impl Into<String>,
        cause: impl StdError + Send + Sync + 'static,
    ) -> Self {
        Self::Invalid {
            name: name.into(),
            reason: reason.into(),
            cause: Some(Arc::new(cause)),
        }
    }
}

impl PartialEq for ConfigError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Missing { name: a, hint: x }, Self::Missing { name: b, hint: y }) => {
                a == b && x == y
            }
            (
                Self::Invalid {
                    name: a, reason: x, ..
                },
                Self::Invalid {
                    name: b, reason: y, ..
                },
            ) => a == b && x == y,
            _ => false,
        }
    }
}

impl Eq for ConfigError {}
