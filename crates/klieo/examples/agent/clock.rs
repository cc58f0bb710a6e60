//! The `utc_now` tool: the current date and time in UTC, RFC 3339.

use klieo::types::{FnTool, ToolDef, ToolError};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// The tool, ready for a `ToolSet`.
pub(crate) fn tool() -> FnTool<impl Fn(Value) -> Result<Value, ToolError> + Send + Sync> {
    let def = ToolDef::new(
        "utc_now",
        "Returns the current date and time in UTC, like 2026-11-23T17:02:03Z.",
        json!({"type": "object", "properties": {}}),
    );
    FnTool::new(def, |_args| {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| ToolError::Permanent(format!("the system clock is before 1970: {e}")))?
            .as_secs();
        Ok(json!(rfc3339(secs)))
    })
}

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic
/// Gregorian calendar; days to civil date after Howard Hinnant).
pub(crate) fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_454_992), "2026-11-23T17:29:52Z");
    }
}
