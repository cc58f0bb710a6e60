//! A tool result bounded where it enters the run: a text longer than
//! `RunOptions::max_tool_result_bytes` is cut, and ends with a note that
//! says so, which the model reads and the event log records.

use super::results::result_text;
use klieo_types::text::prefix_bytes;
use klieo_types::ToolOutcome;
use serde_json::Value;

/// `outcome`, with its text cut to `limit` bytes when it is longer, and
/// the text the model reads of it: rendered once.
pub(crate) fn bounded(outcome: ToolOutcome, limit: usize) -> (ToolOutcome, String) {
    let text = result_text(&outcome);
    if text.len() <= limit {
        return (outcome, text);
    }
    match outcome {
        ToolOutcome::Ok { .. } => {
            let cut = cut(&text, limit);
            (
                ToolOutcome::Ok {
                    output: Value::String(cut.clone()),
                },
                cut,
            )
        }
        ToolOutcome::Error { message } if message.len() > limit => {
            let outcome = ToolOutcome::Error {
                message: cut(&message, limit),
            };
            let text = result_text(&outcome);
            (outcome, text)
        }
        // A person's reason (a denial).
        ToolOutcome::Denied { reason } if reason.len() > limit => {
            let outcome = ToolOutcome::Denied {
                reason: cut(&reason, limit),
            };
            let text = result_text(&outcome);
            (outcome, text)
        }
        other => (other, text),
    }
}

/// The first `limit` bytes of `text` (at a character's boundary) and a
/// note of the cut.
fn cut(text: &str, limit: usize) -> String {
    format!(
        "{}\n[klieo: the result was cut here: it has {} bytes, and a run keeps at most {limit} \
         of one tool result (RunOptions::max_tool_result_bytes)]",
        prefix_bytes(text, limit),
        text.len()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bound(outcome: ToolOutcome, limit: usize) -> ToolOutcome {
        let (outcome, text) = bounded(outcome, limit);
        assert_eq!(text, result_text(&outcome), "the text is the outcome's");
        outcome
    }

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
