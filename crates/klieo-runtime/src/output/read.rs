//! The JSON a model's answer holds: all of it, a fenced block, or a value
//! found among its prose, read as the answer's type.

use crate::schema::{read_as, schema_of};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The value of type `T` in `text`: the first JSON value the text holds
/// (see [`candidates`]) that reads as a `T` (see
/// [`read_as`](crate::schema::read_as)), or why the first did not.
pub(crate) fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    read_in(text, false, read_as::<T>)
}

/// [`parse`] for a `T` whose schema is an object: a JSON list is never
/// it (serde would fill a struct's fields by position, from a citation's
/// `[4]` in the prose before the answer).
pub(crate) fn parse_object<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    read_in(text, true, read_as::<T>)
}

/// The JSON value in `text` that reads as a `T` (an object's or a list's,
/// as `T`'s schema says), as the model wrote it: what an agent used as a
/// tool hands back of its answer.
pub(crate) fn value_of<T: DeserializeOwned + JsonSchema>(text: &str) -> Result<Value, String> {
    let object = super::strict::is_object(&schema_of::<T>());
    read_in(text, object, |value: Value| {
        read_as::<T>(value.clone()).map(|_| value)
    })
}

/// The first of `text`'s [`candidates`] that `read` takes (a list never,
/// when an `object` is asked for), or why the first did not.
fn read_in<R>(
    text: &str,
    object: bool,
    read: impl Fn(Value) -> Result<R, String>,
) -> Result<R, String> {
    let mut first = None;
    for json in candidates(text) {
        if object && json.starts_with('[') {
            first.get_or_insert_with(|| "it is a JSON list, not an object".to_owned());
            continue;
        }
        let read = serde_json::from_str::<Value>(json)
            .map_err(|e| e.to_string())
            .and_then(&read);
        match read {
            Ok(value) => return Ok(value),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    Err(first.unwrap_or_else(|| "it holds no JSON value".to_owned()))
}

/// The most places in a text a JSON value is looked for at, past the
/// first guesses: each is a parse of the rest of the text.
const STARTS_TRIED: usize = 64;

/// The JSON values a model's text may hold, the likeliest first: all of
/// it when it parses; else the body of its first fenced block, its
/// outermost `{…}`, the body up to its last fence (a fenced answer with a
/// fence inside a string), the value that starts at each `{`; then its
/// outermost `[…]` and the value at each `[`. Objects come before lists
/// (a fenced list too): prose before an answer may hold brackets (a
/// citation's `[4]`), which a struct would be filled from by position.
fn candidates(text: &str) -> Vec<&str> {
    let text = text.trim();
    if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
        return vec![text];
    }
    let mut found = Vec::new();
    let fenced = text.find("```").map(|start| {
        let body = &text[start + 3..];
        body.split_once('\n').map_or(body, |(lang, rest)| {
            if lang.trim().chars().all(|c| c.is_ascii_alphanumeric()) {
                rest
            } else {
                body
            }
        })
    });
    if let Some(body) = fenced {
        found.extend(body.find("```").map(|end| body[..end].trim()));
    }
    for (open, close) in [('{', '}'), ('[', ']')] {
        if let (Some(start), Some(end)) = (text.find(open), text.rfind(close)) {
            if end > start {
                found.push(&text[start..=end]);
            }
        }
        if open == '{' {
            if let Some(body) = fenced {
                found.extend(body.rfind("```").map(|end| body[..end].trim()));
            }
        }
        for at in text
            .match_indices(open)
            .map(|(at, _)| at)
            .take(STARTS_TRIED)
        {
            let rest = &text[at..];
            let mut values =
                serde_json::Deserializer::from_str(rest).into_iter::<serde::de::IgnoredAny>();
            if let Some(Ok(_)) = values.next() {
                found.push(&rest[..values.byte_offset()]);
            }
        }
    }
    // Every object before any list, whatever their likelihood: a check
    // that refuses lists (an object's type) and a read that does not
    // take the same answer.
    found.sort_by_key(|json| json.starts_with('['));
    found
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, JsonSchema, PartialEq)]
    struct Total {
        amount: i64,
        note: Option<String>,
    }

    #[test]
    fn json_is_found_in_what_models_write() {
        let want = Total {
            amount: 3,
            note: None,
        };
        for text in [
            r#"{"amount": 3}"#,
            "```json\n{\"amount\": 3}\n```",
            "Sure! Here it is: {\"amount\": 3, \"note\": null} Hope that helps.",
            "```\n{\"amount\": 3}\n```",
        ] {
            assert_eq!(parse::<Total>(text).as_ref(), Ok(&want), "{text}");
        }
    }

    #[derive(Debug, Deserialize, JsonSchema, PartialEq)]
    struct Score {
        value: u32,
    }

    #[derive(Debug, Deserialize, JsonSchema, PartialEq)]
    struct Note {
        md: String,
    }

    #[test]
    fn a_citation_in_the_prose_is_not_the_answer() {
        let text = r#"From the reviews [4], my rating: {"value": 7}"#;
        assert_eq!(parse::<Score>(text), Ok(Score { value: 7 }));
        assert_eq!(parse_object::<Score>(text), Ok(Score { value: 7 }));
        assert!(parse_object::<Score>("[4]").is_err(), "a list is no object");
        let listed = "Here: [{\"value\": 1}, {\"value\": 2}]";
        assert_eq!(
            parse::<Vec<Score>>(listed),
            Ok(vec![Score { value: 1 }, Score { value: 2 }])
        );
    }

    #[test]
    fn a_fence_inside_a_fenced_answers_string_is_kept() {
        let text = "```json\n{\"md\": \"Run:\\n```sh\\nls\\n```\"}\n```";
        let note = parse::<Note>(text);
        assert_eq!(note.map(|n| n.md), Ok("Run:\n```sh\nls\n```".to_owned()));
    }

    #[test]
    fn a_whole_number_written_as_a_float_is_an_integer() {
        assert_eq!(parse::<Score>(r#"{"value": 7.0}"#), Ok(Score { value: 7 }));
    }

    #[test]
    fn a_fenced_value_with_a_fence_inside_its_string_is_read_to_the_last_fence() {
        let text = "```json\n\"run ``` this\"\n```";
        assert_eq!(parse::<String>(text), Ok("run ``` this".to_owned()));
    }

    #[test]
    fn an_agents_list_answer_is_handed_back_whole() {
        let text = "Here are the scores: [{\"value\": 1}, {\"value\": 2}]";
        let value = value_of::<Vec<Score>>(text);
        assert_eq!(value, Ok(serde_json::json!([{"value": 1}, {"value": 2}])));
        let one = value_of::<Score>("From [4]: {\"value\": 7}");
        assert_eq!(one, Ok(serde_json::json!({"value": 7})));
    }
}
