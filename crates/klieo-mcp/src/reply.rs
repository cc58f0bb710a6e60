//! A `tools/call` result as a klieo tool output, or as the tool error the
//! model is told of.

use crate::scrub::{Secrets, TEXT_LIMIT};
use klieo_types::ToolError;
use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};
use serde_json::Value;

/// The output of a call, with every secret of `secrets` taken out: its
/// `structuredContent` when it has one and its content only mirrors it
/// (the JSON of it, as the MCP specification asks a server to add, or
/// nothing); its content as text, followed by the structured content's
/// JSON when the content says more (a page's text beside its metadata);
/// its content as text when it has no structured content (`null` is
/// none). A result marked `isError` is [`ToolError::Failed`]: the model
/// reads the message (its text, or else its structured content; scrubbed
/// of `secrets` and bounded) and the run goes on.
pub(crate) fn output(
    tool: &str,
    result: CallToolResult,
    secrets: &Secrets,
) -> Result<Value, ToolError> {
    let text = text_of(&result.content);
    let structured = result.structured_content.filter(|value| !value.is_null());
    if result.is_error == Some(true) {
        let message = match (text.is_empty(), &structured) {
            (false, _) => secrets.shown(&text, TEXT_LIMIT),
            (true, Some(value)) => secrets.shown(&value.to_string(), TEXT_LIMIT),
            (true, None) => "the tool reported an error and gave no message".to_owned(),
        };
        return Err(ToolError::Failed {
            tool: tool.to_owned(),
            message,
        });
    }
    let answer = match structured {
        None => Value::String(text),
        Some(value) if mirrored(&result.content, &value) => value,
        Some(value) => Value::String(format!("{text}\n{value}")),
    };
    Ok(secrets.scrub_value(answer))
}

/// Whether `content` only says what `structured` does: each block the
/// text of it (the JSON, in any layout), or, for a result the server
/// wrapped (`{"result": …}`, as the Python SDK wraps what is not an
/// object), of what it wraps, a list one block an item.
fn mirrored(content: &[ContentBlock], structured: &Value) -> bool {
    if content.iter().all(|block| mirrors(block, structured)) {
        return true;
    }
    let Some(wrapped) = structured
        .as_object()
        .filter(|fields| fields.len() == 1)
        .and_then(|fields| fields.get("result"))
    else {
        return false;
    };
    match wrapped {
        Value::Array(items) if content.len() == items.len() && !items.is_empty() => content
            .iter()
            .zip(items)
            .all(|(block, item)| mirrors(block, item)),
        one => content.len() == 1 && content.iter().all(|block| mirrors(block, one)),
    }
}

/// Whether `block` is the text of `value`: its JSON, in any layout, or,
/// for a string, the string.
fn mirrors(block: &ContentBlock, value: &Value) -> bool {
    match block {
        ContentBlock::Text(text) => {
            value.as_str() == Some(text.text.as_str())
                || serde_json::from_str::<Value>(&text.text).is_ok_and(|parsed| parsed == *value)
        }
        _ => false,
    }
}

/// The content blocks as text for the model, one per line. What is not
/// text (an image, audio, a binary resource) is named, with its size, but
/// not pasted: base64 would only fill the model's context.
fn text_of(content: &[ContentBlock]) -> String {
    let parts: Vec<String> = content.iter().map(block_text).collect();
    parts.join("\n")
}

fn block_text(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::Image(image) => {
            format!(
                "[an image, {}, {} bytes of base64]",
                image.mime_type,
                image.data.len()
            )
        }
        ContentBlock::Audio(audio) => {
            format!(
                "[audio, {}, {} bytes of base64]",
                audio.mime_type,
                audio.data.len()
            )
        }
        ContentBlock::Resource(embedded) => match &embedded.resource {
            ResourceContents::TextResourceContents { text, .. } => text.clone(),
            ResourceContents::BlobResourceContents {
                uri,
                mime_type,
                blob,
                ..
            } => format!(
                "[resource {uri}, {}, {} bytes of base64]",
                mime_type.as_deref().unwrap_or("binary"),
                blob.len()
            ),
            _ => unknown_kind(block),
        },
        ContentBlock::ResourceLink(link) => format!("[resource {} ({})]", link.uri, link.name),
        _ => unknown_kind(block),
    }
}

/// A block of a kind newer than klieo, named by its `type`.
fn unknown_kind(block: &ContentBlock) -> String {
    let value = serde_json::to_value(block).unwrap_or_default();
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    format!("[{kind} content]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(value: Value) -> CallToolResult {
        serde_json::from_value(value).expect("a tools/call result")
    }

    #[test]
    fn structured_content_wins_over_its_text_copy() {
        let r = result(json!({
            "content": [{"type": "text", "text": "{\"sum\": 3}"}],
            "structuredContent": {"sum": 3}
        }));
        assert_eq!(output("add", r, &Secrets::default()), Ok(json!({"sum": 3})));
    }

    #[test]
    fn a_null_structured_content_keeps_the_text() {
        let r = result(json!({
            "content": [{"type": "text", "text": "hi"}],
            "structuredContent": null
        }));
        assert_eq!(output("t", r, &Secrets::default()), Ok(json!("hi")));
    }

    #[test]
    fn content_that_says_more_than_its_structured_content_is_kept_beside_it() {
        let r = result(json!({
            "content": [{"type": "text", "text": "# The page"}],
            "structuredContent": {"status": 200}
        }));
        assert_eq!(
            output("fetch", r, &Secrets::default()),
            Ok(json!("# The page\n{\"status\":200}"))
        );
    }

    #[test]
    fn a_result_the_python_sdk_wrapped_is_its_structured_content() {
        for (content, wrapped) in [
            (json!([{"type": "text", "text": "3"}]), json!(3)),
            (json!([{"type": "text", "text": "hello"}]), json!("hello")),
            (
                json!([{"type": "text", "text": "{\"a\": 1}"}, {"type": "text", "text": "2"}]),
                json!([{"a": 1}, 2]),
            ),
        ] {
            let structured = json!({ "result": wrapped });
            let r = result(json!({"content": content, "structuredContent": structured}));
            assert_eq!(output("t", r, &Secrets::default()), Ok(structured));
        }
    }

    #[test]
    fn structured_content_alone_is_the_output() {
        let r = result(json!({"content": [], "structuredContent": {"sum": 3}}));
        assert_eq!(output("add", r, &Secrets::default()), Ok(json!({"sum": 3})));
    }

    #[test]
    fn an_error_told_only_in_structured_content_shows_it() {
        let r = result(json!({
            "content": [],
            "structuredContent": {"error": "no such city"},
            "isError": true
        }));
        let out = output("weather", r, &Secrets::default());
        assert!(
            matches!(&out, Err(ToolError::Failed { message, .. }) if message.contains("no such city")),
            "{out:?}"
        );
    }

    #[test]
    fn an_answer_that_echoes_a_secret_reaches_the_model_without_it() {
        let secrets = Secrets::of(&crate::options::Transport::Http {
            url: "http://127.0.0.1/mcp".into(),
            headers: vec![("x-api-key".into(), "sk-live-abcdef".into())],
        });
        let text = result(json!({"content": [{"type": "text", "text": "key sk-live-abcdef"}]}));
        assert_eq!(output("t", text, &secrets), Ok(json!("key ***")));
        let structured =
            result(json!({"content": [], "structuredContent": {"k": "sk-live-abcdef"}}));
        assert_eq!(output("t", structured, &secrets), Ok(json!({"k": "***"})));
    }

    #[test]
    fn content_becomes_text_with_binary_parts_named_not_pasted() {
        let r = result(json!({"content": [
            {"type": "text", "text": "here:"},
            {"type": "image", "data": "aGVsbG8=", "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "file:///a.txt", "text": "inside"}},
            {"type": "resource_link", "uri": "file:///b", "name": "b"}
        ]}));
        let expected =
            "here:\n[an image, image/png, 8 bytes of base64]\ninside\n[resource file:///b (b)]";
        assert_eq!(output("t", r, &Secrets::default()), Ok(json!(expected)));
    }

    #[test]
    fn an_error_result_goes_to_the_model_as_a_failure() {
        let r =
            result(json!({"content": [{"type": "text", "text": "no such city"}], "isError": true}));
        assert_eq!(
            output("weather", r, &Secrets::default()),
            Err(ToolError::Failed {
                tool: "weather".into(),
                message: "no such city".into()
            })
        );
        let bare = result(json!({"content": [], "isError": true}));
        assert!(
            matches!(output("w", bare, &Secrets::default()), Err(ToolError::Failed { message, .. }) if message.contains("no message"))
        );
    }
}
