//! Retries a fallible async operation with capped exponential backoff,
//! server-suggested delays, an optional time budget, and cancellation.
//!
//! `klieo-runtime` uses this crate to retry LLM calls, but nothing here
//! knows about LLMs or HTTP: it is generic over any operation and any error
//! type, and a caller-supplied classifier decides which errors are worth
//! another attempt.
//!
//! # Brief overview
//!
//! - [`RetryPolicy`]: how many retries, the base delay, growth factor and
//!   cap, [`Jitter`] and an optional seed for it, the ceiling on
//!   server-suggested delays, and an optional total budget. The default is
//!   3 retries after 100, 200 and 400 ms.
//! - [`Backoff`]: the policy's delays as a plain
//!   `Iterator<Item = Duration>`; nothing sleeps.
//! - [`Jitter`]: how each delay is randomised, always within the cap.
//! - [`RetryDecision`]: a classifier's verdict on an error: stop, retry on
//!   the schedule, or retry after a delay the server gave.
//! - [`retry()`]: the async driver, racing every attempt and sleep against
//!   a `CancellationToken`; it returns [`RetryError`], which is either
//!   `Cancelled` or the last error unchanged. [`retry_notify`] also tells
//!   a hook of each failure that is tried again.
//!
//! The full contract is in `docs/RETRY.md`.
//!
//! # Example
//!
//! An operation that fails twice with a transient error, then succeeds. A
//! permission error would not be retried. Time is paused, so the 300 ms of
//! backoff pass instantly and exactly.
//!
//! ```
//! use std::io;
//! use std::time::Duration;
//! use klieo_retry::{retry, RetryDecision, RetryPolicy};
//! use tokio_util::sync::CancellationToken;
//!
//! let runtime = tokio::runtime::Builder::new_current_thread()
//!     .enable_time()
//!     .start_paused(true)
//!     .build()?;
//!
//! runtime.block_on(async {
//!     let policy = RetryPolicy::default();
//!     let cancel = CancellationToken::new();
//!     let classify = |e: &io::Error| match e.kind() {
//!         io::ErrorKind::PermissionDenied => RetryDecision::Stop,
//!         _ => RetryDecision::Retry,
//!     };
//!
//!     let mut attempts = 0;
//!     let start = tokio::time::Instant::now();
//!     let body = retry(&policy, &cancel, classify, || {
//!         attempts += 1;
//!         let n = attempts;
//!         async move {
//!             if n < 3 {
//!                 Err(io::Error::new(io::ErrorKind::TimedOut, "upstream timed out"))
//!             } else {
//!                 Ok("hello")
//!             }
//!         }
//!     })
//!     .await?;
//!
//!     assert_eq!(body, "hello");
//!     assert_eq!(attempts, 3);
//!     assert_eq!(start.elapsed(), Duration::from_millis(100 + 200));
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod backoff;
mod decision;
mod driver;
mod error;
mod jitter;
mod policy;

pub use crate::{
    backoff::Backoff,
    decision::RetryDecision,
    driver::{retry, retry_notify},
    error::RetryError,
    jitter::Jitter,
    policy::{PolicyError, RetryPolicy},
};
