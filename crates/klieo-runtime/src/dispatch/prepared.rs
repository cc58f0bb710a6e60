//! [`PreparedCalls`]: a step's calls prepared to run (their arguments
//! parsed, their tools' policies looked up), held in place for the one
//! call most steps make.

use crate::repeats::Parsed;
use klieo_types::{ToolCall, ToolInvoker, ToolPolicy};

/// One call prepared to run: its arguments as the run parsed them, and
/// its tool's policy, looked up once for the step's calls, where the
/// approval check and the call's timeout each looked it up by name (each
/// lookup cost a step about 100 instructions).
pub(crate) struct Prepared {
    pub(super) parsed: Parsed,
    pub(super) policy: ToolPolicy,
}

impl Prepared {
    /// `call`'s: a call built from a value gives it up instead of having
    /// its text parsed.
    fn take(call: &mut ToolCall, tools: &dyn ToolInvoker) -> Self {
        Self {
            policy: tools.policy(&call.name),
            parsed: call.take_arguments(),
        }
    }

    /// `call`'s, parsed from its text (the call is borrowed, so it keeps
    /// any value it was built from): for a call [`PreparedCalls::prepare`]
    /// was not given. Never so in the runtime, whose dispatch is given
    /// the calls it prepared; the one call's future is awaited on one
    /// path so (leaving such a call not run instead, with the call awaited
    /// on one branch, cost a step about 240 instructions: the future's
    /// layout moved).
    pub(super) fn of(call: &ToolCall, tools: &dyn ToolInvoker) -> Self {
        Self::take(&mut call.clone(), tools)
    }
}

/// Each of a step's calls [`Prepared`], in call order: one call's held in
/// place (a step's usual one call makes no list), more in a list.
pub(crate) enum PreparedCalls {
    One(Prepared),
    Many(Vec<Prepared>),
}

impl PreparedCalls {
    /// Each of `calls` prepared, once for the whole step.
    pub(crate) fn prepare(calls: &mut [ToolCall], tools: &dyn ToolInvoker) -> Self {
        match calls {
            [one] => Self::One(Prepared::take(one, tools)),
            many => Self::Many(many.iter_mut().map(|c| Prepared::take(c, tools)).collect()),
        }
    }

    /// Each call's parsed arguments, in call order.
    pub(crate) fn parsed(&self) -> impl Iterator<Item = &Parsed> {
        self.as_slice().iter().map(|call| &call.parsed)
    }

    /// The first of `calls` (those prepared) whose tool asks a person to
    /// approve it.
    pub(crate) fn first_needing_approval<'c>(&self, calls: &'c [ToolCall]) -> Option<&'c ToolCall> {
        calls
            .iter()
            .zip(self.as_slice())
            .find(|(_, prepared)| prepared.policy.requires_approval())
            .map(|(call, _)| call)
    }

    fn as_slice(&self) -> &[Prepared] {
        match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        }
    }
}

impl IntoIterator for PreparedCalls {
    type Item = Prepared;
    type IntoIter = PreparedIter;

    fn into_iter(self) -> PreparedIter {
        match self {
            Self::One(one) => PreparedIter::One(Some(one)),
            Self::Many(many) => PreparedIter::Many(many.into_iter()),
        }
    }
}

/// [`PreparedCalls`]' calls, taken in call order. (An option's iterator
/// chained with a list's would do; it cost a step 50 instructions.)
pub(crate) enum PreparedIter {
    One(Option<Prepared>),
    Many(std::vec::IntoIter<Prepared>),
}

impl Iterator for PreparedIter {
    type Item = Prepared;

    fn next(&mut self) -> Option<Prepared> {
        match self {
            Self::One(one) => one.take(),
            Self::Many(many) => many.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klieo_types::{FnTool, ToolDef, ToolSet};
    use serde_json::{json, Value};
    use std::time::Duration;

    /// A policy that asks for approval, with a time bound of its own.
    fn guarded() -> ToolPolicy {
        ToolPolicy::new()
            .with_approval(true)
            .with_timeout(Duration::from_secs(7))
    }

    /// Calls to `guarded` at odd indices, to a tool not in the set at even.
    fn calls(n: usize) -> Vec<ToolCall> {
        (0..n)
            .map(|i| {
                let tool = if i % 2 == 1 { "guarded" } else { "unknown" };
                ToolCall::new(format!("c{i}"), tool, json!({ "i": i }))
            })
            .collect()
    }

    fn values(prepared: PreparedCalls) -> Vec<(Value, ToolPolicy)> {
        prepared
            .into_iter()
            .map(|call| (call.parsed.map(|(v, _)| v).unwrap_or_default(), call.policy))
            .collect()
    }

    #[test]
    fn each_calls_arguments_and_policy_come_in_call_order_however_many() {
        let def = ToolDef::new("guarded", "asks first", json!({"type": "object"}));
        let tools = ToolSet::new().add_tool(FnTool::new(def, Ok).with_policy(guarded()));
        for n in [0, 1, 2, 3] {
            let mut calls = calls(n);
            let args = PreparedCalls::prepare(&mut calls, &tools);
            assert_eq!(args.parsed().count(), n);
            let asks = args
                .first_needing_approval(&calls)
                .map(|c| c.id.to_string());
            assert_eq!(asks, (n > 1).then(|| "c1".to_owned()), "{n} calls");
            let expected: Vec<_> = (0..n)
                .map(|i| {
                    let policy = if i % 2 == 1 {
                        guarded()
                    } else {
                        ToolPolicy::new()
                    };
                    (json!({ "i": i }), policy)
                })
                .collect();
            assert_eq!(values(args), expected, "{n} calls");
        }
    }
}
