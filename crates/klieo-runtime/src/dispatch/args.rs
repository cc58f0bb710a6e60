//! [`Args`]: the parsed arguments of a step's calls, held in place for
//! the one call most steps make.

use crate::repeats::Parsed;
use klieo_types::ToolCall;

/// Each call's arguments of a step, parsed once (see [`Args::parse`]), in
/// call order: one call's held in place (a step's usual one call makes no
/// list), more in a list.
pub(crate) enum Args {
    One(Parsed),
    Many(Vec<Parsed>),
}

impl Args {
    /// Each of `calls`' arguments, parsed once for the whole step: a call
    /// built from a value gives it up instead of having its text parsed.
    pub(crate) fn parse(calls: &mut [ToolCall]) -> Self {
        match calls {
            [one] => Self::One(one.take_arguments()),
            many => Self::Many(many.iter_mut().map(ToolCall::take_arguments).collect()),
        }
    }

    pub(crate) fn as_slice(&self) -> &[Parsed] {
        match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        }
    }
}

impl IntoIterator for Args {
    type Item = Parsed;
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
    One(Option<Parsed>),
    Many(std::vec::IntoIter<Parsed>),
}

impl Iterator for ArgsIter {
    type Item = Parsed;

    fn next(&mut self) -> Option<Parsed> {
        match self {
            Self::One(one) => one.take(),
            Self::Many(many) => many.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn calls(n: usize) -> Vec<ToolCall> {
        (0..n)
            .map(|i| ToolCall::new(format!("c{i}"), "t", json!({ "i": i })))
            .collect()
    }

    fn values(args: Args) -> Vec<serde_json::Value> {
        args.into_iter()
            .map(|parsed| parsed.map(|(value, _)| value).unwrap_or_default())
            .collect()
    }

    #[test]
    fn each_calls_arguments_come_in_call_order_however_many() {
        for n in [0, 1, 3] {
            let mut calls = calls(n);
            let args = Args::parse(&mut calls);
            assert_eq!(args.as_slice().len(), n);
            let expected: Vec<_> = (0..n).map(|i| json!({ "i": i })).collect();
            assert_eq!(values(args), expected, "{n} calls");
        }
    }
}
