//! [`key_shortfall`]: the one rule every ledger of keys' spend applies
//! before it grants a reservation.

use klieo_types::{BudgetLimit, KeyLimits, KeyShortfall, KeySpend, KeyStanding};

/// The first of `limits` that `amount` would pass on top of what the key
/// holds at `standing` (settled and reserved), if any.
///
/// ```
/// use klieo_store::key_shortfall;
/// use klieo_types::{BudgetLimit, KeyLimits, KeySpend, KeyStanding};
///
/// let standing = KeyStanding::new(KeySpend::new(900, 0, 3), KeySpend::new(50, 0, 1));
/// let limits = KeyLimits::new().with_tokens(1_000);
/// assert_eq!(key_shortfall(&standing, &KeySpend::new(50, 0, 1), &limits), None);
/// let short = key_shortfall(&standing, &KeySpend::new(51, 0, 1), &limits).unwrap();
/// assert_eq!((short.limit, short.max, short.spent, short.needed), (BudgetLimit::TotalTokens, 1_000, 950, 51));
/// ```
pub fn key_shortfall(
    standing: &KeyStanding,
    amount: &KeySpend,
    limits: &KeyLimits,
) -> Option<KeyShortfall> {
    let held = standing.held();
    [
        (
            BudgetLimit::TotalTokens,
            limits.tokens(),
            held.tokens,
            amount.tokens,
        ),
        (
            BudgetLimit::Cost,
            limits.cost_micros(),
            held.cost_micros,
            amount.cost_micros,
        ),
        (
            BudgetLimit::ModelCalls,
            limits.model_calls(),
            held.model_calls,
            amount.model_calls,
        ),
    ]
    .into_iter()
    .find_map(|(limit, max, spent, needed)| {
        let max = max?;
        (spent.saturating_add(needed) > max).then(|| KeyShortfall::new(limit, max, spent, needed))
    })
}
