//! The behaviour every [`SpendLedger`] must show, as checks a store's
//! tests call with a fresh, empty journal that keeps one;
//! [`ledger_suite!`](crate::testing::ledger::ledger_suite) makes one named
//! test per scenario. Two runs on one key stand for two workers: the
//! ledger, not the process, decides between them.

#![allow(clippy::panic, reason = "a failed check is a panic, like assert!")]

use klieo_types::{
    BudgetLimit, Commit, Journal, KeyLimits, KeySpend, KeyStanding, MemoryError, Reservation,
    Reserved, RunId, Settlement, SpendLedger, ThreadId,
};
use std::time::Duration;

/// The period the scenarios count in.
const PERIOD: u64 = 1_800_000_000;

/// 1,000 tokens and 10 model calls a period.
fn limits() -> KeyLimits {
    KeyLimits::new().with_tokens(1_000).with_model_calls(10)
}

fn ledger(journal: &dyn Journal) -> &dyn SpendLedger {
    match journal.ledger() {
        Some(ledger) => ledger,
        None => panic!("the journal keeps no ledger"),
    }
}

fn claim(key: &str, run: RunId, tokens: u64) -> Reservation {
    let amount = KeySpend::new(tokens, 0, 1);
    Reservation::new(key, PERIOD, run, amount, limits(), Duration::from_secs(600))
}

async fn reserve(journal: &dyn Journal, reservation: Reservation) -> Reserved {
    match ledger(journal).reserve(&reservation).await {
        Ok(answer) => answer,
        Err(e) => panic!("reserve failed: {e}"),
    }
}

/// Reserves `reservation`, which must be granted; where the key stood.
async fn granted(journal: &dyn Journal, reservation: Reservation) -> KeyStanding {
    match reserve(journal, reservation).await {
        Reserved::Granted(standing) => standing,
        Reserved::Refused(short) => panic!("refused: {short:?}"),
    }
}

async fn standing(journal: &dyn Journal, key: &str, run: RunId) -> KeyStanding {
    match ledger(journal).standing(key, PERIOD, run).await {
        Ok(standing) => standing,
        Err(e) => panic!("standing failed: {e}"),
    }
}

/// `run`'s commit recording a call that spent `tokens` on `key`.
fn settling(run: RunId, key: &str, tokens: u64) -> Commit {
    Commit::new(run, ThreadId::new(format!("t-{run}"))).with_settlement(Settlement::new(
        key,
        PERIOD,
        KeySpend::new(tokens, 0, 1),
    ))
}

async fn commit(journal: &dyn Journal, commit: Commit) -> Result<(), MemoryError> {
    journal.commit(commit).await
}

/// Two runs' reservations on one key share its limit: the second is
/// refused when both would pass it, naming the limit and the amounts.
pub async fn reservations_share_a_keys_limit(journal: &dyn Journal) {
    let (a, b) = (RunId::new(), RunId::new());
    granted(journal, claim("acme", a, 600)).await;
    let Reserved::Refused(short) = reserve(journal, claim("acme", b, 401)).await else {
        panic!("600 and 401 tokens pass 1,000");
    };
    assert_eq!(
        (short.limit, short.max, short.spent, short.needed),
        (BudgetLimit::TotalTokens, 1_000, 600, 401)
    );
    let before = granted(journal, claim("acme", b, 400)).await;
    assert_eq!(
        before.reserved,
        KeySpend::new(600, 0, 1),
        "a grant says where the key stood"
    );
    assert_eq!(
        standing(journal, "acme", RunId::new()).await.reserved,
        KeySpend::new(1_000, 0, 2)
    );
}

/// A commit's settlement adds to the key's settled spend and drops the
/// run's reservation, freeing what the call did not use.
pub async fn a_commit_settles_and_frees_the_reservation(journal: &dyn Journal) {
    let (a, b) = (RunId::new(), RunId::new());
    granted(journal, claim("acme", a, 900)).await;
    if let Err(e) = commit(journal, settling(a, "acme", 300)).await {
        panic!("the commit failed: {e}");
    }
    let now = standing(journal, "acme", b).await;
    assert_eq!(now.settled, KeySpend::new(300, 0, 1));
    assert_eq!(now.reserved, KeySpend::default(), "the reservation is gone");
    granted(journal, claim("acme", b, 700)).await;
}

/// A run's new reservation replaces its earlier one: a run resumed on
/// another worker does not hold its call twice.
pub async fn a_runs_reservation_is_replaced(journal: &dyn Journal) {
    let run = RunId::new();
    granted(journal, claim("acme", run, 800)).await;
    let before = granted(journal, claim("acme", run, 900)).await;
    assert_eq!(before.reserved, KeySpend::default(), "its own is left out");
    let other = standing(journal, "acme", RunId::new()).await;
    assert_eq!(other.reserved, KeySpend::new(900, 0, 1));
    let own = standing(journal, "acme", run).await;
    assert_eq!(own.reserved, KeySpend::default(), "a run's own is left out");
}

/// A commit refused by its checks settles nothing.
pub async fn a_refused_commit_settles_nothing(journal: &dyn Journal) {
    let run = RunId::new();
    granted(journal, claim("acme", run, 500)).await;
    let stale = settling(run, "acme", 500).with_expected_episodes(3);
    assert!(
        matches!(commit(journal, stale).await, Err(MemoryError::Conflict(_))),
        "a commit expecting 3 episodes of a run with none is refused"
    );
    let now = standing(journal, "acme", RunId::new()).await;
    assert_eq!(now.settled, KeySpend::default());
    assert_eq!(now.reserved, KeySpend::new(500, 0, 1), "still reserved");
}

/// A reservation past its time no longer holds the key's allowance.
pub async fn a_lapsed_reservation_holds_nothing(journal: &dyn Journal) {
    let lapsed = Reservation::new(
        "acme",
        PERIOD,
        RunId::new(),
        KeySpend::new(1_000, 0, 1),
        limits(),
        Duration::ZERO,
    );
    granted(journal, lapsed).await;
    granted(journal, claim("acme", RunId::new(), 1_000)).await;
}

/// Spend cannot be settled against a lapsed reservation (the call
/// outlasted it, and another run may have taken the allowance): the
/// commit is refused whole. A commit settling nothing goes in.
pub async fn a_lapsed_reservation_cannot_settle_spend(journal: &dyn Journal) {
    let run = RunId::new();
    let lapsed = Reservation::new(
        "acme",
        PERIOD,
        run,
        KeySpend::new(500, 0, 1),
        limits(),
        Duration::ZERO,
    );
    granted(journal, lapsed).await;
    let late = settling(run, "acme", 500)
        .with_episodes(vec![klieo_types::Episode::Completed { steps: 1 }]);
    let refused = commit(journal, late).await;
    assert!(
        matches!(&refused, Err(MemoryError::Conflict(why)) if why.contains("lapsed")),
        "{refused:?}"
    );
    let now = standing(journal, "acme", RunId::new()).await;
    assert_eq!(now.settled, KeySpend::default(), "nothing settled");
    let episodes = match journal.replay(run).await {
        Ok(episodes) => episodes,
        Err(e) => panic!("replay failed: {e}"),
    };
    assert!(episodes.is_empty(), "nothing written: {episodes:?}");
    let nothing = Commit::new(run, ThreadId::new(format!("t-{run}")))
        .with_settlement(Settlement::new("acme", PERIOD, KeySpend::default()));
    if let Err(e) = commit(journal, nothing).await {
        panic!("a commit settling nothing failed: {e}");
    }
}

/// Keys and periods are counted apart.
pub async fn keys_and_periods_are_apart(journal: &dyn Journal) {
    let run = RunId::new();
    granted(journal, claim("acme", run, 1_000)).await;
    if let Err(e) = commit(journal, settling(run, "acme", 1_000)).await {
        panic!("the commit failed: {e}");
    }
    let other = RunId::new();
    assert!(matches!(
        reserve(journal, claim("acme", other, 1)).await,
        Reserved::Refused(_)
    ));
    granted(journal, claim("globex", other, 1_000)).await;
    let next = Reservation::new(
        "acme",
        PERIOD + 3_600,
        RunId::new(),
        KeySpend::new(1_000, 0, 1),
        limits(),
        Duration::from_secs(600),
    );
    granted(journal, next).await;
}

/// Every limit is kept: the model calls of a period, and a cost.
pub async fn calls_and_cost_are_limited(journal: &dyn Journal) {
    let limits = KeyLimits::new().with_model_calls(2).with_cost_micros(5_000);
    let call = |cost| {
        Reservation::new(
            "acme",
            PERIOD,
            RunId::new(),
            KeySpend::new(1, cost, 1),
            limits,
            Duration::from_secs(600),
        )
    };
    let Reserved::Refused(short) = reserve(journal, call(5_001)).await else {
        panic!("5,001 micro-dollars pass 5,000");
    };
    assert_eq!(short.limit, BudgetLimit::Cost);
    granted(journal, call(1)).await;
    granted(journal, call(1)).await;
    let Reserved::Refused(short) = reserve(journal, call(1)).await else {
        panic!("a third call passes 2");
    };
    assert_eq!((short.limit, short.spent), (BudgetLimit::ModelCalls, 2));
}

/// One test per scenario of this module, each on the fresh journal
/// `$fresh` (a `Box<dyn Journal>` keeping a ledger), with the attributes
/// given after it.
///
/// ```ignore
/// mod ledger {
///     klieo_store::testing::ledger::ledger_suite!(Box::new(klieo_store::InMemoryJournal::new()));
/// }
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __klieo_store_ledger_suite {
    ($fresh:expr $(, #[$attr:meta])* $(,)?) => {
        $crate::__klieo_store_ledger_scenarios!([$(#[$attr])*] $fresh;
            reservations_share_a_keys_limit,
            a_commit_settles_and_frees_the_reservation,
            a_runs_reservation_is_replaced,
            a_refused_commit_settles_nothing,
            a_lapsed_reservation_holds_nothing,
            a_lapsed_reservation_cannot_settle_spend,
            keys_and_periods_are_apart,
            calls_and_cost_are_limited,
        );
    };
}

/// One test per named ledger scenario.
#[doc(hidden)]
#[macro_export]
macro_rules! __klieo_store_ledger_scenarios {
    (@one [$(#[$attr:meta])*] $fresh:expr; $scenario:ident) => {
        $(#[$attr])*
        #[tokio::test]
        async fn $scenario() {
            let journal = $fresh;
            $crate::testing::ledger::$scenario(&*journal).await;
        }
    };
    ($attrs:tt $fresh:expr; $($scenario:ident),* $(,)?) => {
        $(
            $crate::__klieo_store_ledger_scenarios!(@one $attrs $fresh; $scenario);
        )*
    };
}

#[doc(inline)]
pub use crate::__klieo_store_ledger_suite as ledger_suite;
