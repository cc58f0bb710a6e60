//! Equality of [`LlmError`]s: every field but the lower-level cause, so
//! errors stay comparable although a transport's error is not.

use super::LlmError;

impl PartialEq for LlmError {
    fn eq(&self, other: &Self) -> bool {
        use LlmError as E;
        match (self, other) {
            (E::Network { reason: a, .. }, E::Network { reason: b, .. }) => a == b,
            (
                E::Interrupted {
                    bytes,
                    events,
                    reason,
                    ..
                },
                E::Interrupted {
                    bytes: b,
                    events: e,
                    reason: r,
                    ..
                },
            ) => (bytes, events, reason) == (b, e, r),
            (E::Timeout { limit, after }, E::Timeout { limit: l, after: a }) => {
                (limit, after) == (l, a)
            }
            (
                E::RateLimit { message, hint },
                E::RateLimit {
                    message: m,
                    hint: h,
                },
            )
            | (
                E::Unauthorized { message, hint },
                E::Unauthorized {
                    message: m,
                    hint: h,
                },
            ) => (message, hint) == (m, h),
            (E::QuotaExhausted { message }, E::QuotaExhausted { message: m }) => message == m,
            (
                E::BadRequest {
                    status,
                    message,
                    hint,
                },
                E::BadRequest {
                    status: s,
                    message: m,
                    hint: h,
                },
            ) => (status, message, hint) == (s, m, h),
            (
                E::Server {
                    status,
                    message,
                    hint,
                    cause,
                },
                E::Server {
                    status: s,
                    message: m,
                    hint: h,
                    cause: c,
                },
            ) => (status, message, hint, cause) == (s, m, h, c),
            (
                E::Decoding {
                    reason, excerpt, ..
                },
                E::Decoding {
                    reason: r,
                    excerpt: x,
                    ..
                },
            ) => (reason, excerpt) == (r, x),
            (
                E::ReplyTooLarge { limit, excerpt },
                E::ReplyTooLarge {
                    limit: l,
                    excerpt: x,
                },
            ) => (limit, excerpt) == (l, x),
            (E::LineTooLong { limit }, E::LineTooLong { limit: l })
            | (E::EventTooLong { limit }, E::EventTooLong { limit: l })
            | (E::ToolCallsTooLarge { limit }, E::ToolCallsTooLarge { limit: l }) => limit == l,
            (E::Unsupported(a), E::Unsupported(b)) => a == b,
            (E::Cancelled, E::Cancelled) => true,
            (E::AllProvidersFailed { failures: a }, E::AllProvidersFailed { failures: b }) => {
                a == b
            }
            _ => false,
        }
    }
}

impl Eq for LlmError {}
