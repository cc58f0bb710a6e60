//! What must never show: the API key ([`Secret`], scrubbed out of server
//! text before that text is cut to length) and the credentials a URL can
//! carry (userinfo, query).

use reqwest::Url;
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
/// use klieo_provider::Secret;
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

/// At most `limit` characters of `text`, marked with `…` when cut.
pub fn bounded(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((end, _)) => format!("{}…", text.get(..end).unwrap_or_default()),
        None => text.to_owned(),
    }
}

/// `url` without what may be a credential: user name, password, query and
/// fragment.
pub fn safe_url(url: &Url) -> Url {
    let mut url = url.clone();
    // Only URLs that cannot have a user (`data:`, say) refuse; those have
    // none to remove.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url
}

/// A configured base URL for `Debug`: without credentials, or a placeholder
/// when it does not parse (it could hold anything).
pub fn shown_base_url(url: &str) -> String {
    match Url::parse(url.trim()) {
        Ok(url) => safe_url(&url).as_str().trim_end_matches('/').to_owned(),
        Err(_) => "<not a valid URL>".to_owned(),
    }
}

/// A base URL that did not parse, for an error message: without a query
/// or fragment, and with whatever precedes an `@` (credentials) hidden.
pub fn shown_raw_url(raw: &str) -> String {
    let raw = raw.trim();
    let raw = raw.split(['?', '#']).next().unwrap_or_default();
    let shown = match raw.rsplit_once('@') {
        Some((_, host)) => format!("…@{host}"),
        None => raw.to_owned(),
    };
    bounded(&shown, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_urls_lose_credentials_and_queries() {
        assert_eq!(shown_raw_url(" localhost:8080/v1 "), "localhost:8080/v1");
        assert_eq!(shown_raw_url("user:sk-key@host:1/v1"), "…@host:1/v1");
        assert_eq!(shown_raw_url("host/v1?api-key=sk"), "host/v1");
    }

    #[test]
    fn scrub_replaces_the_key_but_not_short_keys() {
        let s = Secret::new("sk-secret-123".into());
        assert_eq!(s.scrub("bad key sk-secret-123!".into()), "bad key ***!");
        let short = Secret::new("k".into());
        assert_eq!(short.scrub("kept".into()), "kept");
    }

    #[test]
    fn bounded_respects_char_boundaries() {
        assert_eq!(bounded("héllo", 2), "hé…");
        assert_eq!(bounded("hi", 2), "hi");
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

    #[test]
    fn urls_lose_userinfo_query_and_fragment() {
        let url = Url::parse("http://user:pw@127.0.0.1:1/v1?api-key=k#f").ok();
        let shown = url.as_ref().map(|u| safe_url(u).to_string());
        assert_eq!(shown.as_deref(), Some("http://127.0.0.1:1/v1"));
        assert_eq!(
            shown_base_url("https://u:p@host/v1/"),
            "https://host/v1".to_owned()
        );
        assert_eq!(shown_base_url("not a url"), "<not a valid URL>");
    }
}
