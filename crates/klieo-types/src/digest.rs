//! [`fnv1a`]: the digest what klieo keeps or sends is built on (a
//! ticket's digest of its call, a child run's id, a call id made short for
//! a provider, a calibration's fingerprint): the same in every process
//! and every version, unlike a keyed hasher's.

/// The FNV-1a offset basis: where a digest of nothing starts.
const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a (64 bits) of `bytes`.
///
/// ```
/// assert_eq!(klieo_types::digest::fnv1a(*b"a"), 0xaf63_dc4c_8601_ec8c);
/// ```
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    fnv1a_from(OFFSET, bytes)
}

/// FNV-1a of `bytes` going on from `digest`, a digest of what came
/// before them: `fnv1a_from(fnv1a(a), b)` is `fnv1a` of `a` then `b`.
///
/// ```
/// use klieo_types::digest::{fnv1a, fnv1a_from};
/// assert_eq!(fnv1a_from(fnv1a(*b"foo"), *b"bar"), fnv1a(*b"foobar"));
/// ```
pub fn fnv1a_from(digest: u64, bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(digest, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digest is pinned: tickets and child run ids kept in stores are
    /// built on it.
    #[test]
    fn fnv1a_is_the_standard_one() {
        assert_eq!(fnv1a(*b""), OFFSET);
        assert_eq!(fnv1a(*b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(*b"foobar"), 0x8594_4171_f739_67e8);
    }
}
