//! [`OnFirstSend`]: the exporter's HTTP client, built by the thread that
//! first sends with it rather than by whoever sets the exporter up.

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

/// How the client is made.
type Make = Box<dyn Fn() -> reqwest::Result<reqwest::blocking::Client> + Send + Sync>;

/// reqwest's blocking client, built when the exporter first sends.
///
/// Building one starts a thread and waits for it, which must not happen on
/// an async runtime's worker, where [`init`](crate::init) is usually
/// called; the batch processor sends from a thread of its own, so the
/// wait happens there. An exporter that never sends builds no client.
pub(crate) struct OnFirstSend {
    make: Make,
    client: OnceLock<reqwest::blocking::Client>,
}

impl OnFirstSend {
    /// A client with the TLS settings `tls` (`klieo_http::tls::client_config`)
    /// and `timeout` on each request, built on first use.
    pub(crate) fn new<T>(tls: T, timeout: Duration) -> Self
    where
        T: Clone + Send + Sync + 'static,
    {
        Self {
            make: Box::new(move || {
                reqwest::blocking::Client::builder()
                    .tls_backend_preconfigured(tls.clone())
                    .timeout(timeout)
                    // The exporter's headers (a collector's token) would
                    // go on to any host a redirect named.
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
            }),
            client: OnceLock::new(),
        }
    }

    /// Whether the client has been built.
    #[cfg(test)]
    pub(crate) fn built(&self) -> bool {
        self.client.get().is_some()
    }

    /// The client, built now if it is not yet. A build that fails is tried
    /// again at the next send (a thread that could not start a moment ago
    /// may now), and its error says its causes.
    fn client(&self) -> Result<&reqwest::blocking::Client, HttpError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        match (self.make)() {
            Ok(client) => Ok(self.client.get_or_init(|| client)),
            Err(e) => {
                let chain = klieo_types::ErrorChain(&e);
                Err(format!("the OTLP exporter's HTTP client could not be built: {chain}").into())
            }
        }
    }
}

impl fmt::Debug for OnFirstSend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnFirstSend")
            .field("built", &self.client.get().is_some())
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl HttpClient for OnFirstSend {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        self.client()?.send_bytes(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    #[test]
    fn the_client_is_built_by_the_first_send_not_by_the_setup() -> Result<(), HttpError> {
        let tls = klieo_http::tls::client_config(false)?;
        let client = OnFirstSend::new(tls, Duration::from_secs(30));
        assert!(
            !client.built(),
            "setting up builds nothing, so waits for nothing"
        );

        // As the batch processor's thread sends: the reply is no matter
        // (nothing listens on port 1), the client is built.
        let request = Request::post("http://127.0.0.1:1/v1/traces").body(Bytes::new())?;
        let mut send = pin!(client.send_bytes(request));
        let polled = send.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(matches!(polled, Poll::Ready(Err(_))), "{polled:?}");
        assert!(client.built());
        Ok(())
    }
}
