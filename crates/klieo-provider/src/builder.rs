//! [`ClientBuilder`]: the setters every HTTP provider's builder has,
//! written once. A provider's builder holds a
//! [`ClientOptions`], implements
//! [`ClientBuilder::options`], and has them all; a new provider adds
//! only its own.

use crate::options::ClientOptions;
use klieo_http::secret::Secret;
use klieo_types::Capabilities;
use std::time::Duration;

/// The setters every HTTP provider's client builder shares: `with_*`
/// sets, `add_*` adds. Bring it into scope (`use
/// klieo_provider::builder::ClientBuilder;`, or `klieo::prelude::*`) to
/// call them; a provider's `build` checks what they set.
///
/// ```
/// use klieo_provider::builder::ClientBuilder;
/// use klieo_provider::options::ClientOptions;
/// use std::time::Duration;
///
/// /// A provider's builder: its own settings beside the shared ones.
/// struct MyBuilder(ClientOptions);
///
/// impl ClientBuilder for MyBuilder {
///     fn options(&mut self) -> &mut ClientOptions {
///         &mut self.0
///     }
/// }
///
/// let mut b = MyBuilder(ClientOptions::new("https://api.example.com/v1", "small"))
///     .with_model("large")
///     .with_request_timeout(Duration::from_secs(5))
///     .add_header("x-proxy-token", "t");
/// assert_eq!(b.options().model(), "large");
/// assert!(b.options().check().is_ok());
/// ```
pub trait ClientBuilder: Sized {
    /// The settings this builder shares with every provider's.
    fn options(&mut self) -> &mut ClientOptions;

    /// Sets the API key; surrounding whitespace (a newline read from a
    /// file, say) is trimmed. Never shown by `Debug`, logs or errors.
    fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.options().api_key = Some(Secret::new(key.into()));
        self
    }

    /// Sets the API's base URL (`http://127.0.0.1:8080/v1`); a trailing
    /// `/` is ignored. `Debug` and errors show it without user name,
    /// password or query.
    fn with_base_url(mut self, url: impl Into<String>) -> Self {
        let options = self.options();
        options.base_url = url.into();
        options.base_url_var = None;
        self
    }

    /// Sets the model requests go to unless they name another; must not
    /// be empty.
    fn with_model(mut self, model: impl Into<String>) -> Self {
        self.options().model = model.into();
        self
    }

    /// Adds a header sent with every request (a proxy's token, say). Its
    /// value is treated as sensitive and never shown.
    fn add_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.options().headers.push((name.into(), value.into()));
        self
    }

    /// Sets how long establishing a connection may take (default 10 s).
    fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.options().connect_timeout = timeout;
        self
    }

    /// Sets how long a streamed reply may take to start: from sending the
    /// request to its status and headers (default 30 s). An error
    /// status's body is read within it too.
    fn with_first_byte_timeout(mut self, timeout: Duration) -> Self {
        self.options().first_byte_timeout = timeout;
        self
    }

    /// Sets how long a streamed reply may go without finishing a line (a
    /// token's event, or a keep-alive comment) while it is read (default
    /// 60 s). Bytes that do not end a line do not count, so a server
    /// trickling them is cut too. Raise it for a model that thinks in
    /// silence for longer before its first token.
    fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.options().idle_timeout = timeout;
        self
    }

    /// Sets how long a whole blocking call may take, from sending the
    /// request to the end of the reply (default 120 s); also the limit on
    /// reading a streamed request's reply that came as one JSON body. A
    /// request's own [`timeout`](klieo_types::ChatRequest::timeout)
    /// overrides it for that request. Streamed replies are never cut by
    /// it.
    fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.options().request_timeout = timeout;
        self
    }

    /// Sets the [`Capabilities`] the client declares, in place of the
    /// provider's defaults, for a server or model that can do less (or
    /// more) than they say.
    fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.options().capabilities = Some(capabilities);
        self
    }

    /// Sets the name traces give the provider (`gen_ai.provider.name`),
    /// in place of the provider's default: name the server (`vllm`,
    /// `llama.cpp`, or a well-known value of the conventions such as
    /// `groq`) to tell servers of one wire format apart.
    fn with_provider_name(mut self, name: impl Into<String>) -> Self {
        self.options().provider_name = Some(name.into());
        self
    }
}
