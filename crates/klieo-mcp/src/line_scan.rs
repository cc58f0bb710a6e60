//! A reply line read for its shape without parsing it: its nesting and
//! count of values (checked before the line is parsed) and, for a line
//! that is no reply, the id of the request it answers. One walk of the
//! line's structure ([`marks`]) serves both: a string's brackets, commas
//! and escaped quotes are data.

use crate::error::ReplyFault;
use rmcp::model::RequestId;

/// The most JSON values one reply may hold: parsing a value costs some
/// fifty times its text, so 640,000 empty items (16 MB) would take about
/// 900 MiB.
pub const MAX_REPLY_VALUES: usize = 100_000;
/// The deepest a reply may nest.
pub const MAX_REPLY_DEPTH: usize = 100;

/// How much of a bad line is kept to find its id and show it.
pub(crate) const KEPT: usize = 256;

/// A mark of a line's structure, outside its strings.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mark {
    /// `{` or `[`.
    Open,
    /// `}` or `]`.
    Close,
    /// `,` between two values.
    Comma,
    /// A string's closing quote; its text (escapes as written) began at
    /// `start`.
    StringEnd { start: usize },
}

/// The marks of `bytes`, each with its offset.
fn marks(bytes: &[u8]) -> impl Iterator<Item = (usize, Mark)> + '_ {
    let (mut in_string, mut escaped, mut start) = (false, false, 0);
    bytes.iter().enumerate().filter_map(move |(i, &b)| {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => {
                    in_string = false;
                    return Some((i, Mark::StringEnd { start }));
                }
                _ => {}
            }
            return None;
        }
        match b {
            b'"' => {
                in_string = true;
                start = i + 1;
                None
            }
            b'{' | b'[' => Some((i, Mark::Open)),
            b'}' | b']' => Some((i, Mark::Close)),
            b',' => Some((i, Mark::Comma)),
            _ => None,
        }
    })
}

/// Checks a line's nesting and count of values without parsing it. The
/// values are counted from above: the first, one after each comma, and
/// each object or array opened (a nested one holds values of its own
/// that no comma separates: `[[[1]]]` is four).
pub(crate) fn scan(line: &[u8]) -> Result<(), ReplyFault> {
    let (mut depth, mut values) = (0usize, 1usize);
    for (_, mark) in marks(line) {
        match mark {
            Mark::Open => {
                depth += 1;
                if depth > MAX_REPLY_DEPTH {
                    return Err(ReplyFault::TooDeep {
                        limit: MAX_REPLY_DEPTH,
                    });
                }
            }
            Mark::Close | Mark::StringEnd { .. } => {
                depth = depth.saturating_sub(usize::from(mark == Mark::Close));
                continue;
            }
            Mark::Comma => {}
        }
        values += 1;
        if values > MAX_REPLY_VALUES {
            return Err(ReplyFault::TooManyValues {
                limit: MAX_REPLY_VALUES,
            });
        }
    }
    Ok(())
}

/// The raw text of the id of the reply whose line is `bytes` (`whole`),
/// or starts or ends with them: the top-level object's `"id"` member,
/// found from its start (outside any string, at depth 1; within the first
/// [`KEPT`] bytes of a line not `whole`), else as its last member
/// (`,"id":3}`); never an `"id"` nested in the result, which is data.
pub(crate) fn reply_id(bytes: &[u8], whole: bool) -> Option<&[u8]> {
    let leading = leading_id(head(bytes, whole));
    // A whole line's members were all looked at from its start.
    leading.or_else(|| (!whole).then(|| trailing_member(bytes, b"id"))?)
}

/// Where a line's top-level members are looked for from its start: all of
/// it when it is `whole`, else its first [`KEPT`] bytes.
fn head(bytes: &[u8], whole: bool) -> &[u8] {
    match whole {
        true => bytes,
        false => bytes.get(..KEPT).unwrap_or(bytes),
    }
}

/// The value of `"id"` among the top-level members at the start of
/// `bytes`.
fn leading_id(bytes: &[u8]) -> Option<&[u8]> {
    let value = leading_member(bytes, b"id")?;
    // A value cut by the end of what is kept is not known: the line's end
    // may say it.
    let token = value_token(value);
    (token.len() < value.len()).then_some(token)
}

/// Whether the line `bytes` is (`whole`), or starts and ends, is the
/// server's own message (a notification, or a request of its own), not a
/// reply: its top-level object has a `"method"` (found as [`reply_id`]
/// finds an id). Its `id`, if any, is of the server's requests, not
/// klieo's.
pub(crate) fn from_server(bytes: &[u8], whole: bool) -> bool {
    leading_member(head(bytes, whole), b"method").is_some()
        || (!whole && trailing_member(bytes, b"method").is_some())
}

/// The text after `"key":` of a top-level member at the start of
/// `bytes` (`key` the name, unquoted, as [`trailing_member`] takes it).
fn leading_member<'a>(bytes: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut depth = 0usize;
    for (i, mark) in marks(bytes) {
        match mark {
            Mark::Open => depth += 1,
            Mark::Close => depth = depth.saturating_sub(1),
            Mark::Comma => {}
            Mark::StringEnd { start } => {
                let name = bytes.get(start..i);
                let rest = bytes.get(i + 1..).unwrap_or_default().trim_ascii_start();
                if let (1, Some(name), Some(value)) = (depth, name, rest.strip_prefix(b":")) {
                    if name == key {
                        return Some(value.trim_ascii_start());
                    }
                }
            }
        }
    }
    None
}

/// The value of the member named `key` (unquoted) when it is the last
/// member of the object `bytes` ends.
fn trailing_member<'a>(bytes: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let body = bytes.trim_ascii_end().strip_suffix(b"}")?.trim_ascii_end();
    let start = body
        .iter()
        .rposition(|b| matches!(b, b':'))
        .map(|colon| colon + 1)?;
    let value = body.get(start..)?.trim_ascii();
    let named = body.get(..start - 1)?.trim_ascii_end();
    let before = named
        .strip_suffix(b"\"")?
        .strip_suffix(key)?
        .strip_suffix(b"\"")?
        .trim_ascii_end()
        .last();
    (matches!(before, Some(b',' | b'{')) && !value.is_empty() && value_token(value) == value)
        .then_some(value)
}

/// Whether `raw` (a line's id, as written) is `id`: as klieo writes it,
/// or the same number written otherwise (`4.0`, `"4"`).
pub(crate) fn same_id(id: &RequestId, raw: &[u8]) -> bool {
    if serde_json::to_vec(id).is_ok_and(|shown| shown == raw) {
        return true;
    }
    let RequestId::Number(n) = id else {
        return false;
    };
    let text = String::from_utf8_lossy(raw);
    let number = text.trim_matches('"');
    number.parse::<f64>().is_ok_and(|x| x == *n as f64)
}

/// The JSON number or string `value` starts with.
fn value_token(value: &[u8]) -> &[u8] {
    let end = match value.first() {
        Some(b'"') => marks(value)
            .find_map(|(i, mark)| matches!(mark, Mark::StringEnd { .. }).then_some(i + 1))
            .unwrap_or(value.len()),
        _ => value
            .iter()
            .position(|b| !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
            .unwrap_or(value.len()),
    };
    value.get(..end).unwrap_or(value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "line_scan_tests.rs"]
mod tests;
