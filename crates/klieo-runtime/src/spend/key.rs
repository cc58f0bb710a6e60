//! A model call's claim on its key's allowance ([`KeyBudget`]): the
//! request's `max_tokens` lowered to what the key has left, and the most
//! the call may spend, which the ledger reserves; the reservation a run
//! holds while its call is in flight.

use super::{affordable, ReplyRoom};
use crate::options::{KeyBudget, ModelPrice};
use klieo_types::{BudgetLimit, ChatRequest, Error, KeyShortfall, KeySpend, KeyStanding};
use std::time::Duration;

/// A call's claim on its key: what it may spend, and the key's limit that
/// lowered the `max_tokens` it asked for, if one did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Claim {
    pub(crate) amount: KeySpend,
    pub(crate) lowered: Option<BudgetLimit>,
}

/// The claim of a call whose input is at most `input` tokens, on `key`
/// standing at `standing`, priced at `dearest` (the dearest of the client's models, when
/// calls are priced): lowers `req.max_tokens` to what the key's token and
/// cost limits leave, or refuses the call when they leave nothing.
pub(crate) fn claim(
    key: &KeyBudget,
    standing: &KeyStanding,
    input: u64,
    dearest: Option<&ModelPrice>,
    req: &mut ChatRequest,
) -> Result<Claim, Error> {
    let held = standing.held();
    let asked = req.max_tokens.map_or(1, u64::from);
    let refused = |limit, max, spent, needed| {
        KeyShortfall::new(limit, max, spent, needed).exceeded(key.key())
    };
    let mut left = ReplyRoom::default();
    if let Some(max) = key.total_tokens() {
        let room = max.saturating_sub(held.tokens).saturating_sub(input);
        if room == 0 {
            let needed = input.saturating_add(asked);
            return Err(refused(BudgetLimit::TotalTokens, max, held.tokens, needed));
        }
        left.leaves(room, BudgetLimit::TotalTokens);
    }
    if let (Some(max), Some(price)) = (key.cost_micros(), dearest) {
        let money = max
            .saturating_sub(held.cost_micros)
            .saturating_sub(price.bound_micros(input, 0));
        let tokens = affordable(price, input, money);
        if tokens == 0 {
            let needed = price.bound_micros(input, asked);
            return Err(refused(BudgetLimit::Cost, max, held.cost_micros, needed));
        }
        left.leaves(tokens, BudgetLimit::Cost);
    }
    let lowered = left.lower(req);
    let output = req.max_tokens.map_or(0, u64::from);
    let cost = dearest.map_or(0, |price| price.bound_micros(input, output));
    Ok(Claim {
        amount: KeySpend::new(input.saturating_add(output), cost, 1),
        lowered,
    })
}

/// A call's reservation on its key: the period it counts in, and when it
/// lapses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct KeyHold {
    pub(crate) period: u64,
    pub(crate) until: tokio::time::Instant,
    pub(crate) ttl: Duration,
}

impl super::Spend {
    /// The reservation held on the run's key, if any.
    pub(crate) fn held(&self) -> Option<KeyHold> {
        self.hold
    }

    /// Holds a reservation on the key, granted when the key stood at
    /// `standing`.
    pub(crate) fn hold(&mut self, hold: KeyHold, standing: KeyStanding) {
        self.key_standing = Some((hold.period, standing));
        self.hold = Some(hold);
    }

    /// A reservation asked of the ledger and not answered yet: held from
    /// before the answer, so a run dropped while it asks settles it (to
    /// nothing, when it was never made), not leaving a reservation the
    /// ledger wrote anyway to hold the key's allowance until it lapses.
    pub(crate) fn reserving(&mut self, hold: KeyHold) {
        self.hold = Some(hold);
    }

    /// The ledger refused the reservation asked for: nothing is held.
    pub(crate) fn refused(&mut self) {
        self.hold = None;
    }

    /// The reservation was settled as `spend`: let go of it.
    pub(crate) fn settled(&mut self, spend: KeySpend) {
        self.hold = None;
        if let Some((_, standing)) = &mut self.key_standing {
            standing.settled = standing.settled.plus(spend);
        }
    }

    /// Where the key stood in `period` as this run last saw it, if it did.
    pub(crate) fn known_standing(&self, period: u64) -> Option<KeyStanding> {
        self.key_standing
            .filter(|(seen, _)| *seen == period)
            .map(|(_, standing)| standing)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::spend::UNASKED_MAX_TOKENS;
    use klieo_types::Message;

    fn request(max_tokens: Option<u32>) -> ChatRequest {
        let mut req = ChatRequest::new(vec![Message::user("hi")]);
        req.max_tokens = max_tokens;
        req
    }

    fn standing(tokens: u64, cost_micros: u64) -> KeyStanding {
        KeyStanding::new(KeySpend::new(tokens, cost_micros, 0), KeySpend::default())
    }

    #[test]
    fn max_tokens_is_lowered_to_what_the_key_has_left() {
        let key = KeyBudget::new("k").with_total_tokens(1_000);
        let mut req = request(Some(500));
        let claimed = claim(&key, &standing(600, 0), 100, None, &mut req).unwrap();
        assert_eq!(req.max_tokens, Some(300));
        assert_eq!(claimed.amount, KeySpend::new(400, 0, 1));
        assert_eq!(claimed.lowered, Some(BudgetLimit::TotalTokens));
        let mut roomy = request(Some(100));
        let claimed = claim(&key, &standing(0, 0), 100, None, &mut roomy).unwrap();
        assert!(claimed.lowered.is_none(), "100 of 900 left");
    }

    #[test]
    fn a_request_asking_for_no_limit_is_given_one_under_a_token_limit() {
        let key = KeyBudget::new("k").with_total_tokens(1_000_000);
        let mut req = request(None);
        claim(&key, &standing(0, 0), 100, None, &mut req).unwrap();
        assert_eq!(req.max_tokens, Some(UNASKED_MAX_TOKENS));
    }

    #[test]
    fn a_key_with_no_room_past_the_input_refuses_the_call() {
        let key = KeyBudget::new("acme").with_total_tokens(1_000);
        let mut req = request(Some(50));
        let Err(Error::KeyBudgetExceeded {
            key,
            limit,
            max,
            spent,
            needed,
        }) = claim(&key, &standing(900, 0), 100, None, &mut req)
        else {
            panic!("900 settled and 100 of input leave nothing of 1,000");
        };
        assert_eq!(
            (key.as_str(), limit, max, spent, needed),
            ("acme", BudgetLimit::TotalTokens, 1_000, 900, 150)
        );
    }

    #[test]
    fn a_cost_limit_buys_the_output_the_money_left_pays_for() {
        // $1 and $2 per million: 100 input tokens cost 100 µ$, each
        // output token 2 µ$.
        let price = ModelPrice::per_million_tokens(1.0, 2.0);
        let key = KeyBudget::new("k").with_cost_usd(0.001);
        let mut req = request(Some(4_000));
        let claimed = claim(&key, &standing(0, 500), 100, Some(&price), &mut req).unwrap();
        assert_eq!(req.max_tokens, Some(200), "400 µ$ left after the input");
        assert_eq!(claimed.amount, KeySpend::new(300, 500, 1));
        let mut broke = request(Some(10));
        assert!(matches!(
            claim(&key, &standing(0, 900), 100, Some(&price), &mut broke),
            Err(Error::KeyBudgetExceeded {
                limit: BudgetLimit::Cost,
                ..
            })
        ));
    }

    #[test]
    fn a_key_limiting_only_calls_leaves_max_tokens_alone() {
        let key = KeyBudget::new("k").with_model_calls(5);
        let mut req = request(None);
        let claimed = claim(&key, &standing(0, 0), 100, None, &mut req).unwrap();
        assert_eq!(req.max_tokens, None);
        assert_eq!(claimed.amount, KeySpend::new(100, 0, 1));
        assert!(claimed.lowered.is_none());
    }
}
