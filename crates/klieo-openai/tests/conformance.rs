//! klieo-openai against the provider conformance suite, in Chat
//! Completions' wire format.

use klieo_openai::OpenAiClient;
use klieo_provider::builder::ClientBuilder;
use klieo_provider::testing::conformance::{suite, thirds, Habit, Wire};
use klieo_types::{ToolCall, Usage};
use serde_json::{json, Value};
use std::time::Duration;

struct ChatCompletions;

fn data(value: &Value) -> String {
    format!("data: {value}\n\n")
}

fn delta(delta: Value, finish: Value) -> String {
    data(&json!({"object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}))
}

fn usage(usage: Usage) -> Value {
    json!({"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens})
}

impl Wire for ChatCompletions {
    type Client = OpenAiClient;

    fn client(&self, base: &str, key: &str, idle: Duration) -> OpenAiClient {
        OpenAiClient::builder()
            .with_base_url(format!("{base}/v1"))
            .with_api_key(key)
            .with_idle_timeout(idle)
            .build()
            .expect("a client")
    }

    fn text_stream(&self, pieces: &[&str], used: Usage) -> String {
        let mut body = delta(json!({"role": "assistant"}), Value::Null);
        for piece in pieces {
            body += &delta(json!({"content": piece}), Value::Null);
        }
        body += &delta(json!({}), json!("stop"));
        body += &data(&json!({"choices": [], "usage": usage(used)}));
        body + "data: [DONE]\n\n"
    }

    fn opening(&self, text: &str) -> String {
        delta(json!({"role": "assistant"}), Value::Null)
            + &delta(json!({"content": text}), Value::Null)
    }

    fn tool_call_stream(&self, calls: &[ToolCall], habit: Habit) -> String {
        let mut body = delta(json!({"role": "assistant"}), Value::Null);
        for (index, call) in calls.iter().enumerate() {
            let fragment = |args: &str, first: bool| {
                let named = first || habit == Habit::IdAndNameInEveryFragment;
                let mut f = json!({"index": index, "function": {"arguments": args}});
                if named {
                    f["id"] = json!(call.id);
                    f["type"] = json!("function");
                    f["function"]["name"] = json!(call.name);
                }
                delta(json!({"tool_calls": [f]}), Value::Null)
            };
            if habit == Habit::Whole {
                body += &fragment(call.arguments(), true);
                continue;
            }
            if habit == Habit::IdAndNameOnce {
                body += &fragment("", true);
            }
            for piece in thirds(call.arguments()) {
                body += &fragment(piece, habit == Habit::IdAndNameInEveryFragment);
            }
        }
        body += &delta(json!({}), json!("tool_calls"));
        body + "data: [DONE]\n\n"
    }

    fn text_reply(&self, text: &str, used: Usage) -> String {
        json!({"id": "chatcmpl-1", "model": "gpt-test",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
            "finish_reason": "stop"}], "usage": usage(used)})
        .to_string()
    }

    fn tool_call_reply(&self, calls: &[ToolCall]) -> String {
        let calls: Vec<Value> = calls
            .iter()
            .map(|c| {
                json!({"id": c.id, "type": "function",
                "function": {"name": c.name, "arguments": c.arguments()}})
            })
            .collect();
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "tool_calls": calls}, "finish_reason": "tool_calls"}]})
        .to_string()
    }

    fn error_body(&self, _status: u16, message: &str) -> String {
        json!({"error": {"message": message, "type": "invalid_request_error"}}).to_string()
    }

    fn error_event(&self, message: &str) -> String {
        data(&json!({"error": {"message": message, "type": "server_error"}}))
    }
}

suite!(ChatCompletions);
