//! A run's timeline as a picture: each step's model call, then its tool
//! calls side by side (they run at once), on one time axis, drawn as SVG.
//!
//! The log keeps each call's duration, not its clock time, so the axis is
//! rebuilt from them as the engine runs a step: the model call, then the
//! step's tool calls together from its end, the next step from the end of
//! the slowest. Time between steps (waiting for a person, a worker's
//! restart) is not drawn.

use super::run_page::SHORT;
use crate::runs::plain;
use klieo::types::{Episode, ToolOutcome};
use maud::{html, Markup};

/// What a bar stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Model,
    Tool,
    ToolFailed,
    ToolDenied,
}

/// One call on the axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bar {
    /// 0 for model calls; tool calls of a step take lanes 1, 2, …
    pub(crate) lane: usize,
    pub(crate) start_ms: u64,
    pub(crate) duration_ms: u64,
    pub(crate) kind: Kind,
    /// What the bar's tooltip says (escaped when drawn).
    pub(crate) label: String,
}

/// How the log ends, marked at the end of the axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Completed,
    Failed,
    Waits,
}

/// The bars of `log`, and how it ends, if it does.
pub(crate) fn bars(log: &[Episode]) -> (Vec<Bar>, Option<End>) {
    let mut bars = Vec::new();
    let mut end = None;
    // Where the current step's tool calls start, and where the slowest ends.
    let (mut tools_from, mut step_end, mut lane) = (0_u64, 0_u64, 0_usize);
    for episode in log {
        match episode {
            Episode::LlmCall {
                step,
                latency_ms,
                finish_reason,
                ..
            } => {
                let start = step_end;
                bars.push(Bar {
                    lane: 0,
                    start_ms: start,
                    duration_ms: *latency_ms,
                    kind: Kind::Model,
                    label: format!(
                        "step {step}: model call, {latency_ms} ms, {}",
                        finish_reason.as_str()
                    ),
                });
                tools_from = start.saturating_add(*latency_ms);
                step_end = tools_from;
                lane = 0;
            }
            Episode::ToolCall {
                step,
                name,
                result,
                latency_ms,
                ..
            } => {
                lane += 1;
                let kind = match result {
                    ToolOutcome::Ok { .. } => Kind::Tool,
                    ToolOutcome::Denied { .. } => Kind::ToolDenied,
                    _ => Kind::ToolFailed,
                };
                bars.push(Bar {
                    lane,
                    start_ms: tools_from,
                    duration_ms: *latency_ms,
                    kind,
                    label: format!("step {step}: {}, {latency_ms} ms", plain(name, SHORT)),
                });
                step_end = step_end.max(tools_from.saturating_add(*latency_ms));
            }
            Episode::Completed { .. } => end = Some(End::Completed),
            Episode::Failed { .. } => end = Some(End::Failed),
            Episode::Suspended { .. }
            | Episode::InDoubt { .. }
            | Episode::WaitingOnChild { .. } => end = Some(End::Waits),
            Episode::Approved { .. }
            | Episode::Denied { .. }
            | Episode::Settled { .. }
            | Episode::ChildWoken { .. } => end = None,
            _ => {}
        }
    }
    (bars, end)
}

const WIDTH: u64 = 960;
const LEFT: u64 = 70;
const LANE: u64 = 22;

/// The timeline of `log` as SVG; nothing when it has no calls.
pub(crate) fn draw(log: &[Episode]) -> Markup {
    let (bars, end) = bars(log);
    if bars.is_empty() {
        return html! { p.muted { "No model or tool calls yet." } };
    }
    let lanes = bars.iter().map(|b| b.lane).max().unwrap_or(0) + 1;
    let total = bars
        .iter()
        .map(|b| b.start_ms.saturating_add(b.duration_ms))
        .max()
        .unwrap_or(0)
        .max(1);
    let span = WIDTH - LEFT - 20;
    // Bars are at least 3 pixels wide, so an instant call still shows.
    let x = |ms: u64| LEFT + ms.saturating_mul(span) / total;
    let width =
        |bar: &Bar| (x(bar.start_ms.saturating_add(bar.duration_ms)) - x(bar.start_ms)).max(3);
    let height = 30 + lanes as u64 * LANE;
    let class = |kind: Kind| match kind {
        Kind::Model => "model",
        Kind::Tool => "tool",
        Kind::ToolFailed => "tool-failed",
        Kind::ToolDenied => "tool-denied",
    };
    let (end_class, end_label) = match end {
        Some(End::Completed) => ("end-done", "completed"),
        Some(End::Failed) => ("end-failed", "failed"),
        Some(End::Waits) => ("end-waits", "waits for a person"),
        None => ("", ""),
    };
    html! {
        svg.timeline role="img" aria-label="The run's timeline" width=(WIDTH) height=(height)
            viewBox={ "0 0 " (WIDTH) " " (height) } {
            text x="4" y="16" { "model" }
            @for lane in 1..lanes {
                text x="4" y=(16 + lane as u64 * LANE) { "tool " (lane) }
            }
            line x1=(LEFT) y1=(height - 18) x2=(WIDTH - 20) y2=(height - 18) {}
            text x=(LEFT) y=(height - 4) { "0 ms" }
            text x=(WIDTH - 90) y=(height - 4) { (total) " ms" }
            @for bar in &bars {
                rect class=(class(bar.kind)) x=(x(bar.start_ms)) y=(4 + bar.lane as u64 * LANE)
                    width=(width(bar)) height="16" rx="2" {
                    title { (bar.label) }
                }
            }
            @if end.is_some() {
                rect class=(end_class) x=(WIDTH - 18) y="4" width="8" height=(lanes as u64 * LANE - 6) {
                    title { (end_label) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klieo::types::{FinishReason, ToolOutcome};
    use serde_json::json;

    fn call(step: u32, latency_ms: u64, tools: u32) -> Episode {
        Episode::LlmCall {
            step,
            tokens: None,
            latency_ms,
            finish_reason: FinishReason::ToolCalls,
            tool_calls: tools,
            spend: None,
        }
    }

    fn tool(step: u32, name: &str, latency_ms: u64, result: ToolOutcome) -> Episode {
        Episode::ToolCall {
            step,
            call_id: format!("{name}{step}").into(),
            name: name.into(),
            args: json!({}).into(),
            result,
            latency_ms,
        }
    }

    #[test]
    fn a_steps_tool_calls_run_side_by_side_after_its_model_call() {
        let ok = || ToolOutcome::Ok { output: json!(1) };
        let failed = ToolOutcome::Error {
            message: "boom".into(),
        };
        let log = [
            call(1, 100, 2),
            tool(1, "a", 30, ok()),
            tool(1, "b", 50, failed),
            call(2, 40, 0),
            Episode::Failed {
                error: "stop".into(),
            },
        ];
        let (bars, end) = bars(&log);
        let at: Vec<_> = bars
            .iter()
            .map(|b| (b.lane, b.start_ms, b.duration_ms, b.kind))
            .collect();
        assert_eq!(
            at,
            [
                (0, 0, 100, Kind::Model),
                (1, 100, 30, Kind::Tool),
                (2, 100, 50, Kind::ToolFailed),
                (0, 150, 40, Kind::Model),
            ],
            "the second step starts when the slowest tool call ends"
        );
        assert_eq!(end, Some(End::Failed));
    }

    #[test]
    fn a_call_in_doubt_waits_for_a_person_until_it_is_settled() {
        let in_doubt = Episode::InDoubt {
            step: 1,
            call_id: "c1".into(),
            tool: "pay".into(),
            digest: "d".into(),
        };
        let log = [call(1, 10, 1), in_doubt];
        assert_eq!(bars(&log).1, Some(End::Waits));
        let settled = Episode::Settled {
            call_id: "c1".into(),
            outcome: ToolOutcome::Error {
                message: "it did not happen".into(),
            },
            by: None,
        };
        let log = [log[0].clone(), log[1].clone(), settled];
        assert_eq!(bars(&log).1, None, "it goes on");
    }

    #[test]
    fn a_tool_name_is_drawn_as_text() {
        let log = [
            call(1, 10, 1),
            tool(
                1,
                "<script>alert(1)</script>",
                5,
                ToolOutcome::Ok { output: json!(1) },
            ),
        ];
        let svg = draw(&log).into_string();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
    }

    #[test]
    fn a_tool_name_is_cut_and_shows_what_would_reorder_it() {
        let ok = || ToolOutcome::Ok { output: json!(1) };
        let long = "x".repeat(100_000);
        let log = [
            call(1, 10, 2),
            tool(1, &long, 5, ok()),
            tool(1, "pay \u{202E}evE", 5, ok()),
        ];
        let svg = draw(&log).into_string();
        assert!(svg.len() < 5_000, "a model's name for a tool is bounded");
        assert!(!svg.contains('\u{202E}'), "{svg}");
        assert!(svg.contains("pay \\u{202e}evE"), "{svg}");
    }
}
