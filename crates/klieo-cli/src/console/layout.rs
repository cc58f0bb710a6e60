//! The frame every page shares (title, navigation, style and script),
//! the headers every response carries, and the pages of failure.
//!
//! Pages are maud templates: every value put in one is escaped unless it
//! is [`PreEscaped`](maud::PreEscaped), which only this crate's own
//! static text is. The Content-Security-Policy lets no script run but
//! the console's own file, so even text that escaped escaping could not
//! run.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

/// The console's style sheet, served at `/static/console.css`.
pub(crate) const STYLE: &str = include_str!("static/console.css");
/// The console's one script, served at `/static/console.js`: live
/// updates of a running run's page.
pub(crate) const SCRIPT: &str = include_str!("static/console.js");

/// The policy every page is served under.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                      img-src 'self'; connect-src 'self'; form-action 'self'; \
                      frame-ancestors 'none'; base-uri 'none'";

/// A whole page titled `title`, `body` in the frame.
pub(crate) fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · klieo console" }
                link rel="stylesheet" href="/static/console.css";
                script src="/static/console.js" defer {}
            }
            body {
                nav {
                    a.brand href="/" { "klieo" }
                    a href="/" { "Runs" }
                    a href="/approvals" { "Waiting for approval" }
                }
                main { (body) }
            }
        }
    }
}

/// `markup` as a response of `status`, with the console's headers.
pub(crate) fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// The headers every response carries (the console's outermost layer
/// sets them): no caching of what a store holds, no framing, no
/// sniffing, the script policy.
pub(crate) fn secure(headers: &mut axum::http::HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// A page that says what went wrong (`said`, escaped) and what to do.
pub(crate) fn failure(status: StatusCode, said: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    respond(
        status,
        page(
            title,
            html! {
                h1 { (title) }
                p.failure { (said) }
                p { a href="/" { "Back to the runs" } }
            },
        ),
    )
}
