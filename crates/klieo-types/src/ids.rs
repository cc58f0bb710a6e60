//! Identifiers: [`RunId`] names one agent run, [`ThreadId`] one conversation.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Identifies one agent run. A UUID version 7: it sorts by creation time,
/// and within one process strictly in creation order.
///
/// ```
/// use klieo_types::RunId;
///
/// let a = RunId::new();
/// let b = RunId::new();
/// assert!(a < b);
/// let text = a.to_string();
/// assert_eq!(text.len(), 36);
/// assert_eq!(text.parse::<RunId>()?, a);
/// # Ok::<(), klieo_types::ParseIdError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(u128);

/// The time-ordered part of the last id made: milliseconds since the Unix
/// epoch shifted left by 12, plus a 12-bit sequence number within that
/// millisecond. Ids borrow from the next millisecond rather than repeat.
static LAST_STAMP: AtomicU64 = AtomicU64::new(0);

fn next_stamp() -> u64 {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
        & ((1 << 48) - 1);
    let candidate = now_ms << 12;
    let mut last = LAST_STAMP.load(Ordering::Relaxed);
    loop {
        let next = candidate.max(last + 1);
        match LAST_STAMP.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

fn random_bits(stamp: u64) -> u64 {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    let mut hasher = KEYS.get_or_init(RandomState::new).build_hasher();
    hasher.write_u64(stamp);
    hasher.finish()
}

impl RunId {
    /// A new id, later than every id this process made before.
    pub fn new() -> Self {
        let stamp = next_stamp();
        let ms = u128::from(stamp >> 12);
        let seq = u128::from(stamp & 0xfff);
        let rand = u128::from(random_bits(stamp) & ((1 << 62) - 1));
        Self((ms << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62) | rand)
    }

    /// The id of the child run this run starts for `key` (the call that
    /// starts it: its [idempotency key](crate::ToolContext::idempotency_key)):
    /// the same in every process and every version of klieo, so that a
    /// call run again after a stop finds the child the first one started.
    /// It keeps this run's time (the two sort together) and differs from
    /// it in its 62 last bits, a hash of the key: the children of two keys
    /// share an id with a chance of one in 2^62.
    ///
    /// ```
    /// use klieo_types::{RunId, ToolContext};
    ///
    /// let parent = RunId::new();
    /// let key = ToolContext::new(parent, "call_0", "desk").with_step(1).idempotency_key();
    /// let child = parent.child(&key);
    /// assert_eq!(child, parent.child(&key), "found again");
    /// assert_ne!(child, parent.child(&format!("{parent}:2:call_0")));
    /// assert_ne!(child, parent);
    /// assert_eq!(child.timestamp_ms(), parent.timestamp_ms());
    /// assert_eq!(child.to_string().parse::<RunId>()?, child);
    /// # Ok::<(), klieo_types::ParseIdError>(())
    /// ```
    pub fn child(&self, key: &str) -> Self {
        // FNV-1a over the parent's bytes and the key's, then SplitMix64's
        // finaliser: fixed by this code, not by a library's hasher.
        let bytes = self.0.to_be_bytes().into_iter().chain(key.bytes());
        let mut hash = crate::digest::fnv1a(bytes);
        hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        hash ^= hash >> 31;
        let mut rand = u128::from(hash & ((1 << 62) - 1));
        if rand == self.0 & ((1 << 62) - 1) {
            // Never the parent itself.
            rand ^= 1;
        }
        Self((self.0 & !((1 << 62) - 1)) | rand)
    }

    /// The id as a 128-bit number.
    pub const fn as_u128(&self) -> u128 {
        self.0
    }

    /// Milliseconds since the Unix epoch when the id was made.
    pub const fn timestamp_ms(&self) -> u64 {
        (self.0 >> 80) as u64
    }
}

impl Default for RunId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (v >> 96) as u32,
            (v >> 80) as u16,
            (v >> 64) as u16,
            (v >> 48) as u16,
            v & 0xffff_ffff_ffff
        )
    }
}

impl fmt::Debug for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RunId({self})")
    }
}

/// A [`RunId`] could not be parsed from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a run id: expected a UUID such as 0190a6f2-3c4d-7e5f-8a9b-0c1d2e3f4a5b")]
pub struct ParseIdError {
    text: String,
}

impl FromStr for RunId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseIdError {
            text: crate::text::prefix_chars(s, 64).to_owned(),
        };
        let groups: Vec<&str> = s.split('-').collect();
        let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        if lengths != [8, 4, 4, 4, 12] {
            return Err(err());
        }
        let hex: String = groups.concat();
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err());
        }
        u128::from_str_radix(&hex, 16).map(RunId).map_err(|_| err())
    }
}

impl Serialize for RunId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RunId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Names one conversation, whose messages a
/// [`ShortTermMemory`](crate::ShortTermMemory) keeps. Cheap to clone.
///
/// ```
/// use klieo_types::ThreadId;
///
/// let t = ThreadId::new("support-42");
/// assert_eq!(t.as_str(), "support-42");
/// assert_eq!(t.clone(), t);
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThreadId(Arc<str>);

impl Serialize for ThreadId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ThreadId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::shared_str::deserialize(deserializer).map(ThreadId)
    }
}

impl ThreadId {
    /// A thread id with this name.
    pub fn new(name: impl AsRef<str>) -> Self {
        Self(Arc::from(name.as_ref()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ThreadId({:?})", &*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_id_is_the_same_in_every_version() -> Result<(), ParseIdError> {
        // Pinned: a change here would lose every stored child run's id.
        let parent: RunId = "01a24750-f2a5-7000-92c2-1a9f2f5d3365".parse()?;
        let child = parent.child("01a24750-f2a5-7000-92c2-1a9f2f5d3365:1:call_0");
        assert_eq!(child.to_string(), "01a24750-f2a5-7000-bf9e-2cd2eeda326a");
        Ok(())
    }

    #[test]
    fn ids_sort_in_creation_order_even_within_a_millisecond() {
        let ids: Vec<RunId> = (0..10_000).map(|_| RunId::new()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn ids_are_uuid_v7() {
        let id = RunId::new().to_string();
        assert_eq!(id.as_bytes()[14], b'7');
        assert!(matches!(id.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
    }

    #[test]
    fn timestamp_is_close_to_now() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let ts = RunId::new().timestamp_ms();
        assert!(ts >= now && ts < now + 60_000, "{ts} vs {now}");
    }

    #[test]
    fn parse_rejects_malformed_text() {
        for bad in [
            "",
            "xyz",
            "+190a6f2-3c4d-7e5f-8a9b-0c1d2e3f4a5b",
            "0190a6f2-3c4d-7e5f-8a9b",
            "0190a6f2-3c4d-7e5f-8a9b-0c1d2e3f4a5g",
        ] {
            assert!(bad.parse::<RunId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn json_is_the_uuid_string() {
        let id = RunId::new();
        let json = serde_json::to_string(&id).unwrap_or_default();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<RunId>(&json).ok(), Some(id));
    }
}
