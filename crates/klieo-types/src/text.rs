//! Cutting text to a length: the one place every layer cuts untrusted
//! text (a server's error body, a tool's result, a model's name for a
//! tool) before it keeps or shows it, by characters or by bytes, never
//! inside a character.

/// The first `limit` characters of `text`, or all of it.
///
/// ```
/// use klieo_types::text::prefix_chars;
///
/// assert_eq!(prefix_chars("héllo", 2), "hé");
/// assert_eq!(prefix_chars("hi", 5), "hi");
/// ```
pub fn prefix_chars(text: &str, limit: usize) -> &str {
    match text.char_indices().nth(limit) {
        Some((end, _)) => text.get(..end).unwrap_or_default(),
        None => text,
    }
}

/// The longest start of `text` of at most `limit` bytes that ends
/// between two characters.
///
/// ```
/// use klieo_types::text::prefix_bytes;
///
/// assert_eq!(prefix_bytes("héllo", 2), "h"); // `é` is two bytes
/// assert_eq!(prefix_bytes("héllo", 3), "hé");
/// assert_eq!(prefix_bytes("hi", 5), "hi");
/// ```
pub fn prefix_bytes(text: &str, limit: usize) -> &str {
    let mut end = limit.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

/// At most `limit` characters of `text`, marked with `…` when cut.
///
/// ```
/// use klieo_types::text::bounded;
///
/// assert_eq!(bounded("héllo", 2), "hé…");
/// assert_eq!(bounded("hi", 2), "hi");
/// ```
pub fn bounded(text: &str, limit: usize) -> String {
    cut(text, limit).into_owned()
}

/// [`bounded`], copying only a text it cuts.
///
/// ```
/// use klieo_types::text::cut;
/// use std::borrow::Cow;
///
/// assert_eq!(cut("héllo", 2), "hé…");
/// assert!(matches!(cut("hi", 2), Cow::Borrowed("hi")));
/// ```
pub fn cut(text: &str, limit: usize) -> std::borrow::Cow<'_, str> {
    // No more bytes than `limit`: no more characters either.
    if text.len() <= limit {
        return std::borrow::Cow::Borrowed(text);
    }
    let kept = prefix_chars(text, limit);
    match kept.len() < text.len() {
        true => std::borrow::Cow::Owned(format!("{kept}…")),
        false => std::borrow::Cow::Borrowed(text),
    }
}

/// FNV-1a (64 bits) of `bytes`: the same digest in every process and
/// every version of klieo, which what is kept or sent is built on (a
/// ticket's digest of its call, a child run's id, a call id made short
/// for a provider).
///
/// ```
/// assert_eq!(klieo_types::text::fnv1a(*b"a"), 0xaf63_dc4c_8601_ec8c);
/// ```
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_never_splits_a_character() {
        let text = "a€b"; // `€` is three bytes
        assert_eq!(prefix_bytes(text, 0), "");
        assert_eq!(prefix_bytes(text, 1), "a");
        assert_eq!(prefix_bytes(text, 2), "a");
        assert_eq!(prefix_bytes(text, 3), "a");
        assert_eq!(prefix_bytes(text, 4), "a€");
        assert_eq!(prefix_chars(text, 0), "");
        assert_eq!(prefix_chars(text, 2), "a€");
        assert_eq!(bounded(text, 0), "…");
        assert_eq!(bounded(text, 3), text);
    }

    /// The digest is pinned: tickets and child run ids kept in stores are
    /// built on it.
    #[test]
    fn fnv1a_is_the_standard_one() {
        assert_eq!(fnv1a(*b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(*b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(*b"foobar"), 0x8594_4171_f739_67e8);
    }
}
