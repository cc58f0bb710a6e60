//! [`Repeats`]: which tool calls a run has made, so a round that only
//! repeats them can be told apart (see `AfterToolCalls::AutoUntilRepeat`).

use foldhash::fast::RandomState;
use klieo_types::{JsonText, ToolCall};
use serde_json::Value;
use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The calls of a run so far, by tool and arguments.
///
/// A call is kept as a 64-bit digest of its tool's name and its parsed
/// arguments (an object's entries whatever their order, a number whatever
/// its form: `1` and `1.0` alike), with foldhash under this process's
/// random seed: no
/// argument text is rendered or copied. Two different calls share a
/// digest with odds near 2⁻⁶⁴, and the cost of one that did would be a
/// request asking the model for its answer, so a fast hash does; SipHash
/// cost a step 1.2k instructions here.
#[derive(Default)]
pub(crate) struct Repeats {
    seen: Mutex<HashSet<u64, BuildHasherDefault<Digest>>>,
    keys: RandomState,
    last_round_repeated: AtomicBool,
}

/// A call's arguments as the run parsed them, with their text (or why
/// the text is not JSON).
pub(crate) type Parsed = Result<(Value, JsonText), serde_json::Error>;

/// A call's arguments as a digest counts them: parsed, or the text of
/// arguments that are not JSON.
enum Arguments<'a> {
    Parsed(&'a Value),
    Text(&'a str),
}

impl Repeats {
    /// Notes a round of calls, `args` holding each one's parsed arguments;
    /// returns whether every one of them had been made before (same tool,
    /// same arguments, whatever their layout).
    pub(crate) fn note<'a>(
        &self,
        calls: &[ToolCall],
        args: impl IntoIterator<Item = &'a Parsed>,
    ) -> bool {
        let digests = calls.iter().zip(args).map(|(call, parsed)| {
            let arguments = match parsed {
                Ok((value, _)) => Arguments::Parsed(value),
                Err(_) => Arguments::Text(call.arguments()),
            };
            self.digest(&call.name, arguments)
        });
        self.note_digests(digests)
    }

    /// Notes a round of calls read back from a run's log, each its tool's
    /// name and its logged arguments, as [`note`](Self::note) noted them
    /// (arguments that were not JSON are logged as a JSON string holding
    /// their text, which a digest counts as that text).
    pub(crate) fn note_logged<'a>(&self, round: &[(&'a str, &'a JsonText)]) -> bool {
        let digests = round
            .iter()
            .map(|(name, args)| self.digest(name, Arguments::Parsed(&args.to_value())));
        self.note_digests(digests)
    }

    /// Notes a round of calls by their digests: whether there were some
    /// and every one had been made before.
    fn note_digests(&self, digests: impl IntoIterator<Item = u64>) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let (mut any, mut repeated) = (false, true);
        for digest in digests {
            any = true;
            repeated &= !seen.insert(digest);
        }
        let repeated = any && repeated;
        self.last_round_repeated.store(repeated, Ordering::Relaxed);
        repeated
    }

    /// The digest of a call of tool `name` with `arguments`: text that is
    /// not JSON as a JSON string of it (the form its log keeps).
    #[inline]
    fn digest(&self, name: &str, arguments: Arguments<'_>) -> u64 {
        let mut digest = self.keys.build_hasher();
        name.hash(&mut digest);
        match arguments {
            Arguments::Parsed(value) => hash_value(value, &self.keys, &mut digest),
            Arguments::Text(text) => hash_text(text, &mut digest),
        }
        digest.finish()
    }

    /// Whether the last round only repeated earlier calls.
    pub(crate) fn last_round_repeated(&self) -> bool {
        self.last_round_repeated.load(Ordering::Relaxed)
    }
}

/// The hasher of the set of digests: a digest is already a seeded hash,
/// so the set uses it as it is instead of hashing it again (a third of
/// what noting a call cost).
#[derive(Default)]
struct Digest(u64);

impl Hasher for Digest {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64`s are hashed into the set; fold anything else in.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Feeds `value` to `hasher` by its structure: each kind tagged, each
/// array and object with its length. A number is fed as the one it is: a
/// whole one as an integer (`1`, `1.0`), any other as its float's bits.
/// An object's entries are each hashed apart (under `keys`) and summed,
/// so their order does not count, whatever order serde_json keeps (its
/// `preserve_order` feature, which a build may turn on, keeps the
/// model's).
fn hash_value(value: &Value, keys: &RandomState, hasher: &mut impl Hasher) {
    match value {
        Value::Null => hasher.write_u8(0),
        Value::Bool(b) => {
            hasher.write_u8(1);
            b.hash(hasher);
        }
        Value::Number(n) => match whole(n) {
            Some(whole) => {
                hasher.write_u8(2);
                hasher.write_i128(whole);
            }
            None => {
                hasher.write_u8(6);
                hasher.write_u64(n.as_f64().map_or(0, f64::to_bits));
            }
        },
        Value::String(s) => hash_text(s, hasher),
        Value::Array(items) => {
            hasher.write_u8(4);
            hasher.write_usize(items.len());
            items.iter().for_each(|item| hash_value(item, keys, hasher));
        }
        Value::Object(map) => {
            hasher.write_u8(5);
            hasher.write_usize(map.len());
            let mut entries = 0u64;
            for (key, item) in map {
                let mut entry = keys.build_hasher();
                key.hash(&mut entry);
                hash_value(item, keys, &mut entry);
                entries = entries.wrapping_add(entry.finish());
            }
            hasher.write_u64(entries);
        }
    }
}

/// Feeds a string to `hasher`, tagged as one.
fn hash_text(text: &str, hasher: &mut impl Hasher) {
    hasher.write_u8(3);
    text.hash(hasher);
}

/// `n` as a whole number, when it is one (written as an integer, or as a
/// float with nothing after its point within `i128`'s range).
fn whole(n: &serde_json::Number) -> Option<i128> {
    if let Some(i) = n.as_i64() {
        return Some(i128::from(i));
    }
    if let Some(u) = n.as_u64() {
        return Some(i128::from(u));
    }
    let f = n.as_f64()?;
    // 2^126: every float below it in magnitude converts without loss.
    let within = f.abs() < 8.507_059_173_023_462e37;
    (f.fract() == 0.0 && within).then_some(f as i128)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn note(r: &Repeats, calls: &[ToolCall]) -> bool {
        let args: Vec<Parsed> = calls.iter().map(|c| c.clone().take_arguments()).collect();
        r.note(calls, &args)
    }

    #[test]
    fn a_round_of_known_calls_is_a_repeat_whatever_the_spacing() {
        let r = Repeats::default();
        assert!(!note(
            &r,
            &[ToolCall::new("c1", "mul", json!({"a": 17, "b": 23}))]
        ));
        assert!(!r.last_round_repeated());
        let again = ToolCall::from_raw("c2", "mul", r#"{ "b":23, "a" :17 }"#);
        assert!(note(&r, std::slice::from_ref(&again)));
        assert!(r.last_round_repeated());
        let new = ToolCall::new("c3", "mul", json!({"a": 1, "b": 23}));
        assert!(!note(&r, &[again, new]), "one new call is progress");
        assert!(!note(&r, &[]), "no calls, no repeat");
    }

    #[test]
    fn calls_alike_but_for_their_shape_are_not_repeats() {
        let r = Repeats::default();
        assert!(!note(&r, &[ToolCall::new("c1", "f", json!({"a": [1, 2]}))]));
        for other in [
            json!({"a": [[1, 2]]}),
            json!({"a": [1], "b": [2]}),
            json!({"a": ["1", "2"]}),
            json!({"a": [1, 2], "b": null}),
            json!([{"a": [1, 2]}]),
        ] {
            assert!(
                !note(&r, &[ToolCall::new("c", "f", other.clone())]),
                "{other}"
            );
        }
        assert!(
            !note(&r, &[ToolCall::new("c", "g", json!({"a": [1, 2]}))]),
            "another tool"
        );
        assert!(note(&r, &[ToolCall::new("c", "f", json!({"a": [1, 2]}))]));
    }

    #[test]
    fn arguments_that_are_not_json_repeat_by_their_text() {
        let r = Repeats::default();
        assert!(!note(&r, &[ToolCall::from_raw("c1", "f", "{not json")]));
        assert!(note(&r, &[ToolCall::from_raw("c2", "f", "{not json")]));
        assert!(!note(&r, &[ToolCall::from_raw("c3", "f", "{not json ")]));
    }

    #[test]
    fn a_number_repeats_whatever_its_form_and_two_numbers_stay_two() {
        let r = Repeats::default();
        let call = |id: &str, args: &str| ToolCall::from_raw(id, "f", args);
        assert!(!note(&r, &[call("c1", r#"{"n": 1}"#)]));
        assert!(note(&r, &[call("c2", r#"{"n": 1.0}"#)]), "1.0 is 1");
        assert!(!note(&r, &[call("c3", r#"{"n": -1}"#)]));
        assert!(
            !note(&r, &[call("c4", r#"{"n": 18446744073709551615}"#)]),
            "u64::MAX is not -1"
        );
        assert!(!note(&r, &[call("c5", r#"{"n": 0.5}"#)]));
        assert!(
            !note(&r, &[call("c6", r#"{"n": 4602678819172646912}"#)]),
            "0.5's bits as an integer are not 0.5"
        );
    }

    #[test]
    fn an_objects_entries_repeat_in_any_order_and_nested() {
        let r = Repeats::default();
        let call = |id: &str, args: &str| ToolCall::from_raw(id, "f", args);
        assert!(!note(
            &r,
            &[call("c1", r#"{"a": {"x": 1, "y": [2]}, "b": 3}"#)]
        ));
        assert!(note(
            &r,
            &[call("c2", r#"{"b": 3, "a": {"y": [2], "x": 1}}"#)]
        ));
        // The same values under other keys are another call.
        assert!(!note(
            &r,
            &[call("c3", r#"{"a": 3, "b": {"x": 1, "y": [2]}}"#)]
        ));
    }

    #[test]
    fn arguments_that_are_a_json_string_repeat_when_read_back_from_the_log() {
        let r = Repeats::default();
        let call = ToolCall::from_raw("c1", "f", r#""tea""#);
        assert!(!note(&r, std::slice::from_ref(&call)));
        let logged = call.recorded_arguments();
        assert!(r.note_logged(&[("f", &logged)]), "the same call, taken up");
        let raw = ToolCall::from_raw("c2", "g", "{not json");
        assert!(!note(&r, std::slice::from_ref(&raw)));
        assert!(r.note_logged(&[("g", &raw.recorded_arguments())]));
    }
}
