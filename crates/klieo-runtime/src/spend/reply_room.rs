//! [`ReplyRoom`]: what a budget's limits leave for a model call's reply,
//! and the limit that leaves the least; [`BudgetCap`]: the cap that limit
//! set, which a reply cut there ran out of.

use super::UNASKED_MAX_TOKENS;
use klieo_types::{BudgetLimit, ChatRequest, ChatResponse, FinishReason};

/// The budget's limit that lowered a request's `max_tokens` last, and the
/// cap it set: a reply cut there ran out of that limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BudgetCap {
    limit: BudgetLimit,
    max_tokens: u32,
}

impl BudgetCap {
    pub(crate) fn new(limit: BudgetLimit, max_tokens: u32) -> Self {
        Self { limit, max_tokens }
    }

    /// The limit `reply` ran out of: when it was cut (`length`) at this
    /// cap, having generated as many tokens as that, when its usage says.
    pub(crate) fn ran_out(self, reply: &ChatResponse) -> Option<BudgetLimit> {
        let reached = reply
            .usage
            .is_none_or(|usage| usage.output_tokens >= self.max_tokens);
        (reply.finish_reason == FinishReason::Length && reached).then_some(self.limit)
    }
}

/// The least room for a reply that the limits looked at so far leave, in
/// tokens, and the limit that leaves it (the first, of limits that leave
/// as little).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ReplyRoom(Option<(u64, BudgetLimit)>);

impl ReplyRoom {
    /// Looks at `limit`, which leaves `room` tokens for the reply.
    pub(super) fn leaves(&mut self, room: u64, limit: BudgetLimit) {
        if self.0.is_none_or(|(least, _)| room < least) {
            self.0 = Some((room, limit));
        }
    }

    /// Lowers `req.max_tokens` to the least room, when a limit was looked
    /// at (a request that asks for no limit of its own is given one: the
    /// budget needs one to hold, and a server takes it), and returns the
    /// limit that lowered it, if one did: a reply cut there ran out of it.
    pub(super) fn lower(self, req: &mut ChatRequest) -> Option<BudgetLimit> {
        let (room, limit) = self.0?;
        let asked = req.max_tokens.unwrap_or(UNASKED_MAX_TOKENS);
        let room = u32::try_from(room).unwrap_or(u32::MAX);
        req.max_tokens = Some(asked.min(room));
        (room < asked).then_some(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klieo_types::Transcript;

    fn request(max_tokens: Option<u32>) -> ChatRequest {
        let mut req = ChatRequest::new(Transcript::new());
        req.max_tokens = max_tokens;
        req
    }

    #[test]
    fn the_least_room_lowers_max_tokens_and_names_its_limit() {
        let mut room = ReplyRoom::default();
        room.leaves(500, BudgetLimit::OutputTokens);
        room.leaves(300, BudgetLimit::TotalTokens);
        room.leaves(300, BudgetLimit::Cost);
        let mut req = request(Some(1_000));
        assert_eq!(room.lower(&mut req), Some(BudgetLimit::TotalTokens));
        assert_eq!(req.max_tokens, Some(300));
    }

    #[test]
    fn room_past_what_was_asked_lowers_nothing_and_names_no_limit() {
        let mut room = ReplyRoom::default();
        room.leaves(u64::MAX, BudgetLimit::Cost);
        let mut req = request(Some(200));
        assert_eq!(room.lower(&mut req), None);
        assert_eq!(req.max_tokens, Some(200));
        let mut unasked = request(None);
        assert_eq!(room.lower(&mut unasked), None);
        assert_eq!(unasked.max_tokens, Some(UNASKED_MAX_TOKENS));
    }

    #[test]
    fn no_limit_looked_at_leaves_the_request_as_it_is() {
        let mut req = request(None);
        assert_eq!(ReplyRoom::default().lower(&mut req), None);
        assert_eq!(req.max_tokens, None);
    }
}
