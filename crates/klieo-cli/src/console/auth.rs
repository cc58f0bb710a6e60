//! Who may use the console: whoever holds its token. A request carries it
//! as `Authorization: Bearer TOKEN`, or as the cookie the console sets
//! when the URL it printed (`/?token=TOKEN`) is opened; the token is
//! compared in constant time. A form that changes something (approve,
//! deny, cancel) also carries the console's CSRF value, which only its
//! own pages hold, and must come from the console's own pages (the
//! browser's `Sec-Fetch-Site` and `Origin`, when it sends them).

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::fmt;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The cookie that holds the token once the printed URL was opened.
const COOKIE: &str = "klieo_console";

/// The fewest characters a token given with `--token` may have.
pub(crate) const MIN_TOKEN: usize = 16;

/// A secret value: the console's token or its CSRF value. Never shown by
/// `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    /// 32 random bytes from the operating system, as 64 hex digits.
    pub(crate) fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = [0_u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Self(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// A token given by the operator: at least [`MIN_TOKEN`] characters,
    /// each a visible ASCII character other than `;` and `,` (it travels
    /// in a cookie and a header).
    pub(crate) fn given(text: &str) -> Option<Self> {
        let fits = text.len() >= MIN_TOKEN
            && text
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b';' && b != b',');
        fits.then(|| Self(text.to_owned()))
    }

    /// Whether `given` is this secret, in time that does not depend on
    /// where they differ.
    pub(crate) fn is(&self, given: &str) -> bool {
        self.0.as_bytes().ct_eq(given.as_bytes()).into()
    }

    /// The secret's text, for the one place that must say it: the URL
    /// printed at start, and the forms' hidden CSRF field.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// The console's token and CSRF value.
#[derive(Debug)]
pub(crate) struct Keys {
    pub(crate) token: Secret,
    pub(crate) csrf: Secret,
}

/// Lets a request through only with the token; the printed URL's
/// `?token=` is traded for a cookie and the URL without it.
pub(crate) async fn require_token(
    State(keys): State<Arc<Keys>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    if let Some(given) = query_token(request.uri()) {
        if request.method() == Method::GET && keys.token.is(given) {
            return with_cookie(&keys.token, request.uri());
        }
        return refused();
    }
    let carried = bearer(headers).or_else(|| cookie(headers));
    if !carried.is_some_and(|given| keys.token.is(given)) {
        return refused();
    }
    if request.method() == Method::POST && !same_origin(headers) {
        return (
            StatusCode::FORBIDDEN,
            "refused: the form did not come from this console's own pages",
        )
            .into_response();
    }
    next.run(request).await
}

/// The `token` of the query string, if any.
fn query_token(uri: &Uri) -> Option<&str> {
    uri.query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
}

/// The bearer token of `Authorization`, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// The console's cookie, if the request has it.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// Whether a request comes from a page of this console, as far as the
/// browser says: `Sec-Fetch-Site` same-origin (or none: typed by the
/// user), and an `Origin` whose host is the request's `Host`.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest == host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// The cookie set, and the page the URL named without its token.
fn with_cookie(token: &Secret, uri: &Uri) -> Response {
    let rest: Vec<&str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.starts_with("token=") && !pair.is_empty())
        .collect();
    let target = if rest.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{}", uri.path(), rest.join("&"))
    };
    let set = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
        token.expose()
    );
    let mut response = Redirect::to(&target).into_response();
    if let Ok(value) = HeaderValue::from_str(&set) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// A request without the token: refused, showing nothing of the store.
fn refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        "refused: this console needs its token; open the URL `klieo console` printed, \
         or send `Authorization: Bearer TOKEN`",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_compared_whole() {
        let token = Secret("0123456789abcdef".into());
        assert!(token.is("0123456789abcdef"));
        assert!(!token.is("0123456789abcde"));
        assert!(!token.is("0123456789abcdeF"));
        assert!(!token.is(""));
        assert_eq!(format!("{token:?}"), "Secret(…)");
    }

    #[test]
    fn a_given_token_is_long_and_plain_enough_for_a_cookie() {
        assert!(Secret::given("correct-horse-battery").is_some());
        assert!(Secret::given("short").is_none());
        assert!(Secret::given("has a space in it, too").is_none());
        assert!(Secret::given("semi;colons;are;out;x").is_none());
        let made = Secret::random().map(|s| s.expose().len());
        assert_eq!(made.ok(), Some(64));
    }

    #[test]
    fn the_token_is_found_in_a_bearer_header_a_cookie_or_the_query() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; klieo_console=tok; b=2"),
        );
        assert_eq!(cookie(&headers), Some("tok"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer xyz"),
        );
        assert_eq!(bearer(&headers), Some("xyz"));
        let uri: Uri = "/runs?status=failed&token=abc".parse().unwrap_or_default();
        assert_eq!(query_token(&uri), Some("abc"));
    }

    #[test]
    fn a_form_from_another_site_is_refused() {
        let mut headers = HeaderMap::new();
        assert!(same_origin(&headers), "a client that says nothing");
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:7878"));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:7878"),
        );
        assert!(same_origin(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:7878"),
        );
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&headers));
    }
}
