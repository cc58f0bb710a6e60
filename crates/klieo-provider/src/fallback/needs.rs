//! What a request needs of a provider, checked against its
//! [`Capabilities`] before the request is sent to it, and the capabilities
//! of a list of providers as one client.

use klieo_types::{Capabilities, ChatRequest, Message, ResponseFormat, Role, ToolChoice};

/// How the request is to be served.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Complete,
    Stream,
}

/// Why a provider with `caps` cannot serve `req`, or `None` when it can.
pub(super) fn lacks(caps: &Capabilities, req: &ChatRequest, mode: Mode) -> Option<&'static str> {
    let has_tools = !req.tools.is_empty();
    if has_tools && !caps.tool_calling() {
        return Some("the request offers tools and the provider does not call tools");
    }
    // A tool forced by name is served by every provider that calls tools:
    // one that cannot be told a name sends the call as `required` with
    // only that tool (see `Capabilities::named_tool_choice`).
    match req.response_format {
        ResponseFormat::JsonSchema { .. } if !caps.json_schema() => {
            return Some("the request asks for a JSON Schema and the provider cannot enforce one");
        }
        ResponseFormat::JsonObject if !caps.json_mode() => {
            return Some("the request asks for a JSON object and the provider has no JSON mode");
        }
        _ => {}
    }
    if mode == Mode::Stream {
        if !caps.streaming() {
            return Some("the call is streamed and the provider does not stream");
        }
        let model_chooses = has_tools && matches!(req.tool_choice, None | Some(ToolChoice::Auto));
        if model_chooses && !caps.streamed_auto_tool_calls() {
            return Some(
                "the call is streamed with tools the model may choose, which the provider \
                 cannot stream",
            );
        }
    }
    None
}

/// `req` as a provider with `caps` that cannot serve it as it is can be
/// asked it in words, when it then can serve it: an answer's shape it
/// cannot enforce is asked for in words instead, as the runtime asks a
/// provider without the feature (the caller checks the answer either
/// way). A JSON Schema goes into the system message (a JSON object asked
/// for then where the provider has JSON mode and the schema is an
/// object's); a JSON object the provider has no mode for is asked for as
/// text (the caller's instructions already describe it).
pub(super) fn told_in_words(
    caps: &Capabilities,
    req: &ChatRequest,
    mode: Mode,
) -> Option<ChatRequest> {
    let (format, schema) = match &req.response_format {
        ResponseFormat::JsonSchema { schema, .. } if !caps.json_schema() => {
            let object = schema.get("type").and_then(|t| t.as_str()) == Some("object");
            let format = match caps.json_mode() && object {
                true => ResponseFormat::JsonObject,
                false => ResponseFormat::Text,
            };
            (format, Some(schema))
        }
        ResponseFormat::JsonObject if !caps.json_mode() => (ResponseFormat::Text, None),
        _ => return None,
    };
    let mut told = req.clone();
    told.response_format = format;
    if let Some(schema) = schema {
        told.messages = told_the_schema(req, schema);
    }
    lacks(caps, &told, mode).is_none().then_some(told)
}

/// `req`'s messages, its system message (or a new one in front) telling
/// the answer's `schema`, unless it tells an answer's schema already (the
/// runtime's instructions do when the model also has tools).
fn told_the_schema(req: &ChatRequest, schema: &serde_json::Value) -> klieo_types::Transcript {
    let mut messages = req.messages.iter();
    let (instructions, rest): (&str, Vec<Message>) = match req.messages.get(0) {
        Some(first) if first.role == Role::System => {
            messages.next();
            (first.content.as_str(), messages.cloned().collect())
        }
        _ => ("", messages.cloned().collect()),
    };
    // The words that ask for a schema, before the schema itself.
    let asked = klieo_types::schema_in_instructions("", &serde_json::Value::Null);
    let asked = asked.split('\n').next().unwrap_or_default();
    if !asked.is_empty() && instructions.contains(asked) {
        return req.messages.clone();
    }
    let system = Message::system(klieo_types::schema_in_instructions(instructions, schema));
    std::iter::once(system).chain(rest).collect()
}

/// The capabilities of providers tried in turn: what any of them can do
/// (a request goes first to those that can serve it as asked), except where the
/// caller decides by them how to call: a stream of the model's own tool
/// choices and usage in streams are claimed only when all have them, and
/// the context window is the smallest.
pub(super) fn combined(each: &[Capabilities]) -> Capabilities {
    let any = |f: fn(&Capabilities) -> bool| each.iter().any(f);
    let all = |f: fn(&Capabilities) -> bool| each.iter().all(f);
    let caps = Capabilities::default()
        .with_tool_calling(any(|c| c.tool_calling()))
        .with_streaming(any(|c| c.streaming()))
        .with_streamed_auto_tool_calls(all(|c| c.streamed_auto_tool_calls()))
        .with_json_schema(any(|c| c.json_schema()))
        .with_json_mode(any(|c| c.json_mode()))
        .with_usage_in_streams(all(|c| c.usage_in_streams()))
        .with_embeddings(any(|c| c.embeddings()))
        .with_named_tool_choice(any(|c| c.named_tool_choice()));
    match each.iter().filter_map(|c| c.max_context_tokens()).min() {
        Some(smallest) => caps.with_max_context_tokens(smallest),
        None => caps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klieo_types::{Message, ToolDef};

    fn with_tools() -> ChatRequest {
        let mut req = ChatRequest::new(vec![Message::user("hi")]);
        req.tools = vec![ToolDef::new("echo", "echoes", serde_json::json!({}))].into();
        req
    }

    #[test]
    fn a_request_with_tools_needs_a_provider_that_calls_them() {
        let none = Capabilities::default().with_tool_calling(false);
        assert!(lacks(&none, &with_tools(), Mode::Complete).is_some());
        assert!(lacks(&Capabilities::default(), &with_tools(), Mode::Complete).is_none());
        let plain = ChatRequest::new(vec![Message::user("hi")]);
        assert!(lacks(&none, &plain, Mode::Complete).is_none());
    }

    #[test]
    fn a_schema_needs_json_schema_and_a_stream_needs_streaming() {
        let mut req = ChatRequest::new(vec![Message::user("hi")]);
        req.response_format = ResponseFormat::JsonSchema {
            name: "Answer".into(),
            schema: serde_json::json!({"type": "object"}),
            strict: true,
        };
        assert!(lacks(&Capabilities::default(), &req, Mode::Complete).is_some());
        let schema = Capabilities::default().with_json_schema(true);
        assert!(lacks(&schema, &req, Mode::Complete).is_none());
        let silent = schema.with_streaming(false);
        assert!(lacks(&silent, &req, Mode::Stream).is_some());
    }

    #[test]
    fn auto_tool_choice_streams_only_where_the_provider_streams_it() {
        let blocking_tools = Capabilities::default().with_streamed_auto_tool_calls(false);
        assert!(lacks(&blocking_tools, &with_tools(), Mode::Stream).is_some());
        assert!(lacks(&blocking_tools, &with_tools(), Mode::Complete).is_none());
    }

    #[test]
    fn combined_claims_any_members_features_and_the_smallest_window() {
        let a = Capabilities::default()
            .with_json_schema(true)
            .with_max_context_tokens(8_000);
        let b = Capabilities::default()
            .with_streamed_auto_tool_calls(false)
            .with_max_context_tokens(4_096);
        let caps = combined(&[a, b]);
        assert!(caps.json_schema());
        assert!(!caps.streamed_auto_tool_calls());
        assert_eq!(caps.max_context_tokens(), Some(4_096));
    }
}
