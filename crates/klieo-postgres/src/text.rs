//! Text PostgreSQL's `text` type cannot hold as it is: the NUL
//! character, which a model may write (an answer, a summary) as well as
//! a person (a prompt). A store's JSON columns keep it escaped (`\u0000`);
//! the columns kept as plain text (a run's outcome and prompt, a thread's
//! summary) get U+FFFD in its place, where the statement would otherwise
//! fail every time it is tried.

use klieo_types::MemoryError;
use std::borrow::Cow;

/// The longest thread id or idempotency key the store keeps, in bytes:
/// each leads a B-tree key, whose entries PostgreSQL holds to 2,704
/// bytes.
pub(crate) const KEY_BYTES: usize = 2_000;

/// Whether the store can key rows by `thread`: a thread id past
/// [`KEY_BYTES`] is `MemoryError::Unsupported`, refused before anything
/// is written (every write of it would fail).
pub(crate) fn keyable(thread: &str) -> Result<(), MemoryError> {
    keyable_as("a thread id", thread)
}

/// [`keyable`] for `text`, which is `what` (an idempotency key, say): one
/// that holds a NUL, which PostgreSQL's text cannot (and which, unlike a
/// message's, cannot be replaced: two keys would be one), is refused too.
pub(crate) fn keyable_as(what: &str, text: &str) -> Result<(), MemoryError> {
    if text.contains('\0') {
        return Err(MemoryError::Unsupported(format!(
            "PostgreSQL: {what} holds a NUL character, which the store's text cannot hold; \
             use one without"
        )));
    }
    if text.len() <= KEY_BYTES {
        return Ok(());
    }
    Err(MemoryError::Unsupported(format!(
        "PostgreSQL: {what} of {} bytes is longer than the {KEY_BYTES} the store keys rows \
         by; use a shorter one (a digest of a long one)",
        text.len()
    )))
}

/// `text` as PostgreSQL can hold it: each NUL replaced by U+FFFD.
pub(crate) fn storable(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_id_past_what_a_key_holds_is_refused_saying_its_length() {
        assert!(keyable(&"t".repeat(KEY_BYTES)).is_ok());
        let long = "t".repeat(4_000);
        let refused = keyable(&long).unwrap_err().to_string();
        assert!(refused.contains("4000 bytes"), "{refused}");
        let key = keyable_as("an idempotency key", &long)
            .unwrap_err()
            .to_string();
        assert!(key.contains("an idempotency key of 4000 bytes"), "{key}");
        let nul = keyable_as("an agent's name", "sup\0port")
            .unwrap_err()
            .to_string();
        assert!(nul.contains("an agent's name holds a NUL"), "{nul}");
    }

    #[test]
    fn a_nul_becomes_the_replacement_character_and_nothing_else_changes() {
        assert_eq!(storable("a\0b\0"), "a\u{FFFD}b\u{FFFD}");
        assert!(matches!(storable("naïve 🦀"), Cow::Borrowed("naïve 🦀")));
    }
}
