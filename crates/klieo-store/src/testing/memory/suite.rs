//! The suites: one `#[tokio::test]` per scenario of the memory checks,
//! each on a fresh store.

/// Expands to one `#[tokio::test]` per [`ShortTermMemory`] scenario,
/// named after it, each running it on `$fresh`, an expression evaluated
/// in each test (the test takes `&*$fresh`, so a `Box` or any other
/// `Deref` to the store works, and may hold what the store needs, such
/// as a temporary directory). Attributes after it, such as
/// `#[ignore = "…"]`, go on every test.
///
/// [`ShortTermMemory`]: klieo_types::ShortTermMemory
///
/// ```
/// mod in_memory {
///     klieo_store::testing::memory::short_term_suite!(Box::new(klieo_store::InMemoryJournal::new()));
/// }
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __klieo_store_short_term_suite {
    ($fresh:expr $(, #[$attr:meta])* $(,)?) => {
        $crate::__klieo_store_memory_scenarios!([$(#[$attr])*] $fresh;
            token_budget_keeps_the_newest,
            a_stable_load_moves_its_cut_in_steps,
            never_starts_with_an_orphaned_tool_result,
            messages_come_back_as_they_went_in,
            threads_are_separate_and_clear_empties_one,
            summaries_replace_older_messages_when_loaded,
        );
    };
}

/// Expands to one `#[tokio::test]` per [`EpisodicMemory`] scenario; see
/// [`short_term_suite!`].
///
/// [`EpisodicMemory`]: klieo_types::EpisodicMemory
#[doc(hidden)]
#[macro_export]
macro_rules! __klieo_store_episodic_suite {
    ($fresh:expr $(, #[$attr:meta])* $(,)?) => {
        $crate::__klieo_store_memory_scenarios!([$(#[$attr])*] $fresh;
            episodes_replay_in_order_per_run,
            runs_are_listed_in_creation_order,
        );
    };
}

/// Expands to one `#[tokio::test]` per [`Journal`] scenario: every
/// conversation-memory and event-log scenario, what a commit writes (a
/// thread summary with it, or nothing), and leases that exclude other
/// holders; see [`short_term_suite!`].
///
/// [`Journal`]: klieo_types::Journal
///
/// ```
/// mod in_memory {
///     klieo_store::testing::memory::journal_suite!(Box::new(klieo_store::InMemoryJournal::new()));
/// }
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __klieo_store_journal_suite {
    ($fresh:expr $(, #[$attr:meta])* $(,)?) => {
        $crate::__klieo_store_short_term_suite!($fresh $(, #[$attr])*);
        $crate::__klieo_store_episodic_suite!($fresh $(, #[$attr])*);
        $crate::__klieo_store_memory_scenarios!([$(#[$attr])*] $fresh;
            a_commit_writes_messages_episodes_and_pending,
            a_commit_keeps_its_summary_or_is_refused_whole,
            leases_exclude_other_holders,
        );
    };
}

/// One test per named scenario.
#[doc(hidden)]
#[macro_export]
macro_rules! __klieo_store_memory_scenarios {
    (@one [$(#[$attr:meta])*] $fresh:expr; $scenario:ident) => {
        $(#[$attr])*
        #[tokio::test]
        async fn $scenario() {
            let fresh = $fresh;
            $crate::testing::memory::$scenario(&*fresh).await;
        }
    };
    ($attrs:tt $fresh:expr; $($scenario:ident),* $(,)?) => {
        $(
            $crate::__klieo_store_memory_scenarios!(@one $attrs $fresh; $scenario);
        )*
    };
}

#[doc(inline)]
pub use crate::__klieo_store_episodic_suite as episodic_suite;
#[doc(inline)]
pub use crate::__klieo_store_journal_suite as journal_suite;
#[doc(inline)]
pub use crate::__klieo_store_short_term_suite as short_term_suite;
