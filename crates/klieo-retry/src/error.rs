//! The error [`retry`](crate::retry) returns: cancelled, or the last failure.

/// Why [`retry`](crate::retry) gave up.
///
/// `Failed` holds the operation's own last error, unchanged; its
/// `Display` and `source()` are that error's, since this layer adds
/// nothing to it.
///
/// ```
/// use klieo_retry::RetryError;
///
/// let err: RetryError<std::io::Error> = RetryError::Failed(std::io::ErrorKind::TimedOut.into());
/// assert_eq!(err.to_string(), "timed out");
/// let err = err.map(|e| e.kind());
/// assert_eq!(err.into_inner(), Some(std::io::ErrorKind::TimedOut));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetryError<E> {
    /// The cancellation token fired before an attempt, during one (the
    /// attempt was dropped), or during a backoff sleep.
    #[error("retry cancelled")]
    Cancelled,
    /// The last attempt's error: the classifier said stop, the retries or
    /// the budget ran out, or the server asked for too long a delay.
    #[error(transparent)]
    Failed(E),
}

impl<E> RetryError<E> {
    /// The operation's last error, or `None` if the retry was cancelled.
    ///
    /// ```
    /// use klieo_retry::RetryError;
    ///
    /// assert_eq!(RetryError::Failed("boom").into_inner(), Some("boom"));
    /// assert_eq!(RetryError::<&str>::Cancelled.into_inner(), None);
    /// ```
    pub fn into_inner(self) -> Option<E> {
        match self {
            Self::Failed(e) => Some(e),
            Self::Cancelled => None,
        }
    }

    /// Whether the retry ended because it was cancelled.
    ///
    /// ```
    /// use klieo_retry::RetryError;
    ///
    /// assert!(RetryError::<()>::Cancelled.is_cancelled());
    /// assert!(!RetryError::Failed(()).is_cancelled());
    /// ```
    pub const fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled)
    }

    /// Converts the held error with `f`, keeping `Cancelled` as it is; for
    /// folding into a caller's own error type.
    ///
    /// ```
    /// use klieo_retry::RetryError;
    ///
    /// let err = RetryError::Failed(404_u16).map(|status| format!("HTTP {status}"));
    /// assert_eq!(err.into_inner().as_deref(), Some("HTTP 404"));
    /// ```
    pub fn map<F>(self, f: impl FnOnce(E) -> F) -> RetryError<F> {
        match self {
            Self::Failed(e) => RetryError::Failed(f(e)),
            Self::Cancelled => RetryError::Cancelled,
        }
    }
}
