//! `klieo console`: the store's runs in a browser. A web server on
//! 127.0.0.1 (unless told otherwise) whose pages list the runs, show one
//! with its timeline and log (following it while it runs), and let a
//! person approve or deny the call a run waits on, settle a call whose
//! outcome a stop lost, or cancel a run.
//!
//! Safe by default: every request needs the console's token (printed
//! once at start in the URL to open, or given with `--token`), compared
//! in constant time; actions are POSTed forms with a CSRF value; every
//! text from a model, a tool or the store is escaped, and the pages'
//! policy runs no script but the console's own. No secret (the store's
//! URL, the token) is ever put in a page.

mod actions;
mod auth;
mod layout;
mod live;
mod run_page;
mod runs_page;
mod serve;
mod thread;
mod timeline;

use crate::error::CliError;
use crate::follow::Hub;
use crate::store::Store;
use auth::{Keys, Secret};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub(crate) use auth::MIN_TOKEN;

/// The largest form the console reads: what a person says (a reason, a
/// call's result) and who says it, at their most characters of four
/// bytes, each byte sent as three (`%E4`), with room for the rest.
const FORM_BYTES: usize = (crate::decisions::SAID + crate::decisions::WHO) * 12 + 4 * 1024;

/// What the console's pages share.
pub(crate) struct Console {
    store: Store,
    keys: Arc<Keys>,
    /// Who a cancellation is recorded as, and the name the decision forms
    /// start with.
    operator: String,
    /// One permit per open stream of a run's changes.
    streams: Arc<Semaphore>,
    /// Cancelled when the console stops: live streams end.
    stopping: CancellationToken,
    /// The store's changes, for the live streams.
    hub: Hub,
}

impl Console {
    /// The page for a store that failed; the error, escaped, says why.
    fn store_failed(&self, error: &CliError) -> Response {
        // Bounded: a store's error may quote much of what it was sent.
        let said = error.with_causes(FAILURE);
        layout::failure(StatusCode::INTERNAL_SERVER_ERROR, &said)
    }
}

/// The most characters of a store's error a page shows.
const FAILURE: usize = 2_000;

/// How `klieo console` serves. No `Debug`: it holds the token.
pub(crate) struct ConsoleOptions {
    /// Where to listen.
    pub(crate) bind: SocketAddr,
    /// The token, when given; else one is made.
    pub(crate) token: Option<String>,
    /// Who actions are recorded as unless the form says.
    pub(crate) operator: String,
}

/// Serves the console over `store` until interrupted (Ctrl-C or SIGTERM);
/// `started` is told the URL to open once it listens: with the token it
/// made, or, for a token given (kept out of logs, as a variable is),
/// with a placeholder for it.
pub(crate) async fn serve(
    store: Store,
    options: ConsoleOptions,
    started: impl FnOnce(&str),
) -> Result<(), CliError> {
    let token = match &options.token {
        Some(given) => Secret::given(given).ok_or(CliError::BadToken { min: MIN_TOKEN })?,
        None => Secret::random().map_err(CliError::Random)?,
    };
    let csrf = Secret::random().map_err(CliError::Random)?;
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .map_err(|source| CliError::Bind {
            addr: options.bind,
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| CliError::Bind {
        addr: options.bind,
        source,
    })?;
    let keys = Arc::new(Keys {
        token,
        csrf,
        port: bound.port(),
    });
    let stopping = CancellationToken::new();
    let hub = Hub::start(store.catalog(), stopping.clone()).await;
    let console = Arc::new(Console {
        hub,
        store,
        keys: Arc::clone(&keys),
        operator: options.operator,
        streams: Arc::new(Semaphore::new(live::STREAMS)),
        stopping: stopping.clone(),
    });
    let app = router(Arc::clone(&console), keys.clone());
    // A token the user chose is not printed (a service's journal keeps
    // stdout); one made here is, since nobody else knows it.
    let shown = match options.token {
        None => keys.token.expose(),
        Some(_) => "YOUR_TOKEN",
    };
    started(&format!("http://{bound}/?token={shown}"));
    let signal = {
        let stopping = stopping.clone();
        async move {
            interrupted().await;
            // Open live streams end now, so the server's wait for its
            // responses to finish is short.
            stopping.cancel();
        }
    };
    let serving = serve::serve(listener, app, stopping.clone());
    tokio::pin!(serving);
    tokio::select! {
        () = &mut serving => {}
        () = signal => {
            // A response that does not finish within the bound after the
            // signal is dropped with the server.
            let _ = tokio::time::timeout(SHUTDOWN, serving).await;
        }
    }
    console.store.close().await;
    Ok(())
}

/// The longest the console waits, once told to stop, for the responses
/// it is sending to finish.
const SHUTDOWN: Duration = Duration::from_secs(5);

/// The longest a page may take to make (the store's reads, most of all):
/// past it, the request is answered 503 and its work dropped. A live
/// stream is bounded on its own (see `live`).
const PAGE: Duration = Duration::from_secs(30);

/// The console's routes, every one behind the token.
fn router(console: Arc<Console>, keys: Arc<Keys>) -> Router {
    Router::new()
        .route("/", get(runs_page::runs))
        .route("/approvals", get(runs_page::approvals))
        .route("/runs/{run}", get(run_page::run))
        .route("/runs/{run}/live", get(live::live))
        .route("/runs/{run}/approve", post(actions::approve))
        .route("/runs/{run}/deny", post(actions::deny))
        .route("/runs/{run}/settle", post(actions::settle))
        .route("/runs/{run}/cancel", post(actions::cancel))
        .route(
            "/static/console.css",
            get(|| asset("text/css", layout::STYLE)),
        )
        .route(
            "/static/console.js",
            get(|| asset("text/javascript", layout::SCRIPT)),
        )
        .fallback(|| async { layout::failure(StatusCode::NOT_FOUND, "no such page") })
        .with_state(console)
        .layer(DefaultBodyLimit::max(FORM_BYTES))
        .layer(axum::middleware::from_fn(bounded))
        .layer(axum::middleware::from_fn_with_state(
            keys,
            auth::require_token,
        ))
        .layer(axum::middleware::map_response(secured))
}

/// Answers `request` within [`PAGE`], or 503.
async fn bounded(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match tokio::time::timeout(PAGE, next.run(request)).await {
        Ok(response) => response,
        Err(_) => layout::failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "the store did not answer in time; check that it is reachable and reload",
        ),
    }
}

/// Every response with the console's headers: refusals, redirects and
/// axum's own rejections too.
async fn secured(mut response: Response) -> Response {
    layout::secure(response.headers_mut());
    response
}

/// One of the console's own files.
async fn asset(kind: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    response
}

/// Resolves at Ctrl-C or SIGTERM.
async fn interrupted() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
