//! Serving the console's routes: what `axum::serve` does, with two bounds
//! it has no setting for, as anyone who reaches the port may open
//! connections before the token is asked for: the time a request's
//! headers may take to arrive ([`HEADERS`]: hyper has such a timeout, but
//! needs a timer, which `axum::serve` does not give it), and the
//! connections open at once ([`CONNECTIONS`]). HTTP/1 only, as before:
//! hyper-util's automatic choice of HTTP/2 first reads the connection's
//! opening bytes with no bound, which a silent connection never sends.

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The longest a request's headers may take to arrive, counted from when
/// the connection waits for them (a new one, silent or not, and a
/// kept-alive one): past it the connection is closed.
pub(super) const HEADERS: Duration = Duration::from_secs(10);

/// The most connections served at once; more wait to be accepted.
pub(super) const CONNECTIONS: usize = 256;

/// A failed accept (out of file descriptors, say) is tried again after
/// this long.
const ACCEPT_AGAIN: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` until `stopping` is cancelled, then tells
/// each open connection to close once its response is sent, and waits
/// for them (the caller bounds that wait).
pub(super) async fn serve(listener: TcpListener, app: Router, stopping: CancellationToken) {
    let open = Arc::new(Semaphore::new(CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        // Finished connections are let go of as new ones come.
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            () = stopping.cancelled() => break,
            accepted = async {
                let permit = Arc::clone(&open).acquire_owned().await;
                (permit, listener.accept().await)
            } => accepted,
        };
        let (Ok(permit), Ok((stream, _))) = accepted else {
            tokio::select! {
                () = stopping.cancelled() => break,
                () = tokio::time::sleep(ACCEPT_AGAIN) => continue,
            }
        };
        let service = TowerToHyperService::new(app.clone());
        let stopping = stopping.clone();
        connections.spawn(async move {
            let _open = permit;
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADERS)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stopping.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    while connections.join_next().await.is_some() {}
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn started() -> (std::net::SocketAddr, CancellationToken) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/", get(|| async { "hello" }));
        let stopping = CancellationToken::new();
        tokio::spawn(serve(listener, app, stopping.clone()));
        (addr, stopping)
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_whose_headers_never_end_is_closed_after_the_bound() {
        let (addr, _stopping) = started().await;
        // Half a request, and nothing at all.
        for sent in [&b"GET / HTTP/1.1\r\nhost: x\r\n"[..], b""] {
            let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
            slow.write_all(sent).await.unwrap();
            let began = tokio::time::Instant::now();
            let mut rest = Vec::new();
            // A bound past the headers' own, in paused time.
            let read = tokio::time::timeout(HEADERS * 6, slow.read_to_end(&mut rest)).await;
            let shown = String::from_utf8_lossy(sent);
            assert!(read.is_ok(), "left open after {shown:?}");
            assert!(
                began.elapsed() >= HEADERS,
                "closed before the bound after {shown:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_whole_request_is_answered() {
        let (addr, stopping) = started().await;
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut reply = String::new();
        client.read_to_string(&mut reply).await.unwrap();
        assert!(
            reply.starts_with("HTTP/1.1 200") && reply.ends_with("hello"),
            "{reply}"
        );
        stopping.cancel();
    }
}
