//! klieo-anthropic against the provider conformance suite, in the Messages
//! API's wire format (its events as Anthropic documents them).

use klieo_anthropic::AnthropicClient;
use klieo_provider::builder::ClientBuilder;
use klieo_provider::testing::conformance::{suite, thirds, Habit, Wire};
use klieo_types::{ToolCall, Usage};
use serde_json::{json, Value};
use std::time::Duration;

pub(crate) struct Messages;

pub(crate) fn event(kind: &str, data: &Value) -> String {
    format!("event: {kind}\ndata: {data}\n\n")
}

fn start(input_tokens: u32) -> String {
    event(
        "message_start",
        &json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
            "role": "assistant", "content": [], "model": "claude-test", "stop_reason": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}),
    )
}

fn text_block(index: usize) -> String {
    event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": index,
            "content_block": {"type": "text", "text": ""}}),
    )
}

fn text_delta(index: usize, text: &str) -> String {
    event(
        "content_block_delta",
        &json!({"type": "content_block_delta", "index": index,
            "delta": {"type": "text_delta", "text": text}}),
    )
}

fn block_stop(index: usize) -> String {
    event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": index}),
    )
}

fn end(stop_reason: &str, output_tokens: u32) -> String {
    event(
        "message_delta",
        &json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": {"output_tokens": output_tokens}}),
    ) + &event("message_stop", &json!({"type": "message_stop"}))
}

fn usage(usage: Usage) -> Value {
    json!({"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens})
}

impl Wire for Messages {
    type Client = AnthropicClient;

    fn client(&self, base: &str, key: &str, idle: Duration) -> AnthropicClient {
        AnthropicClient::builder()
            .with_base_url(base)
            .with_api_key(key)
            .with_idle_timeout(idle)
            .build()
            .expect("a client")
    }

    fn text_stream(&self, pieces: &[&str], used: Usage) -> String {
        let mut body = start(used.input_tokens) + &text_block(0);
        body += &event("ping", &json!({"type": "ping"}));
        for piece in pieces {
            body += &text_delta(0, piece);
        }
        body + &block_stop(0) + &end("end_turn", used.output_tokens)
    }

    fn opening(&self, text: &str) -> String {
        start(5) + &text_block(0) + &text_delta(0, text)
    }

    fn tool_call_stream(&self, calls: &[ToolCall], habit: Habit) -> String {
        let mut body = start(20);
        for (index, call) in calls.iter().enumerate() {
            body += &event(
                "content_block_start",
                &json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": call.id, "name": call.name,
                        "input": {}}}),
            );
            // The API sends the id and name once, in the block's start.
            let pieces = match habit {
                Habit::Whole => vec![call.arguments()],
                _ => thirds(call.arguments()),
            };
            for piece in pieces {
                body += &event(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": piece}}),
                );
            }
            body += &block_stop(index);
        }
        body + &end("tool_use", 30)
    }

    fn text_reply(&self, text: &str, used: Usage) -> String {
        json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
            "stop_sequence": null, "usage": usage(used)})
        .to_string()
    }

    fn tool_call_reply(&self, calls: &[ToolCall]) -> String {
        let blocks: Vec<Value> = calls
            .iter()
            .map(|c| {
                let input: Value = serde_json::from_str(c.arguments()).expect("JSON arguments");
                json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input})
            })
            .collect();
        json!({"id": "msg_2", "type": "message", "role": "assistant", "model": "claude-test",
            "content": blocks, "stop_reason": "tool_use",
            "usage": {"input_tokens": 20, "output_tokens": 30}})
        .to_string()
    }

    fn error_body(&self, _status: u16, message: &str) -> String {
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}})
            .to_string()
    }

    fn error_event(&self, message: &str) -> String {
        event(
            "error",
            &json!({"type": "error", "error": {"type": "overloaded_error", "message": message}}),
        )
    }
}

suite!(Messages);
