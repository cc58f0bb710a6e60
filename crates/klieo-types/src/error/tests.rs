//! The errors' kinds, retry hints and texts.

use super::*;

fn assert_send_sync<T: Send + Sync + 'static>() {}

#[test]
fn errors_are_send_sync() {
    assert_send_sync::<Error>();
    assert_send_sync::<LlmError>();
    assert_send_sync::<ToolError>();
}

#[test]
fn a_tool_error_is_printed_once_by_a_reporter_walking_the_chain() {
    let e = Error::from(ToolError::Failed {
        tool: "refund".into(),
        message: "card declined".into(),
    });
    let texts = crate::ErrorChain(&e).texts();
    assert!(texts[0].contains("card declined"), "{texts:?}");
    for (i, outer) in texts.iter().enumerate() {
        for inner in &texts[i + 1..] {
            assert!(!outer.contains(inner.as_str()), "{texts:?}");
        }
    }
}

#[test]
fn tool_and_other_classification() {
    let retry = ToolError::Retryable {
        message: "busy".into(),
        retry_after: Some(Duration::from_millis(250)),
    };
    let e = Error::from(retry);
    assert!(e.retryable());
    assert_eq!(e.retry_after(), Some(Duration::from_millis(250)));
    let timeout = ToolError::Timeout {
        tool: "t".into(),
        after: Duration::from_secs(1),
    };
    assert!(timeout.retryable());
    assert!(!Error::from(ToolError::Permanent("x".into())).retryable());
    assert!(!Error::from(ToolError::InvalidArgs {
        tool: "t".into(),
        reason: "r".into()
    })
    .retryable());
    assert!(!Error::Cancelled.retryable());
    assert!(!Error::MaxStepsExceeded { steps: 3 }.retryable());
    assert!(!Error::from(MemoryError::backend("down")).retryable());
    assert!(!Error::from(ConfigError::Missing {
        name: "k".into(),
        hint: "h".into()
    })
    .retryable());
}

#[test]
fn display_texts_name_the_problem() {
    let unknown = ToolError::UnknownTool {
        name: "calc".into(),
        available: vec!["calculator".into(), "now".into()],
    };
    assert_eq!(
        unknown.to_string(),
        "the model called an unknown tool `calc`; available tools: calculator, now"
    );
    let timeout = LlmError::timeout(TimeLimit::Call, Duration::from_secs(1));
    let wrapped = Error::from(timeout.clone());
    assert_eq!(wrapped.to_string(), timeout.to_string());
}

#[test]
fn a_key_refusal_names_calls_in_flight_and_promises_no_period_the_key_may_not_have() {
    let refused = Error::KeyBudgetExceeded {
        key: "tenant-7".into(),
        limit: BudgetLimit::TotalTokens,
        max: 100_000,
        spent: 99_000,
        needed: 4_096,
    };
    let text = refused.to_string();
    assert!(text.contains("calls in flight have settled"), "{text}");
    assert!(text.contains("for a key counted by period"), "{text}");
    assert!(!text.contains("this period"), "{text}");
}
