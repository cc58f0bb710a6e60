//! Token counts as servers write them: a usage report is read whatever
//! its numbers, so that a count no client expects (negative, written
//! with an exponent, past `u64`) never fails the chunk or the reply that
//! carries it, and with it the answer.
//!
//! ```
//! #[derive(serde::Deserialize)]
//! struct Usage {
//!     #[serde(default, deserialize_with = "klieo_provider::count::token_count")]
//!     output_tokens: Option<u64>,
//! }
//!
//! let read = |json| serde_json::from_str::<Usage>(json).map(|u| u.output_tokens);
//! assert_eq!(read(r#"{"output_tokens": 12}"#)?, Some(12));
//! assert_eq!(read(r#"{"output_tokens": 1e3}"#)?, Some(1_000));
//! assert_eq!(read(r#"{"output_tokens": -4}"#)?, Some(0));
//! assert_eq!(read(r#"{"output_tokens": "many"}"#)?, None);
//! # Ok::<(), serde_json::Error>(())
//! ```

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A token count: a whole number as it is, a fraction cut to its whole
/// part, one past `u64::MAX` as `u64::MAX`, a negative one as 0;
/// anything that is not a number (`null`, a string) as no count.
///
/// # Errors
///
/// When the input is not JSON, or is a number past what an `f64` holds
/// (`1e309`), which the JSON reader refuses before this sees it.
pub fn token_count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let Value::Number(n) = Value::deserialize(deserializer)? else {
        return Ok(None);
    };
    Ok(Some(match (n.as_u64(), n.as_f64()) {
        (Some(whole), _) => whole,
        // `as` saturates, and NaN is 0; JSON has neither NaN nor infinities.
        (None, Some(x)) if x > 0.0 => x as u64,
        _ => 0,
    }))
}
