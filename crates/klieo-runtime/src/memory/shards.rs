//! [`Shards`]: a map split by key over several locks, so runs on
//! different keys rarely wait for each other.
//!
//! A few dozen lines over `std`, where a sharded-map crate would bring its
//! own lock and hash-table crates into every build of the runtime.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// How many locks a map is split over: two workers touching keys at the
/// same instant meet on one shard about once in `SHARDS`.
const SHARDS: usize = 16;

/// A `HashMap` split by key hash over [`SHARDS`] locks.
pub(super) struct Shards<K, V> {
    shards: Box<[Shard<K, V>]>,
}

/// One shard, on cache lines of its own. Measured, not explained: packed
/// side by side (16 in 900 bytes), the shards made 1,000 concurrent runs
/// on 2 workers hardly faster than the same runs one after another
/// (1.0x to 1.2x in `concurrent_bench`, against 1.4x to 2.1x padded).
#[repr(align(128))]
struct Shard<K, V>(Mutex<Map<K, V>>);

/// The map inside a shard, under foldhash with this process's random
/// seed (SipHash cost a step 0.4k instructions in these maps).
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

impl<K, V> Default for Shards<K, V> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Shard(Mutex::default())).collect(),
        }
    }
}

impl<K, V> fmt::Debug for Shards<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: usize = self.shards.iter().map(|shard| lock(&shard.0).len()).sum();
        f.debug_struct("Shards").field("keys", &keys).finish()
    }
}

/// Picks a shard: a cheap multiplicative hash (the one rustc's FxHasher
/// uses), since the map inside the shard hashes the key again with a
/// seeded hasher, and a key that lands on a busy shard costs only
/// a short wait.
struct ShardHasher(u64);

impl Hasher for ShardHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Locks `m`; a panic elsewhere while it was held leaves data that is
/// still whole (every change under these locks is a push, an insert or a
/// removal), so the lock is taken anyway.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<K: Hash + Eq, V> Shards<K, V> {
    /// The locked shard where `key` is, or goes.
    pub(super) fn shard(&self, key: &K) -> MutexGuard<'_, Map<K, V>> {
        let mut hasher = ShardHasher(0);
        key.hash(&mut hasher);
        // The high bits are the well-mixed ones of a multiplicative hash.
        let index = (hasher.0 >> 32) as usize % SHARDS;
        lock(&self.shards[index].0)
    }

    /// Every key, shard by shard (in no order).
    pub(super) fn keys(&self) -> Vec<K>
    where
        K: Clone,
    {
        let mut keys = Vec::new();
        for shard in self.shards.iter() {
            keys.extend(lock(&shard.0).keys().cloned());
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_found_in_the_shard_it_went_to() {
        let map: Shards<u32, u32> = Shards::default();
        for i in 0..1_000 {
            map.shard(&i).insert(i, i * 2);
        }
        assert!((0..1_000).all(|i| map.shard(&i).get(&i) == Some(&(i * 2))));
        let mut keys = map.keys();
        keys.sort_unstable();
        assert_eq!(keys, (0..1_000).collect::<Vec<_>>());
    }

    #[test]
    fn keys_spread_over_many_shards() {
        let map: Shards<String, ()> = Shards::default();
        for i in 0..1_000 {
            let key = format!("thread-{i}");
            map.shard(&key).insert(key, ());
        }
        let used = map.shards.iter().filter(|s| !lock(&s.0).is_empty()).count();
        assert!(used > SHARDS / 2, "1,000 keys used only {used} shards");
    }
}
