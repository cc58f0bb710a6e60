//! What a URL must not show (user name, password, query, fragment), and
//! a configured base URL parsed and checked.

use klieo_types::text::bounded;
use klieo_types::ConfigError;
use reqwest::Url;
use std::borrow::Cow;

/// The base URL `raw` parsed, trimmed and without a trailing `/`, or a
/// [`ConfigError::Invalid`] naming `name` (the setting, or the variable it
/// came from), showing the value without credentials, and asking for an
/// `http://` or `https://` URL like `example`.
///
/// ```
/// let url = klieo_http::url::base_url(" http://127.0.0.1:8080/v1/ ", "base_url", "http://127.0.0.1:8080/v1")?;
/// assert_eq!(url.as_str(), "http://127.0.0.1:8080/v1");
/// let signed = klieo_http::url::base_url("http://h/v1/?sig=abc/", "base_url", "http://h/v1")?;
/// assert_eq!(signed.as_str(), "http://h/v1?sig=abc/");
/// let err = klieo_http::url::base_url("localhost:8080", "MY_BASE_URL", "http://127.0.0.1:8080").unwrap_err();
/// assert!(err.to_string().contains("MY_BASE_URL"));
/// # Ok::<(), klieo_types::ConfigError>(())
/// ```
pub fn base_url(raw: &str, name: &str, example: &str) -> Result<Url, ConfigError> {
    let mut url = endpoint_url(raw, name, example)?;
    // The path's trailing `/`, not the query's (`?sig=abc/` keeps its own).
    let path = url.path().trim_end_matches('/').to_owned();
    if path.len() < url.path().len() {
        url.set_path(&path);
    }
    Ok(url)
}

/// The endpoint URL `raw` trimmed, parsed, and checked to be an `http` or
/// `https` URL that hides no credentials in its path, its path kept as
/// written: for a URL a request goes to as it is (an MCP server's
/// `…/mcp/`, which a server mounted there may serve alone), not one that
/// paths are joined to ([`base_url`] trims it). A
/// [`ConfigError::Invalid`] as [`base_url`]'s otherwise.
///
/// ```
/// let url = klieo_http::url::endpoint_url(" http://127.0.0.1:8000/mcp/ ", "url", "http://127.0.0.1:8000/mcp")?;
/// assert_eq!(url.as_str(), "http://127.0.0.1:8000/mcp/");
/// # Ok::<(), klieo_types::ConfigError>(())
/// ```
pub fn endpoint_url(raw: &str, name: &str, example: &str) -> Result<Url, ConfigError> {
    let trimmed = raw.trim();
    let why_not = |why: &str| {
        format!(
            "`{}` {why}: add http:// or https:// in front, as in {example}",
            shown_raw_url(trimmed)
        )
    };
    let url = Url::parse(trimmed)
        .map_err(|e| ConfigError::invalid_from(name, why_not("is not a URL with a scheme"), e))?;
    if !matches!(url.scheme(), "http" | "https") {
        let scheme = url.scheme().to_owned();
        return Err(ConfigError::invalid(
            name,
            why_not(&format!("has the scheme `{scheme}:`, not http or https")),
        ));
    }
    if hides_credentials(&url) {
        return Err(ConfigError::invalid(
            name,
            format!(
                "`{}` has a host after an `@` in its path, as a user name or password holding \
                 a `/` reads: write a `/` in credentials as %2F (or give the key with the API \
                 key setting); an `@` the path itself holds can be written %40",
                shown_raw_url(trimmed)
            ),
        ));
    }
    Ok(url)
}

/// Whether `url`'s path, fragment or query holds a host after an `@`
/// (`https://user:ab/cd@host/v1`):
/// a `/` in a password ended the URL's host early, and the rest (the
/// password's tail, then the real host) reads as a path. Any segment with
/// text on both sides of an `@` is taken for one (`https://AbCd/Ef/Gh==@gateway/v1`,
/// a token before a service's name in a cluster); an `@` that starts a
/// segment (`/@org/server`, as some gateways name a server) is the
/// path's own.
fn hides_credentials(url: &Url) -> bool {
    let around_an_at = |text: &str| {
        text.split_once('@')
            .is_some_and(|(before, after)| !before.is_empty() && !after.is_empty())
    };
    // A `?` or `#` in a token before its `@` ends the host early too
    // (`https://AbCd#Ef@gateway/v1`): the rest reads as the fragment, or
    // as the query's first piece with no `=` (`?user=me@corp.com` is a
    // query's own).
    let first_piece = url.query().and_then(|query| query.split('&').next());
    url.path().split('/').any(around_an_at)
        || url.fragment().is_some_and(around_an_at)
        || first_piece.is_some_and(|piece| !piece.contains('=') && around_an_at(piece))
}

/// `base` with `path` after its own path, its query kept: an API whose
/// base URL carries its key as a query (`…/v1?api-key=K`) gets it on
/// each endpoint.
///
/// ```
/// let base = reqwest::Url::parse("https://host/openai/v1?api-key=K")?;
/// let chat = klieo_http::url::joined(&base, "chat/completions");
/// assert_eq!(chat.as_str(), "https://host/openai/v1/chat/completions?api-key=K");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn joined(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let before = base.path().trim_end_matches('/');
    url.set_path(&format!("{before}/{}", path.trim_start_matches('/')));
    url
}

/// Each query parameter of `url`: its key and value, decoded, and the
/// value as written in the URL (percent-encoded, as reqwest shows it).
/// Decoding skips the empty pieces between `&`s, as this does.
///
/// ```
/// let url = reqwest::Url::parse("https://h/v1?sig=a%2Bb&&x")?;
/// let params: Vec<_> = klieo_http::url::query_params(&url)
///     .map(|(key, value, written)| (key.into_owned(), value.into_owned(), written))
///     .collect();
/// assert_eq!(params[0], ("sig".to_owned(), "a+b".to_owned(), "a%2Bb"));
/// assert_eq!(params[1], ("x".to_owned(), String::new(), ""));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn query_params(url: &Url) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>, &str)> {
    let written = url.query().unwrap_or_default().split('&');
    let written = written.filter(|pair| !pair.is_empty());
    url.query_pairs()
        .zip(written)
        .map(|((key, value), pair)| (key, value, pair.split_once('=').map_or("", |(_, v)| v)))
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
/// when it does not parse (it could hold anything). One that parses as
/// something other than an `http` or `https` URL (`user:key@host` reads as
/// the scheme `user:`), or whose path holds a host after an `@` (a
/// password with a `/`), is shown as [`shown_raw_url`] shows it.
pub fn shown_base_url(url: &str) -> String {
    match Url::parse(url.trim()) {
        Ok(parsed)
            if matches!(parsed.scheme(), "http" | "https") && !hides_credentials(&parsed) =>
        {
            safe_url(&parsed).as_str().trim_end_matches('/').to_owned()
        }
        Ok(_) => shown_raw_url(url),
        Err(_) => "<not a valid URL>".to_owned(),
    }
}

/// A base URL that did not parse, for an error message: without a query
/// or fragment, and with whatever precedes an `@` (credentials) hidden.
/// An `@` after a `?` or `#` may be in a query, or in a password holding
/// one of them: such a URL is not shown at all.
pub fn shown_raw_url(raw: &str) -> String {
    let raw = raw.trim();
    let query = raw.find(['?', '#']);
    let shown = match (raw.rfind('@'), query) {
        (Some(at), Some(query)) if at > query => "…".to_owned(),
        (Some(at), _) => {
            let host = raw.get(at + 1..).unwrap_or_default();
            format!("…@{}", host.split(['?', '#']).next().unwrap_or_default())
        }
        (None, _) => raw.split(['?', '#']).next().unwrap_or_default().to_owned(),
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
    fn a_password_holding_a_hash_or_question_mark_stays_hidden() {
        for raw in ["http://user:ab#cd@host/v1", "http://user:ab?cd@host/v1"] {
            let shown = shown_raw_url(raw);
            assert!(
                !shown.contains("ab") && !shown.contains("user"),
                "{raw}: {shown}"
            );
        }
        let in_query = shown_raw_url("host/v1?key=sk-abc@xyz");
        assert!(
            !in_query.contains("xyz") && !in_query.contains("sk-"),
            "{in_query}"
        );
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
        for odd in [
            "user:sk-secret@host/v1",
            "https://AbCd/Ef+Gh==@gateway.example.com/v1",
            "https://AbCd/Ef+Gh==@gateway/v1",
            "https://AbCd/Ef/Gh==@gateway/v1",
        ] {
            let shown = shown_base_url(odd);
            assert!(
                !shown.contains("sk-secret") && !shown.contains("Gh=="),
                "{odd}: {shown}"
            );
            let refused = base_url(odd, "base_url", "http://h/v1").expect_err("refused");
            assert!(!refused.to_string().contains("Gh=="), "{refused}");
        }
        // A gateway that names servers `@org/name` has no credentials.
        let gateway = "https://server.smithery.ai/@org/github/mcp";
        assert_eq!(
            base_url(gateway, "url", "http://h")
                .map(|u| u.to_string())
                .ok()
                .as_deref(),
            Some(gateway)
        );
        assert_eq!(shown_base_url(gateway), gateway);
    }

    #[test]
    fn a_token_holding_a_hash_or_question_mark_before_its_at_is_refused() {
        for raw in ["https://AbCd#Ef@gateway/v1", "https://AbCd?Ef@gateway/v1"] {
            assert!(base_url(raw, "base_url", "http://h/v1").is_err(), "{raw}");
            let shown = shown_base_url(raw).to_lowercase();
            assert!(
                !shown.contains("abcd") && !shown.contains("ef"),
                "{raw}: {shown}"
            );
        }
        let mail = "https://h/v1?user=me@corp.com";
        assert!(base_url(mail, "base_url", "http://h/v1").is_ok());
    }
}
