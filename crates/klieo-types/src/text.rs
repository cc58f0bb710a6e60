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
}
