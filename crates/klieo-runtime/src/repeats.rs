//! [`Repeats`]: which tool calls a run has made, so a round that only
//! repeats them can be told apart (see `AfterToolCalls::AutoUntilRepeat`).

use klieo_types::ToolCall;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The calls of a run so far, by tool and arguments.
#[derive(Default)]
pub(crate) struct Repeats {
    seen: Mutex<HashSet<(String, String)>>,
    last_round_repeated: AtomicBool,
}

impl Repeats {
    /// Notes a round of calls; returns whether every one of them had been
    /// made before (same tool, same arguments, whatever their layout).
    pub(crate) fn note(&self, calls: &[ToolCall]) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut repeated = !calls.is_empty();
        for call in calls {
            // serde_json's maps are ordered by key, so this is canonical.
            let args = call
                .parse_arguments()
                .map_or_else(|_| call.arguments.clone(), |v| v.to_string());
            repeated &= !seen.insert((call.name.clone(), args));
        }
        self.last_round_repeated.store(repeated, Ordering::Relaxed);
        repeated
    }

    /// Whether the last round only repeated earlier calls.
    pub(crate) fn last_round_repeated(&self) -> bool {
        self.last_round_repeated.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_round_of_known_calls_is_a_repeat_whatever_the_spacing() {
        let r = Repeats::default();
        assert!(!r.note(&[ToolCall::new("c1", "mul", json!({"a": 17, "b": 23}))]));
        assert!(!r.last_round_repeated());
        let again = ToolCall::from_raw("c2", "mul", r#"{ "b":23, "a" :17 }"#);
        assert!(r.note(std::slice::from_ref(&again)));
        assert!(r.last_round_repeated());
        let new = ToolCall::new("c3", "mul", json!({"a": 1, "b": 23}));
        assert!(!r.note(&[again, new]), "one new call is progress");
        assert!(!r.note(&[]), "no calls, no repeat");
    }
}
