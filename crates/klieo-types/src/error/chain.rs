//! [`ErrorChain`]: an error and each of its causes, as one line.

use std::error::Error as StdError;
use std::fmt;

/// Shows an error and each of its causes ([`source()`](StdError::source)),
/// joined by `: `, for a person to read in one line: a log, a terminal, a
/// recorded failure. klieo's errors say their own layer's words in
/// `Display` and keep the cause as their source, so showing only the
/// outer error drops what a driver or a parser said. A cause whose words
/// the line already ends with (an error of another library that repeats
/// its source at the end of its own text) is not said twice.
///
/// ```
/// use klieo_types::{ErrorChain, MemoryError};
///
/// let io = std::io::Error::other("disk full");
/// let error = MemoryError::backend_from("could not append to the thread", io);
/// assert_eq!(
///     ErrorChain(&error).to_string(),
///     format!("{error}: disk full"),
/// );
/// ```
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn StdError + 'a));

impl ErrorChain<'_> {
    /// The text of the error and of each of its causes, outermost first,
    /// each as it says it (none left out): to show the chain as a list,
    /// or to check that no layer repeats another's words.
    ///
    /// ```
    /// use klieo_types::{ErrorChain, MemoryError};
    ///
    /// let io = std::io::Error::other("disk full");
    /// let error = MemoryError::backend_from("could not append to the thread", io);
    /// assert_eq!(ErrorChain(&error).texts(), [error.to_string(), "disk full".to_owned()]);
    /// ```
    pub fn texts(&self) -> Vec<String> {
        let mut texts = vec![self.0.to_string()];
        let mut cause = self.0.source();
        while let Some(c) = cause {
            texts.push(c.to_string());
            cause = c.source();
        }
        texts
    }
}

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(c) = cause {
            let text = c.to_string();
            if !line.ends_with(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            cause = c.source();
        }
        f.pad(&line)
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("middle")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn texts_hold_every_cause_even_one_the_line_repeats() {
        let error = Repeats(std::io::Error::other("refused"));
        assert_eq!(
            ErrorChain(&error).texts(),
            ["could not connect: refused", "refused"]
        );
    }

    #[test]
    fn every_cause_follows_in_order() {
        let error = Outer(Middle(std::io::Error::other("inner")));
        assert_eq!(ErrorChain(&error).to_string(), "outer: middle: inner");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("could not connect: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn a_cause_the_line_already_holds_is_not_said_twice() {
        let error = Repeats(std::io::Error::other("refused"));
        assert_eq!(ErrorChain(&error).to_string(), "could not connect: refused");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("the call timed out after 30 s")]
    struct Quotes(#[source] Short);

    #[derive(Debug, thiserror::Error)]
    #[error("timed out")]
    struct Short;

    #[test]
    fn a_cause_quoted_inside_the_line_is_still_said() {
        let error = Quotes(Short);
        assert_eq!(
            ErrorChain(&error).to_string(),
            "the call timed out after 30 s: timed out"
        );
    }

    #[test]
    fn an_error_without_a_cause_is_its_own_text() {
        let error = std::io::Error::other("alone");
        assert_eq!(ErrorChain(&error).to_string(), "alone");
    }
}
