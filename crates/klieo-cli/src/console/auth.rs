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

/// The cookie that holds the token once the printed URL was opened,
/// named with the console's port: browsers keep cookies by host, not
/// port, so two consoles on one machine would otherwise overwrite each
/// other's (and every server on 127.0.0.1 is sent it: the console's
/// token is for one person's machine).
fn cookie_name(port: u16) -> String {
    format!("klieo_console_{port}")
}

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
    /// each a letter, a digit, `-`, `_`, `.` or `~` (it travels as is in
    /// a URL, a cookie and a header).
    pub(crate) fn given(text: &str) -> Option<Self> {
        let fits = text.len() >= MIN_TOKEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
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

/// The console's token and CSRF value, and the port it listens on.
#[derive(Debug)]
pub(crate) struct Keys {
    pub(crate) token: Secret,
    pub(crate) csrf: Secret,
    pub(crate) port: u16,
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
            return with_cookie(&keys, request.uri(), behind_tls(headers));
        }
        return refused();
    }
    let name = cookie_name(keys.port);
    let carried = bearer(headers).or_else(|| cookie(headers, &name));
    if !carried.is_some_and(|given| keys.token.is(given)) {
        return refused();
    }
    if request.method() == Method::POST && !same_origin(headers, request.uri()) {
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

/// The cookie `name`, if the request has it.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
}

/// Whether a request comes from a page of this console, as far as the
/// browser says: `Sec-Fetch-Site` same-origin (or none: typed by the
/// user), and an `Origin` whose host is the request's `Host` (or, without
/// one, its URI's authority). Behind a proxy, the proxy must pass the
/// browser's `Host` on.
fn same_origin(headers: &HeaderMap, uri: &Uri) -> bool {
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
    let host = text(header::HOST).or_else(|| uri.authority().map(|a| a.as_str()));
    match (text(header::ORIGIN), host) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest == host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// Whether a proxy in front says the browser came over TLS
/// (`X-Forwarded-Proto: https`, or `Forwarded: proto=https`): the cookie
/// is then `Secure`, so the browser never sends the token over plain
/// HTTP. A header that lies only keeps the cookie off plain HTTP.
fn behind_tls(headers: &HeaderMap) -> bool {
    // The first element is what the browser's hop said (the proxies after
    // it append theirs).
    let first = |name: &str| {
        let value = headers.get(name)?.to_str().ok()?;
        value.split(',').next().map(str::trim)
    };
    if let Some(proto) = first("x-forwarded-proto") {
        return proto.eq_ignore_ascii_case("https");
    }
    first("forwarded").is_some_and(|hop| {
        hop.split(';')
            .any(|pair| match pair.trim().split_once('=') {
                Some((key, value)) => {
                    key.trim().eq_ignore_ascii_case("proto")
                        && value.trim().trim_matches('"').eq_ignore_ascii_case("https")
                }
                None => false,
            })
    })
}

/// The cookie set (`Secure` when `secure`), and the page the URL named
/// without its token (always a path of this console: `//host/` is not
/// taken for another site).
fn with_cookie(keys: &Keys, uri: &Uri, secure: bool) -> Response {
    let rest: Vec<&str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.starts_with("token=") && !pair.is_empty())
        .collect();
    let path = format!("/{}", uri.path().trim_start_matches('/'));
    let target = if rest.is_empty() {
        path
    } else {
        format!("{path}?{}", rest.join("&"))
    };
    let set = format!(
        "{}={}; HttpOnly; SameSite=Strict; Path=/{}",
        cookie_name(keys.port),
        keys.token.expose(),
        if secure { "; Secure" } else { "" }
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
    fn a_given_token_is_long_and_safe_in_a_url_and_a_cookie() {
        assert!(Secret::given("correct-horse_battery.staple~1").is_some());
        assert!(Secret::given("short").is_none());
        assert!(Secret::given("has a space in it, too").is_none());
        assert!(Secret::given("semi;colons;are;out;x").is_none());
        assert!(
            Secret::given("a&b=c#d%20e+f?g/h").is_none(),
            "URL-safe only"
        );
        let made = Secret::random().map(|s| s.expose().len());
        assert_eq!(made.ok(), Some(64));
    }

    #[test]
    fn the_token_is_found_in_a_bearer_header_a_cookie_or_the_query() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; klieo_console_9=other; klieo_console_7878=tok; b=2"),
        );
        assert_eq!(cookie(&headers, &cookie_name(7878)), Some("tok"));
        assert_eq!(cookie(&headers, &cookie_name(9)), Some("other"));
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
        let uri = Uri::from_static("/runs/x/approve");
        let mut headers = HeaderMap::new();
        assert!(same_origin(&headers, &uri), "a client that says nothing");
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:7878"));
        let ours = HeaderValue::from_static("http://127.0.0.1:7878");
        headers.insert(header::ORIGIN, ours.clone());
        assert!(same_origin(&headers, &uri));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&headers, &uri));
        headers.insert(header::ORIGIN, ours.clone());
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&headers, &uri));
        let mut h2 = HeaderMap::new();
        h2.insert(header::ORIGIN, ours);
        let absolute = Uri::from_static("http://127.0.0.1:7878/runs/x/approve");
        assert!(
            same_origin(&h2, &absolute),
            "HTTP/2 names the host in the URI"
        );
    }

    #[test]
    fn the_cookie_is_secure_when_a_proxy_says_the_browser_came_over_tls() {
        let mut headers = HeaderMap::new();
        assert!(!behind_tls(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        assert!(!behind_tls(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(behind_tls(&headers));
        let mut forwarded = HeaderMap::new();
        let said = HeaderValue::from_static("for=192.0.2.1;proto=https;host=console.example");
        forwarded.insert("forwarded", said);
        assert!(behind_tls(&forwarded));
        let quoted = HeaderValue::from_static("for=192.0.2.1;proto=\"https\"");
        forwarded.insert("forwarded", quoted);
        assert!(behind_tls(&forwarded));
        // The browser's own hop was plain HTTP; a proxy after it, TLS.
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http, https"));
        assert!(!behind_tls(&headers));
        let hops = HeaderValue::from_static("proto=http, proto=https");
        forwarded.insert("forwarded", hops);
        assert!(!behind_tls(&forwarded));
        let keys = Keys {
            token: Secret("t".repeat(16)),
            csrf: Secret("c".repeat(16)),
            port: 7878,
        };
        let set = |secure| {
            let response = with_cookie(&keys, &Uri::from_static("/?token=t"), secure);
            let cookie = response.headers().get(header::SET_COOKIE).cloned();
            cookie
                .and_then(|v| v.to_str().ok().map(str::to_owned))
                .unwrap_or_default()
        };
        assert!(set(true).ends_with("; Secure"), "{}", set(true));
        assert!(!set(false).contains("Secure"), "{}", set(false));
    }

    #[test]
    fn the_printed_urls_redirect_stays_on_the_console() {
        let keys = Keys {
            token: Secret("t".repeat(16)),
            csrf: Secret("c".repeat(16)),
            port: 7878,
        };
        let response = with_cookie(
            &keys,
            &Uri::from_static("//evil.example/?token=x&a=1"),
            false,
        );
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok());
        assert_eq!(location, Some("/evil.example/?a=1"));
        let cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok());
        assert!(
            cookie.is_some_and(|c| c.starts_with("klieo_console_7878=")),
            "{cookie:?}"
        );
    }
}
