//! A running run's changes, as server-sent events (`/runs/{run}/live`):
//! `changed` when the run moved since its page was made, then each time
//! the store's entry of the run moves (a commit, a claim, a decision, a
//! cancellation), `ended` once it is over, then the stream closes. The
//! entry (an indexed read of one row) is read again when the store tells
//! of a change to the run (`crate::follow`), or now and then; a stream
//! lasts at most [`LONGEST`], and at most [`STREAMS`] are open at once,
//! so a page left open costs the store little and a burst of them is
//! refused rather than served.

use super::layout::failure;
use super::Console;
use crate::follow::Following;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use klieo::types::{RunEntry, RunId};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

/// The longest a stream stays open; the browser opens another (a page
/// open for long holds one of the few connections a browser keeps to a
/// host only this long at a time).
pub(crate) const LONGEST: Duration = Duration::from_secs(300);
/// The most streams open at once.
pub(crate) const STREAMS: usize = 64;

/// What the page showed of the run, as its live URL says (`?seen=`).
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Seen {
    #[serde(default)]
    seen: String,
}

/// A mark of what a page shows of a run: it changes when the entry does
/// (its state, its tally, its last change).
pub(crate) fn mark(entry: &RunEntry) -> String {
    let tally = &entry.tally;
    format!(
        "{}.{}.{}.{}",
        entry.state.name(),
        tally.model_calls,
        tally.tool_calls,
        entry.updated_ms.unwrap_or(0)
    )
}

/// `GET /runs/{run}/live?seen=MARK`: from the page's own mark, so a
/// change between the page and the stream is not missed.
pub(crate) async fn live(
    State(console): State<Arc<Console>>,
    Path(run): Path<String>,
    Query(seen): Query<Seen>,
) -> Response {
    let run = match crate::runs::run_id(&run) {
        Ok(run) => run,
        Err(e) => return failure(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let Ok(permit) = Arc::clone(&console.streams).try_acquire_owned() else {
        return failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many pages follow runs at once; close some and reload",
        );
    };
    // Followed first: a change after the entry is read is told.
    let following = console.hub.follow(console.store.catalog(), run).await;
    let now = match console.store.catalog().entry(run).await {
        Ok(Some(entry)) => entry,
        Ok(None) => {
            let e = crate::error::CliError::UnknownRun { run };
            return failure(StatusCode::NOT_FOUND, &e.to_string());
        }
        Err(e) => return console.store_failed(&e.into()),
    };
    let follow = Follow {
        following,
        console,
        run,
        changed: mark(&now) != seen.seen,
        seen: now,
        until: Instant::now() + LONGEST,
        done: false,
        _permit: permit,
    };
    let events = stream::unfold(follow, |mut follow| async move {
        let event = follow.next().await?;
        Some((Ok::<_, Infallible>(event), follow))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// One page following one run.
struct Follow {
    following: Following,
    console: Arc<Console>,
    run: RunId,
    seen: RunEntry,
    /// Whether the run moved since the page was made: said first.
    changed: bool,
    until: Instant,
    done: bool,
    /// Held while the stream is open.
    _permit: OwnedSemaphorePermit,
}

impl Follow {
    /// The next event, waiting for the run to change; `None` to close.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.done || Instant::now() >= self.until {
                return None;
            }
            if std::mem::take(&mut self.changed) {
                return Some(
                    Event::default()
                        .event("changed")
                        .data(self.seen.state.name()),
                );
            }
            if self.seen.state.is_finished() {
                self.done = true;
                return Some(Event::default().event("ended").data(self.seen.state.name()));
            }
            tokio::select! {
                () = self.following.changed(self.console.store.catalog()) => {}
                // The console stops, or the stream's time is up: it ends
                // at once (the browser opens another).
                () = self.console.stopping.cancelled() => return None,
                () = tokio::time::sleep_until(self.until) => return None,
            }
            // A store that fails now may answer at the next poll; a run
            // that went away ends the stream, as a read that outlasts the
            // stream or the console does (the browser opens another).
            let read =
                tokio::time::timeout_at(self.until, self.console.store.catalog().entry(self.run));
            let read = tokio::select! {
                read = read => read,
                () = self.console.stopping.cancelled() => return None,
            };
            let Ok(read) = read else {
                return None;
            };
            match read {
                Ok(Some(entry)) if entry != self.seen => {
                    self.seen = entry;
                    return Some(
                        Event::default()
                            .event("changed")
                            .data(self.seen.state.name()),
                    );
                }
                Ok(None) => return None,
                Ok(Some(_)) | Err(_) => {}
            }
        }
    }
}
