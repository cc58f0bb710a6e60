//! A connection outlives the span it was made in without holding it open:
//! a span is exported only once it closes.

use crate::support::raw_stdio;
use klieo_mcp::McpServer;
use std::sync::{Arc, Mutex, PoisonError};
use tracing::{Instrument, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Names the spans that closed.
#[derive(Clone, Default)]
struct Closed(Arc<Mutex<Vec<String>>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Closed {
    fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            let mut closed = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            closed.push(span.name().to_owned());
        }
    }
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_connection_made_in_a_span_lets_the_span_close() {
    let closed = Closed::default();
    let subscriber = tracing_subscriber::registry().with(closed.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    let outer = tracing::info_span!("outer");
    let server = McpServer::connect(raw_stdio("plain"))
        .instrument(outer)
        .await
        .unwrap();
    let names = closed.0.lock().unwrap().clone();
    assert!(
        names.iter().any(|name| name == "outer"),
        "closed: {names:?}"
    );
    drop(server);
}
