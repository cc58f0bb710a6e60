//! [`Args`]: the parsed arguments of a step's calls and their tools'
//! policies, held in place for the one call most steps make.

use crate::repeats::Parsed;
use klieo_types::{ToolCall, ToolInvoker, ToolPolicy};

/// One call's arguments as the run parsed them, and its tool's policy:
/// looked up once for the step, where the approval check and the call's
/// timeout read it (each lookup cost a step about 100 instructions).
pub(crate) struct Arg {
    pub(crate) parsed: Parsed,
    pub(crate) policy: ToolPolicy,
}

impl Arg {
    /// `call`'s: a call built from a value gives it up instead of having
    /// its text parsed.
    pub(crate) fn take(call: &mut ToolCall, tools: &dyn ToolInvoker) -> Self {
        Self {
            policy: tools.policy(&call.name),
            parsed: call.take_arguments(),
        }
    }

    /// `call`'s, parsed from its text (the call is borrowed, so it keeps
    /// any value it was built from): for a call [`Args::parse`] was not
    /// given.
    pub(crate) fn of(call: &ToolCall, tools: &dyn ToolInvoker) -> Self {
        Self::take(&mut call.clone(), tools)
    }
}

/// Each call's [`Arg`] of a step, in call order: one call's held in place
/// (a step's usual one call makes no list), more in a list.
pub(crate) enum Args {
    One(Arg),
    Many(Vec<Arg>),
}

impl Args {
    /// Each of `calls`' [`Arg`], once for the whole step.
    pub(crate) fn parse(calls: &mut [ToolCall], tools: &dyn ToolInvoker) -> Self {
        match calls {
            [one] => Self::One(Arg::take(one, tools)),
            many => Self::Many(many.iter_mut().map(|c| Arg::take(c, tools)).collect()),
        }
    }

    /// Each call's parsed arguments, in call order.
    pub(crate) fn parsed(&self) -> impl Iterator<Item = &Parsed> {
        self.as_slice().iter().map(|arg| &arg.parsed)
    }

    pub(crate) fn as_slice(&self) -> &[Arg] {
        match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        }
    }
}

impl IntoIterator for Args {
    type Item = Arg;
    type IntoIter = ArgsIter;

    fn into_iter(self) -> ArgsIter {
        match self {
            Self::One(one) => ArgsIter::One(Some(one)),
            Self::Many(many) => ArgsIter::Many(many.into_iter()),
        }
    }
}

/// [`Args`]' arguments, taken in call order. (An option's iterator
/// chained with a list's would do; it cost a step 50 instructions.)
pub(crate) enum ArgsIter {
    One(Option<Arg>),
    Many(std::vec::IntoIter<Arg>),
}

impl Iterator for ArgsIter {
    type Item = Arg;

    fn next(&mut self) -> Option<Arg> {
        match self {
            Self::One(one) => one.take(),
            Self::Many(many) => many.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use klieo_types::{Tool, ToolContext, ToolDef, ToolError, ToolSet};
    use serde_json::{json, Value};
    use std::time::Duration;

    /// A tool that asks for approval, with a time bound of its own.
    struct Guarded(ToolDef);

    #[async_trait]
    impl Tool for Guarded {
        fn def(&self) -> &ToolDef {
            &self.0
        }

        async fn invoke(&self, args: Value, _: ToolContext<'_>) -> Result<Value, ToolError> {
            Ok(args)
        }

        fn policy(&self) -> ToolPolicy {
            guarded()
        }
    }

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

    fn values(args: Args) -> Vec<(Value, ToolPolicy)> {
        args.into_iter()
            .map(|arg| (arg.parsed.map(|(v, _)| v).unwrap_or_default(), arg.policy))
            .collect()
    }

    #[test]
    fn each_calls_arguments_and_policy_come_in_call_order_however_many() {
        let def = ToolDef::new("guarded", "asks first", json!({"type": "object"}));
        let tools = ToolSet::new().add_tool(Guarded(def));
        for n in [0, 1, 2, 3] {
            let mut calls = calls(n);
            let args = Args::parse(&mut calls, &tools);
            assert_eq!(args.as_slice().len(), n);
            assert_eq!(args.parsed().count(), n);
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
