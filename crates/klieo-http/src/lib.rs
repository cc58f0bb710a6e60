//! klieo's HTTP kit: what every crate of klieo that speaks HTTP needs,
//! whatever it says over it. API keys that never show, text cut to a
//! length with the key scrubbed out first, URLs shown without their
//! credentials, a configured base URL checked, and the pooled reqwest
//! client with rustls on ring trusting the system's roots.
//!
//! `klieo-provider` (the LLM wire kit), `klieo-mcp` and `klieo-otel`
//! depend on it; it depends on `klieo-types` (for
//! [`ConfigError`](klieo_types::ConfigError)) and the HTTP stack, nothing
//! of klieo's runtime or of any wire format.
//!
//! # Brief overview
//!
//! The root holds modules only, one per role:
//!
//! - [`secret`] — [`Secret`](secret::Secret) holds an API key (`Debug`
//!   shows `***`); [`Hidden`](secret::Hidden) scrubs it, and the base
//!   URL's password and query values, out of text before cutting that to
//!   length with [`klieo_types::text::bounded`].
//! - [`url`] — [`url::base_url`] checks a configured URL;
//!   [`url::safe_url`] drops a URL's user, password, query and fragment.
//! - [`client`] — [`client::build`] makes the pooled client;
//!   [`client::sensitive_header`] adds a header whose value never shows.
//! - [`tls`] — [`tls::client_config`], the client's TLS settings.
//! - [`retry_after`] — [`retry_after::delay`], the wait a `Retry-After`
//!   value asks for.
//!
//! # Example
//!
//! ```
//! use klieo_http::secret::{Hidden, Secret};
//! use klieo_http::url::base_url;
//!
//! let key = Secret::new("sk-secret-123".to_owned());
//! let url = base_url("http://user:pw@127.0.0.1:8080/v1/?sig=s1g-nature", "base_url", "http://127.0.0.1:8080/v1")?;
//! let hidden = Hidden::new(Some(&key), Some(&url));
//! assert_eq!(hidden.redacted("bad key sk-secret-123, sig s1g-nature", 100), "bad key ***, sig ***");
//! assert_eq!(klieo_http::url::safe_url(&url).as_str(), "http://127.0.0.1:8080/v1");
//!
//! let client = klieo_http::client::build(false, std::time::Duration::from_secs(10), Default::default(), "example/1")?;
//! # drop(client);
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod client;
pub mod retry_after;
pub mod secret;
pub mod tls;
pub mod url;
