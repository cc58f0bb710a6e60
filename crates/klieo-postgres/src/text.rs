//! Text PostgreSQL's `text` type cannot hold as it is: the NUL
//! character, which a model may write (an answer, a summary) as well as
//! a person (a prompt). A store's JSON columns keep it escaped (`\u0000`);
//! the columns kept as plain text (a run's outcome and prompt, a thread's
//! summary) get U+FFFD in its place, where the statement would otherwise
//! fail every time it is tried.

use std::borrow::Cow;

/// `text` as PostgreSQL can hold it: each NUL replaced by U+FFFD.
pub(crate) fn storable(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_becomes_the_replacement_character_and_nothing_else_changes() {
        assert_eq!(storable("a\0b\0"), "a\u{FFFD}b\u{FFFD}");
        assert!(matches!(storable("naïve 🦀"), Cow::Borrowed("naïve 🦀")));
    }
}
