//! `RunOptions`' defaults, its checks and its tool-choice policy.

use super::*;

#[test]
fn defaults_match_the_documented_list() {
    let o = RunOptions::default();
    assert_eq!(o.max_steps, 16);
    assert_eq!(o.max_history_tokens, 8_000);
    assert_eq!(o.max_response_bytes, 4 * 1024 * 1024);
    assert_eq!(o.tool_concurrency, 4);
    assert_eq!(
        o.retry,
        RetryPolicy::default().with_total_budget(Some(DEFAULT_RETRY_BUDGET))
    );
    assert_eq!(o.after_tool_calls, AfterToolCalls::AutoUntilRepeat);
    assert_eq!(o.output_repairs, 2);
    assert_eq!(o.tool_timeout, Duration::from_secs(60));
    assert_eq!(o.tool_retries, 2);
    assert_eq!(o.max_tool_result_bytes, 16 * 1024);
}

#[test]
fn options_that_cannot_work_are_refused_naming_the_option() {
    let refused = refused_option;
    let o = RunOptions::default;
    assert_eq!(refused(o().with_max_steps(0)), "RunOptions::max_steps");
    assert_eq!(
        refused(o().with_tool_concurrency(0)),
        "RunOptions::tool_concurrency"
    );
    assert_eq!(
        refused(o().with_tool_timeout(Duration::ZERO)),
        "RunOptions::tool_timeout"
    );
    assert_eq!(
        refused(o().with_lease_ttl(Some(Duration::from_millis(999)))),
        "RunOptions::lease_ttl"
    );
    assert_eq!(
        refused(o().with_max_tool_result_bytes(0)),
        "RunOptions::max_tool_result_bytes"
    );
    assert!(o().with_lease_ttl(None).validate().is_ok());
}

/// The option `o.validate()` names as the one that cannot work.
fn refused_option(o: RunOptions) -> String {
    match o.validate() {
        Err(ConfigError::Invalid { name, .. }) => name,
        other => format!("not refused: {other:?}"),
    }
}

#[test]
fn a_reply_of_no_tokens_is_refused() {
    let o = RunOptions::default;
    assert_eq!(
        refused_option(o().with_max_tokens(Some(0))),
        "RunOptions::max_tokens"
    );
    assert!(o().with_max_tokens(Some(1)).validate().is_ok());
}

#[test]
fn a_temperature_below_zero_or_not_finite_is_refused() {
    let o = RunOptions::default;
    for t in [-0.5, f32::NAN, f32::INFINITY] {
        assert_eq!(
            refused_option(o().with_temperature(Some(t))),
            "RunOptions::temperature",
            "{t}"
        );
    }
    assert!(o().with_temperature(Some(0.0)).validate().is_ok());
}

#[test]
fn the_budget_is_in_the_debug_text() {
    let budget = Budget::new().with_tool_calls(3);
    let text = format!("{:?}", RunOptions::default().with_budget(budget));
    assert!(text.contains("tool_calls: Some(3)"), "{text}");
}

#[test]
fn no_room_for_history_is_refused() {
    let o = RunOptions::default().with_max_history_tokens(0);
    assert_eq!(refused_option(o), "RunOptions::max_history_tokens");
}

#[test]
fn a_zero_byte_reply_cap_is_refused() {
    let o = RunOptions::default().with_max_response_bytes(0);
    assert_eq!(refused_option(o), "RunOptions::max_response_bytes");
}

#[test]
fn a_zero_retry_budget_is_refused_and_no_budget_is_not() {
    let retry = RetryPolicy::new().with_total_budget(Some(Duration::ZERO));
    let o = RunOptions::default().with_retry(retry);
    assert_eq!(refused_option(o), "RunOptions::retry");
    let none = RetryPolicy::new().with_total_budget(None);
    assert!(RunOptions::default().with_retry(none).validate().is_ok());
}

#[test]
fn tool_choice_policy_across_steps() {
    let forced = Some(ToolChoice::Function("calculator".into()));
    let mut o = RunOptions::default().with_tool_choice(forced.clone());
    assert_eq!(o.tool_choice_for(1, false), forced);
    assert_eq!(o.tool_choice_for(2, false), Some(ToolChoice::Auto));
    assert_eq!(o.tool_choice_for(2, true), Some(ToolChoice::None));
    o.after_tool_calls = AfterToolCalls::Auto;
    assert_eq!(o.tool_choice_for(2, true), Some(ToolChoice::Auto));
    o.after_tool_calls = AfterToolCalls::Keep;
    assert_eq!(o.tool_choice_for(3, false), forced);
    o.after_tool_calls = AfterToolCalls::None;
    assert_eq!(o.tool_choice_for(2, false), Some(ToolChoice::None));
}
