//! The journal the durable scenarios run on: klieo-store's in-memory one.
//! The facade's `durable_sqlite` tests include the same scenario files
//! with a `store` module of their own, for SQLite.

/// The store under test.
pub(crate) type Store = klieo_store::InMemoryJournal;

/// A fresh, empty store, with what keeps it alive (nothing, in memory).
pub(crate) async fn fresh() -> ((), Store) {
    ((), Store::new())
}
