//! `--json` output for a terminal: serde_json's text, with each character
//! a terminal acts on or that hides text written as a `\uXXXX` escape
//! (DEL, the C1 controls, which serde_json leaves raw, and what
//! reorders or hides text): a script parses the same value, and a model's
//! `\u{9d}52;c;…\u{9c}` (a clipboard write) reaches nobody's terminal.

use crate::runs::hides;
use serde::Serialize;
use std::fmt::Write;

/// `value` as indented JSON, shown safely.
pub(crate) fn pretty<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    Ok(shown(serde_json::to_string_pretty(value)?))
}

/// `value` as one line of JSON, shown safely.
pub(crate) fn line<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    Ok(shown(serde_json::to_string(value)?))
}

/// `json` with each character a terminal acts on escaped. Outside its
/// strings JSON is ASCII, so every such character is inside one, where
/// an escape means the same.
fn shown(json: String) -> String {
    if !json.chars().any(acts) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if acts(c) {
            for unit in c.encode_utf16(&mut [0; 2]) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether a terminal acts on `c` (DEL, C1) or `c` hides text.
fn acts(c: char) -> bool {
    matches!(c, '\u{7f}'..='\u{9f}') || hides(c)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn what_a_terminal_acts_on_is_escaped_and_the_value_kept() {
        let said = "\u{9d}52;c;ZXZpbA==\u{9c} pay \u{202e}evE \u{7f} \u{E0041} caf\u{e9}";
        let value = json!({"answer": said});
        for text in [pretty(&value).unwrap(), line(&value).unwrap()] {
            assert!(!text.chars().any(acts), "{text:?}");
            assert!(text.contains("caf\u{e9}"), "other text stays as it is");
            let back: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back, value);
        }
    }
}
