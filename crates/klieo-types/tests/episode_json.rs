//! The stable JSON shape of [`Episode`], pinned by a golden file.

use klieo_types::{Episode, FinishReason, ToolOutcome, Usage};
use serde_json::json;

const GOLDEN: &str = include_str!("fixtures/episodes.jsonl");

fn sample() -> Vec<Episode> {
    vec![
        Episode::Started {
            agent: "calc".into(),
        },
        Episode::LlmCall {
            step: 1,
            tokens: Some(Usage::new(52, 9)),
            latency_ms: 310,
            finish_reason: FinishReason::ToolCalls,
            tool_calls: 1,
            spend: None,
        },
        Episode::ToolCall {
            step: 1,
            call_id: "c1".into(),
            name: "calculator".into(),
            args: json!({"expression": "17*23"}).into(),
            result: ToolOutcome::Ok { output: json!(391) },
            latency_ms: 0,
        },
        Episode::ToolCall {
            step: 1,
            call_id: "c2".into(),
            name: "calculator".into(),
            args: json!("{\"expression\": ").into(),
            result: ToolOutcome::Error {
                message: "invalid arguments for tool `calculator`: EOF while parsing".into(),
            },
            latency_ms: 0,
        },
        Episode::ToolCall {
            step: 1,
            call_id: "c3".into(),
            name: "slow".into(),
            args: json!({}).into(),
            result: ToolOutcome::Cancelled,
            latency_ms: 50,
        },
        Episode::LlmCall {
            step: 2,
            tokens: None,
            latency_ms: 120,
            finish_reason: FinishReason::Stop,
            tool_calls: 0,
            spend: None,
        },
        Episode::Completed { steps: 2 },
        Episode::Failed {
            error: "cancelled".into(),
        },
        Episode::Resumed { steps: 1 },
        Episode::ToolCall {
            step: 2,
            call_id: "c4".into(),
            name: "send_mail".into(),
            args: json!({"to": "ada@example.com"}).into(),
            result: ToolOutcome::Interrupted,
            latency_ms: 0,
        },
        Episode::Suspended {
            step: 2,
            call_id: "c5".into(),
            tool: "send_mail".into(),
            digest: "9f2c4e1a07b3d566".into(),
        },
        Episode::Approved {
            call_id: "c5".into(),
            by: None,
        },
        Episode::Denied {
            call_id: "c6".into(),
            reason: "not to Eve".into(),
            by: Some("ada".into()),
        },
        Episode::ToolCall {
            step: 2,
            call_id: "c6".into(),
            name: "send_mail".into(),
            args: json!({"to": "eve@example.com"}).into(),
            result: ToolOutcome::Denied {
                reason: "not to Eve".into(),
            },
            latency_ms: 0,
        },
        Episode::Compacted {
            step: 3,
            from: 0,
            through: 12,
            summary: "Ada asked to mail Eve; it was denied.".into(),
            tokens: Some(Usage::new(410, 14)),
        },
        Episode::CompactionFailed {
            step: 4,
            reason: "the summary came back empty".into(),
        },
        Episode::InDoubt {
            step: 5,
            call_id: "c7".into(),
            tool: "pay".into(),
            digest: "51c0de2a9b7e4f13".into(),
        },
        Episode::Settled {
            call_id: "c7".into(),
            outcome: ToolOutcome::Ok {
                output: json!("receipt 42"),
            },
            by: Some("ada".into()),
        },
    ]
}

#[test]
fn episodes_serialize_to_the_golden_lines() {
    let lines: Vec<String> = sample()
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let golden: Vec<&str> = GOLDEN.lines().collect();
    assert_eq!(lines, golden, "the Episode JSON shape is a stable contract");
}

#[test]
fn golden_lines_deserialize_to_the_same_episodes() {
    let parsed: Vec<Episode> = GOLDEN
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(parsed, sample());
}

#[test]
fn every_kind_is_the_json_type() {
    for episode in sample() {
        let json = serde_json::to_value(&episode).unwrap();
        assert_eq!(json["type"], episode.kind(), "{episode:?}");
    }
}

#[test]
fn unknown_tokens_stay_distinct_from_zero() {
    let zero = Episode::LlmCall {
        step: 1,
        tokens: Some(Usage::new(0, 0)),
        latency_ms: 0,
        finish_reason: FinishReason::Stop,
        tool_calls: 0,
        spend: None,
    };
    let json = serde_json::to_value(&zero).unwrap();
    assert_eq!(
        json["tokens"],
        json!({"input_tokens": 0, "output_tokens": 0})
    );
    let unknown: Episode = serde_json::from_value(json!({
        "type": "llm_call", "step": 1, "tokens": null, "latency_ms": 0,
        "finish_reason": "stop", "tool_calls": 0
    }))
    .unwrap();
    assert_ne!(unknown, zero);
}
