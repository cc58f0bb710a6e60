//! What must never show: the API key ([`Secret`]), and everything a
//! client sends that is scrubbed out of server text before that text is
//! cut to length with [`klieo_types::text::bounded`] ([`Hidden`]: the key
//! and the base URL's password and query). Showing a URL without its
//! credentials is [`url`](crate::url)'s.

use crate::url::query_params;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use klieo_types::text::bounded;
use reqwest::Url;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// Keys shorter than this are not scrubbed from server messages: replacing
/// every occurrence of a one- or two-letter string would garble the text,
/// and such a key protects nothing.
const MIN_SCRUBBED_KEY_LEN: usize = 4;

/// Query parameters known to carry no secret, whose values stay in the
/// text (an error naming the API version it refuses, say).
pub const PUBLIC_QUERY_NAMES: &[&str] = &["api-version"];

/// An API key, stored trimmed: what is sent is exactly what is scrubbed.
/// Its `Debug` shows `"***"`; the key itself is only read to build the
/// request's header. What is scrubbed out of server messages is a
/// [`Hidden`], made from the key and the base URL.
///
/// ```
/// use klieo_http::secret::{Hidden, Secret};
///
/// let key = Secret::new("  sk-secret-123\n".to_owned());
/// assert_eq!(format!("{key:?}"), "\"***\"");
/// assert_eq!(key.expose(), "sk-secret-123");
/// let hidden = Hidden::new(Some(&key), None);
/// assert_eq!(hidden.scrub("bad key sk-secret-123".to_owned()), "bad key ***");
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
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// Everything a client sends that must never show, scrubbed out of each
/// text it surfaces (a server's message, an excerpt of a body it could
/// not read): its API key, the values of the headers it adds
/// ([`also`](Self::also)), and what its base URL carries besides the
/// address, that is its user name and password (and the Basic
/// credentials they are sent as) and each value of its query but an
/// API version's ([`PUBLIC_QUERY_NAMES`]). An API
/// whose key rides in the URL (`…/v1?api-key=K`) is sent it on every
/// request, and a server or a proxy may echo the URL back. Values
/// shorter than 4 bytes are left in (replacing every `a` would garble
/// the text, and such a value protects nothing); a value is scrubbed as
/// written in the URL and as decoded.
///
/// ```
/// use klieo_http::secret::{Hidden, Secret};
///
/// let url = reqwest::Url::parse("https://host/v1?api-key=k%2Fey-123&v=2")?;
/// let hidden = Hidden::new(None, Some(&url));
/// let echoed = "no route for /v1/chat?api-key=k%2Fey-123 (key k/ey-123)";
/// assert_eq!(hidden.scrub(echoed.to_owned()), "no route for /v1/chat?api-key=*** (key ***)");
/// assert_eq!(hidden.redacted("v=2 and k/ey-123", 9), "v=2 and *…");
/// assert!(Hidden::new(None, None).is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct Hidden(Arc<[Box<str>]>);

impl Hidden {
    /// What `key` and `base_url` hold that must not show: the key; the
    /// URL's user name and password, and the Basic credentials they are
    /// sent as; each value of its query but those known to be public
    /// ([`PUBLIC_QUERY_NAMES`]).
    pub fn new(key: Option<&Secret>, base_url: Option<&Url>) -> Self {
        let mut values: Vec<Cow<'_, str>> = Vec::new();
        values.extend(key.map(|key| Cow::Borrowed(key.expose())));
        if let Some(url) = base_url {
            let decoded = |text| percent_encoding::percent_decode_str(text).decode_utf8_lossy();
            let (user, password) = (url.username(), url.password().unwrap_or_default());
            if !user.is_empty() || !password.is_empty() {
                let basic = format!("{}:{}", decoded(user), decoded(password));
                values.push(Cow::Owned(STANDARD.encode(basic)));
            }
            for text in [user, password] {
                values.extend([Cow::Borrowed(text), decoded(text)]);
            }
            let public = |name: &str| PUBLIC_QUERY_NAMES.contains(&name);
            for (_, value, written) in query_params(url).filter(|(name, ..)| !public(name)) {
                values.extend([value, Cow::Borrowed(written)]);
            }
            // A piece with no `=` (`?sk-…`) is its own value, as written
            // and as decoded.
            let query = url.query().unwrap_or_default();
            for piece in query.split('&').filter(|piece| !piece.contains('=')) {
                values.extend([Cow::Borrowed(piece), decoded(piece)]);
            }
        }
        Self::default().also(values.iter().map(|v| &**v))
    }

    /// These values hidden too (the values of headers sent with every
    /// request, say).
    pub fn also<'a>(self, values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut all: Vec<Box<str>> = self.0.iter().cloned().collect();
        for value in values {
            if value.len() >= MIN_SCRUBBED_KEY_LEN && !all.iter().any(|v| &**v == value) {
                all.push(value.into());
            }
        }
        // The longest first, so that a value holding another goes whole.
        all.sort_by_key(|v| std::cmp::Reverse(v.len()));
        Self(all.into())
    }

    /// Whether nothing is hidden: no key, and a base URL with no
    /// password or query.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every hidden value replaced by `***`.
    pub fn scrub(&self, mut text: String) -> String {
        for value in self.0.iter() {
            if text.contains(&**value) {
                text = text.replace(&**value, "***");
            }
        }
        text
    }

    /// `text` with the hidden values scrubbed out, then cut to at most
    /// `limit` characters (see [`bounded`]). Scrubbing first matters: a
    /// value that straddles the cut would otherwise keep its first
    /// characters.
    pub fn redacted(&self, text: &str, limit: usize) -> String {
        // A character shown stands for at most the longest value's
        // characters: what lies past that many is never shown, and is not
        // read (a reply of megabytes cut to a 200-character excerpt).
        let longest = self.0.first().map_or(1, |value| value.len());
        let window = limit
            .saturating_add(1)
            .saturating_mul(longest)
            .saturating_add(longest);
        let text = match text.char_indices().nth(window) {
            Some((at, _)) => &text[..at],
            None => text,
        };
        if self.0.iter().any(|value| text.contains(&**value)) {
            bounded(&self.scrub(text.to_owned()), limit)
        } else {
            bounded(text, limit)
        }
    }
}

impl fmt::Debug for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hidden({} values)", self.0.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(text: &str) -> Hidden {
        Hidden::new(Some(&Secret::new(text.into())), None)
    }

    #[test]
    fn scrub_replaces_the_key_but_not_short_keys() {
        assert_eq!(
            key("sk-secret-123").scrub("bad key sk-secret-123!".into()),
            "bad key ***!"
        );
        assert_eq!(key("k").scrub("kept".into()), "kept");
        assert!(key("k").is_empty());
    }

    #[test]
    fn keys_are_stored_trimmed() {
        assert_eq!(Secret::new("  sk-abc\n".into()).expose(), "sk-abc");
        assert_eq!(key("  sk-abc\n").scrub("sk-abc".into()), "***");
    }

    #[test]
    fn redacted_scrubs_before_cutting() {
        let text = format!("{}sk-secret-123 and more", "x".repeat(8));
        assert_eq!(key("sk-secret-123").redacted(&text, 10), "xxxxxxxx**…");
        assert_eq!(Hidden::default().redacted("short", 10), "short");
    }

    #[test]
    fn a_base_urls_credentials_and_query_values_are_hidden_as_written_and_decoded() {
        let url = Url::parse(
            "https://us%2Fer:p%40ss-word@host/v1?sig=abc%2Bdef&api-key=K-123-4&api-version=2024-10-21",
        )
        .unwrap();
        let hidden = Hidden::new(None, Some(&url));
        let basic = STANDARD.encode("us/er:p@ss-word");
        let echoed = format!(
            "p%40ss-word p@ss-word us%2Fer us/er {basic} abc%2Bdef abc+def K-123-4 host 2024-10-21"
        );
        let shown = "*** *** *** *** *** *** *** *** host 2024-10-21";
        assert_eq!(hidden.scrub(echoed), shown);
    }

    #[test]
    fn a_long_text_is_read_only_as_far_as_its_excerpt_can_show() {
        let hidden = key("sk-secret-123");
        let text = format!("{}sk-secret-123", "é".repeat(5)).repeat(100_000);
        for limit in [1, 7, 20, 200] {
            let shown = hidden.redacted(&text, limit);
            assert_eq!(
                shown,
                bounded(&hidden.scrub(text.clone()), limit),
                "as if all were read"
            );
            assert!(!shown.contains("sk-"), "{shown}");
        }
    }

    #[test]
    fn a_query_piece_without_a_value_is_hidden_and_an_empty_value_names_nothing() {
        let url = Url::parse("https://host/v1?sk-bare-key&token=&x=1").unwrap();
        let hidden = Hidden::new(None, Some(&url));
        assert_eq!(hidden.scrub("sk-bare-key token".into()), "*** token");
    }

    #[test]
    fn values_added_are_hidden_too_and_short_ones_left() {
        let hidden = key("sk-secret-123").also(["proxy-token-9", "v1"]);
        assert_eq!(
            hidden.scrub("sk-secret-123 proxy-token-9 v1".into()),
            "*** *** v1"
        );
    }

    #[test]
    fn a_value_holding_another_is_hidden_whole() {
        let url = Url::parse("https://host/v1?a=secret&b=secret-longer").unwrap();
        let hidden = Hidden::new(None, Some(&url));
        assert_eq!(hidden.scrub("secret-longer".into()), "***");
    }

    #[test]
    fn a_bare_query_piece_is_hidden_decoded_too() {
        let url = Url::parse("https://host/v1?Ab%2FCd%3D%3Dxyz").unwrap();
        let hidden = Hidden::new(None, Some(&url));
        assert_eq!(hidden.scrub("t Ab/Cd==xyz".into()), "t ***");
        assert_eq!(hidden.scrub("t Ab%2FCd%3D%3Dxyz".into()), "t ***");
    }
}
