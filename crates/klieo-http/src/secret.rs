//! What must never show: the API key ([`Secret`], scrubbed out of server
//! text before that text is cut to length with
//! [`klieo_types::text::bounded`]). A URL's credentials are
//! [`url`](crate::url)'s.

use klieo_types::text::bounded;
use std::fmt;
use std::sync::Arc;

/// Keys shorter than this are not scrubbed from server messages: replacing
/// every occurrence of a one- or two-letter string would garble the text,
/// and such a key protects nothing.
const MIN_SCRUBBED_KEY_LEN: usize = 4;

/// An API key, stored trimmed: what is sent is exactly what is scrubbed.
/// Its `Debug` shows `"***"`; the key itself is only read to build the
/// request's header and to scrub it out of server messages.
///
/// ```
/// use klieo_http::secret::Secret;
///
/// let key = Secret::new("  sk-secret-123\n".to_owned());
/// assert_eq!(format!("{key:?}"), "\"***\"");
/// assert_eq!(key.scrub("bad key sk-secret-123".to_owned()), "bad key ***");
/// ```
#[derive(Clone)]
pub struct Secret(Arc<str>);

impl Secret {
    /// The key, trimmed.
    pub fn new(key: String) -> Self {
        Self(Arc::from(key.trim()))
    }

    /// The key itself: only for the header that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the key replaced by `***`.
    pub fn scrub(&self, text: String) -> String {
        if self.found_in(&text) {
            text.replace(&*self.0, "***")
        } else {
            text
        }
    }

    /// Whether `text` holds the key (and the key is long enough to scrub).
    fn found_in(&self, text: &str) -> bool {
        self.0.len() >= MIN_SCRUBBED_KEY_LEN && text.contains(&*self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// Scrubs `text` when there is a key.
pub fn scrub(secret: Option<&Secret>, text: String) -> String {
    match secret {
        Some(s) => s.scrub(text),
        None => text,
    }
}

/// `text` with the key scrubbed out, then cut to at most `limit`
/// characters (see [`bounded`]). Scrubbing first matters: a key that
/// straddles the cut would otherwise keep its first characters.
pub fn redacted(secret: Option<&Secret>, text: &str, limit: usize) -> String {
    match secret.filter(|s| s.found_in(text)) {
        Some(s) => bounded(&text.replace(s.expose(), "***"), limit),
        None => bounded(text, limit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_replaces_the_key_but_not_short_keys() {
        let s = Secret::new("sk-secret-123".into());
        assert_eq!(s.scrub("bad key sk-secret-123!".into()), "bad key ***!");
        let short = Secret::new("k".into());
        assert_eq!(short.scrub("kept".into()), "kept");
    }

    #[test]
    fn keys_are_stored_trimmed() {
        assert_eq!(Secret::new("  sk-abc\n".into()).expose(), "sk-abc");
    }

    #[test]
    fn redacted_scrubs_before_cutting() {
        let s = Secret::new("sk-secret-123".into());
        let text = format!("{}sk-secret-123 and more", "x".repeat(8));
        assert_eq!(redacted(Some(&s), &text, 10), "xxxxxxxx**…");
        assert_eq!(redacted(None, "short", 10), "short");
    }
}
