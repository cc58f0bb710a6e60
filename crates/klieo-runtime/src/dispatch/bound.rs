//! A tool result bounded where it enters the run: a text longer than
//! `RunOptions::max_tool_result_bytes` is cut, and ends with a note that
//! says so, which the model reads and the event log records.

use klieo_types::ToolOutcome;
use serde_json::Value;
use std::io;

/// `outcome`, with its text cut to `limit` bytes when it is longer.
pub(super) fn bound(outcome: ToolOutcome, limit: usize) -> ToolOutcome {
    match outcome {
        ToolOutcome::Ok {
            output: Value::String(text),
        } if text.len() > limit => ToolOutcome::Ok {
            output: Value::String(cut(&text, limit)),
        },
        ToolOutcome::Ok { output } if !fits(&output, limit) => ToolOutcome::Ok {
            output: Value::String(cut(&output.to_string(), limit)),
        },
        ToolOutcome::Error { message } if message.len() > limit => ToolOutcome::Error {
            message: cut(&message, limit),
        },
        other => other,
    }
}

/// Whether `value`'s JSON text is at most `limit` bytes; stops writing it
/// once it is over.
fn fits(value: &Value, limit: usize) -> bool {
    struct Counter {
        bytes: usize,
        limit: usize,
    }
    impl io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.bytes = self.bytes.saturating_add(buf.len());
            if self.bytes > self.limit {
                return Err(io::Error::other("over the limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(&mut Counter { bytes: 0, limit }, value).is_ok()
}

/// The first `limit` bytes of `text` (at a character's boundary) and a
/// note of the cut.
fn cut(text: &str, limit: usize) -> String {
    let mut end = limit.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n[klieo: the result was cut here: it has {} bytes, and a run keeps at most {limit} \
         of one tool result (RunOptions::max_tool_result_bytes)]",
        &text[..end],
        text.len()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(outcome: &ToolOutcome) -> &str {
        match outcome {
            ToolOutcome::Ok {
                output: Value::String(text),
            } => text,
            ToolOutcome::Error { message } => message,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_result_within_the_limit_is_kept_as_it_is() {
        let value = json!({"a": [1, 2, 3]});
        let outcome = ToolOutcome::Ok {
            output: value.clone(),
        };
        let limit = value.to_string().len();
        assert_eq!(bound(outcome.clone(), limit), outcome);
    }

    #[test]
    fn a_long_text_is_cut_at_a_character_boundary_with_a_note() {
        let outcome = ToolOutcome::Ok {
            output: Value::String("é".repeat(10)),
        };
        let cut = bound(outcome, 5);
        assert!(text(&cut).starts_with("éé\n[klieo: the result was cut here"));
        assert!(text(&cut).contains("it has 20 bytes"), "{}", text(&cut));
        assert!(text(&cut).contains("at most 5"), "{}", text(&cut));
    }

    #[test]
    fn a_long_json_value_becomes_its_cut_text() {
        let items: Vec<Value> = (0..1000).map(|i| json!({ "i": i })).collect();
        let outcome = ToolOutcome::Ok {
            output: Value::Array(items),
        };
        let cut = bound(outcome, 64);
        assert!(
            text(&cut).starts_with(r#"[{"i":0},{"i":1}"#),
            "{}",
            text(&cut)
        );
        assert!(text(&cut).len() < 64 + 200);
    }

    #[test]
    fn a_long_error_is_cut_too() {
        let outcome = ToolOutcome::Error {
            message: "x".repeat(1_000_000),
        };
        let cut = bound(outcome, 100);
        assert!(text(&cut).starts_with(&"x".repeat(100)));
        assert!(text(&cut).contains("it has 1000000 bytes"));
    }
}
