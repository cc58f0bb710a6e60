//! [`ReplyRoom`]: what a budget's limits leave for a model call's reply,
//! and the limit that leaves the least; [`ran_out`]: whether a reply cut
//! at the cap that limit set ran out of it.

use super::UNASKED_MAX_TOKENS;
use klieo_types::{BudgetLimit, ChatRequest, ChatResponse, FinishReason};

/// `limit`, when it is the budget's limit that lowered `req`'s
/// `max_tokens` last and `reply` ran out of it: it was cut (`length`) at
/// that cap, having generated as many tokens as that, when its usage
/// says.
pub(crate) fn ran_out(
    limit: BudgetLimit,
    req: &ChatRequest,
    reply: &ChatResponse,
) -> Option<BudgetLimit> {
    let cap = req.max_tokens?;
    let reached = reply.usage.is_none_or(|usage| usage.output_tokens >= cap);
    (reply.finish_reason == FinishReason::Length && reached).then_some(limit)
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
    use klieo_types::{Message, Transcript, Usage};

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

    fn reply(finish: FinishReason, output_tokens: Option<u32>) -> ChatResponse {
        let mut reply = ChatResponse::new(Message::assistant("…"), finish);
        reply.usage = output_tokens.map(|output| Usage::new(10, output));
        reply
    }

    #[test]
    fn a_reply_cut_at_the_budgets_cap_ran_out_of_its_limit() {
        let limit = BudgetLimit::TotalTokens;
        let capped = request(Some(300));
        let cut = |reply| ran_out(limit, &capped, &reply);
        assert_eq!(cut(reply(FinishReason::Length, Some(300))), Some(limit));
        assert_eq!(
            cut(reply(FinishReason::Length, None)),
            Some(limit),
            "no usage said"
        );
        assert_eq!(
            cut(reply(FinishReason::Length, Some(120))),
            None,
            "cut short of it"
        );
        assert_eq!(
            cut(reply(FinishReason::Stop, Some(300))),
            None,
            "ended by the model"
        );
        let uncapped = request(None);
        assert_eq!(
            ran_out(limit, &uncapped, &reply(FinishReason::Length, None)),
            None
        );
    }
}
