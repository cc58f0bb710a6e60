//! [`CallIds`]: the ids of one reply's tool calls made usable, as the
//! calls come (a streamed reply's chunks) or all at once.

use klieo_types::ToolCall;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The ids of one reply's calls so far, each made usable as it comes:
/// each control character (a line break, NUL) becomes `_`, then a
/// repeated id is made distinct (`c1`, `c1~2`, …). Results, approvals
/// and idempotency keys name a call by its id: a server that fills in
/// missing ids can repeat one, and an id holding a line break changes on
/// its way through a web form (and PostgreSQL's JSON refuses a NUL), so
/// its call could not be decided. Made usable where the calls come in,
/// the ids a consumer of chunks or events reads are the log's.
#[derive(Debug, Default, Clone)]
pub(crate) struct CallIds {
    /// The ids given so far.
    taken: HashSet<Arc<str>>,
    /// Each repeated id's next suffix: linear in the calls however many
    /// share an id (a server may repeat one in every call of a long reply).
    next: HashMap<Arc<str>, u64>,
}

impl CallIds {
    /// Makes `call`'s id usable, and distinct from the ids before it.
    pub(crate) fn usable(&mut self, call: &mut ToolCall) {
        clean(call, self.taken.len());
        if self.taken.insert(call.id.clone()) {
            return;
        }
        let n = self.next.entry(call.id.clone()).or_insert(2);
        loop {
            let id = format!("{}~{n}", call.id);
            *n += 1;
            if self.taken.insert(id.as_str().into()) {
                call.id = id.into();
                break;
            }
        }
    }
}

/// `call`'s id, each control character made `_`; an id that is empty
/// (or only blanks), which no ticket can name, becomes `call_N`, `N` its
/// call's place among the reply's (a client of our own may leave ids out;
/// the providers fill them in so).
fn clean(call: &mut ToolCall, place: usize) {
    if call.id.bytes().all(|b| b.is_ascii_whitespace()) {
        call.id = ToolCall::fallback_id(place).into();
        return;
    }
    // A byte look first: a control character is a byte below 0x20, 0x7F,
    // or (U+0080 to U+009F) 0xC2 and a second byte.
    let maybe = |b: u8| b < 0x20 || b == 0x7F || b == 0xC2;
    if call.id.bytes().any(maybe) && call.id.chars().any(char::is_control) {
        let id: String = call
            .id
            .chars()
            .map(|c| if c.is_control() { '_' } else { c })
            .collect();
        call.id = id.into();
    }
}

/// Makes the ids of one reply's calls usable (see [`CallIds`]): ids made
/// so as they came are left as they are.
pub(crate) fn usable_call_ids(calls: &mut [ToolCall]) {
    if let [call] = calls {
        return clean(call, 0);
    }
    let mut ids = CallIds::default();
    for call in calls {
        ids.usable(call);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(id: &str) -> ToolCall {
        ToolCall::new(id, "echo", json!({}))
    }

    #[test]
    fn repeated_call_ids_in_one_reply_become_distinct() {
        let mut calls = vec![call("c"), call("c"), call("d"), call("c"), call("c~2")];
        usable_call_ids(&mut calls);
        let ids: Vec<&str> = calls.iter().map(|c| c.id.as_ref()).collect();
        assert_eq!(ids, ["c", "c~2", "d", "c~3", "c~2~2"]);
    }

    #[test]
    fn control_characters_in_call_ids_become_underscores_and_stay_distinct() {
        let mut calls = vec![call("c\n1"), call("c\r1"), call("c\u{0}1"), call("ok")];
        usable_call_ids(&mut calls);
        let ids: Vec<&str> = calls.iter().map(|c| c.id.as_ref()).collect();
        assert_eq!(ids, ["c_1", "c_1~2", "c_1~3", "ok"]);
        let mut one = vec![call("a\tb")];
        usable_call_ids(&mut one);
        assert_eq!(one[0].id, "a_b".into());
    }

    #[test]
    fn a_reply_of_many_calls_sharing_one_id_gets_distinct_ids() {
        // Each id was checked against every earlier call, for each suffix
        // tried: some 10^12 comparisons here.
        let mut calls: Vec<ToolCall> = (0..20_000).map(|_| call("c")).collect();
        usable_call_ids(&mut calls);
        let ids: HashSet<&str> = calls.iter().map(|c| c.id.as_ref()).collect();
        assert_eq!(ids.len(), 20_000);
        assert_eq!(calls[19_999].id, "c~20000".into());
    }

    #[test]
    fn an_empty_id_gets_one_a_ticket_can_name() {
        let mut one = vec![call("")];
        usable_call_ids(&mut one);
        assert_eq!(&*one[0].id, "call_0");
        let mut calls = vec![call("a"), call(" "), call("")];
        usable_call_ids(&mut calls);
        let ids: Vec<&str> = calls.iter().map(|c| &*c.id).collect();
        assert_eq!(ids, ["a", "call_1", "call_2"]);
        let ticket = klieo_types::Ticket::for_call(klieo_types::RunId::new(), 1, &one[0]);
        assert_eq!(
            ticket.to_string().parse::<klieo_types::Ticket>().ok(),
            Some(ticket)
        );
    }
}
