//! The decoder's byte buffer, cut into lines: BOM, line ends, the length
//! bound and compaction.

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What [`Lines::next_line`] found.
pub(crate) enum Next<'a> {
    /// A complete line, without its line end.
    Line(&'a [u8]),
    /// No complete line is buffered; push more bytes.
    NeedMore,
    /// The line being read is longer than the bound.
    TooLong,
}

/// Bytes pushed but not yet cut into lines.
///
/// `buf[..pos]` is consumed. `buf[pos..scan]` is known to hold no line end,
/// so a long line arriving in small pieces is scanned once, not once per
/// piece.
#[derive(Default)]
pub(crate) struct Lines {
    buf: Vec<u8>,
    pos: usize,
    scan: usize,
    /// The last line ended with a CR at the end of the buffer: an LF that
    /// comes next belongs to that line end.
    after_cr: bool,
    /// The stream's start has been checked for a byte-order mark.
    bom_done: bool,
}

impl Lines {
    /// Appends bytes, first dropping the consumed prefix when that is at
    /// least as long as what remains (so each byte is moved at most about
    /// once on average).
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let remaining = self.buf.len() - self.pos;
        if remaining == 0 {
            self.buf.clear();
            self.pos = 0;
            self.scan = 0;
        } else if self.pos >= remaining {
            self.buf.drain(..self.pos);
            self.scan = self.scan.saturating_sub(self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered and not yet consumed.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Forgets everything buffered, keeping the allocation: the next byte
    /// pushed starts a new stream.
    pub(crate) fn restart(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.scan = 0;
        self.after_cr = false;
        self.bom_done = false;
    }

    /// Cuts the next complete line, or says why there is none. A line (or
    /// the unterminated rest of the buffer) longer than `limit` bytes is
    /// [`Next::TooLong`].
    pub(crate) fn next_line(&mut self, limit: usize) -> Next<'_> {
        if !self.bom_done {
            let head = &self.buf[self.pos..];
            if head.starts_with(BOM) {
                self.pos += BOM.len();
            } else if BOM.starts_with(head) {
                // Too few bytes yet to tell (an empty buffer included).
                return Next::NeedMore;
            }
            self.bom_done = true;
            self.scan = self.scan.max(self.pos);
        }
        if self.after_cr {
            match self.buf.get(self.pos) {
                None => return Next::NeedMore,
                Some(b'\n') => {
                    self.pos += 1;
                    self.scan = self.scan.max(self.pos);
                }
                Some(_) => {}
            }
            self.after_cr = false;
        }
        let start = self.pos;
        let found = find_line_end(&self.buf[self.scan..]);
        let Some(offset) = found else {
            self.scan = self.buf.len();
            return if self.scan - start > limit {
                Next::TooLong
            } else {
                Next::NeedMore
            };
        };
        let end = self.scan + offset;
        if end - start > limit {
            return Next::TooLong;
        }
        self.pos = end + 1;
        if self.buf[end] == b'\r' {
            match self.buf.get(self.pos) {
                Some(b'\n') => self.pos += 1,
                Some(_) => {}
                None => self.after_cr = true,
            }
        }
        self.scan = self.pos;
        Next::Line(&self.buf[start..end])
    }
}

/// The index of the first LF or CR in `bytes`.
///
/// Eight bytes at a time: a byte of `word ^ pattern` is zero where `word`
/// matches, and `(x - 0x01..) & !x & 0x80..` marks zero bytes. A borrow can
/// mark a byte above a true zero, never below one, so the lowest mark (in
/// little-endian order) is exact.
fn find_line_end(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    const LFS: u64 = u64::from_le_bytes([b'\n'; 8]);
    const CRS: u64 = u64::from_le_bytes([b'\r'; 8]);
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let (words, rest) = bytes.as_chunks::<8>();
    for (i, word) in words.iter().enumerate() {
        let word = u64::from_le_bytes(*word);
        let marks = zero_bytes(word ^ LFS) | zero_bytes(word ^ CRS);
        if marks != 0 {
            return Some(i * 8 + (marks.trailing_zeros() / 8) as usize);
        }
    }
    let tail = rest.iter().position(|&b| b == b'\n' || b == b'\r')?;
    Some(words.len() * 8 + tail)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]

    use super::*;

    fn all_lines(lines: &mut Lines) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            match lines.next_line(usize::MAX) {
                Next::Line(line) => out.push(line.to_vec()),
                Next::NeedMore => return out,
                Next::TooLong => panic!("no bound was set"),
            }
        }
    }

    #[test]
    fn find_line_end_agrees_with_a_plain_search() {
        // Bytes next to LF and CR, with and without the high bit, around
        // every position and alignment.
        let fillers = [b'a', 0x00, 0x09, 0x0B, 0x0C, 0x0E, 0x8A, 0x8D, 0xFF, 0x01];
        for len in 0..40 {
            for filler in fillers {
                for end in [b'\n', b'\r'] {
                    for at in 0..=len {
                        let mut bytes = vec![filler; len];
                        if at < len {
                            bytes[at] = end;
                            if at + 1 < len {
                                bytes[at + 1] = b'\n';
                            }
                        }
                        let plain = bytes.iter().position(|&b| b == b'\n' || b == b'\r');
                        assert_eq!(find_line_end(&bytes), plain, "{bytes:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn buffer_stays_small_when_fed_in_small_pieces() {
        let mut lines = Lines::default();
        let stream = b"data: {\"a\":1}\n\n".repeat(2_000);
        let mut count = 0;
        for piece in stream.chunks(7) {
            lines.push(piece);
            count += all_lines(&mut lines).len();
            assert!(
                lines.buf.len() <= 2 * 16 + 7,
                "buffer grew to {}",
                lines.buf.len()
            );
        }
        assert_eq!(count, 4_000);
    }

    #[test]
    fn a_long_line_in_pieces_is_scanned_once() {
        let mut lines = Lines::default();
        for _ in 0..1_000 {
            lines.push(b"xxxxxxxx");
            assert!(all_lines(&mut lines).is_empty());
            assert_eq!(lines.scan, lines.buf.len());
        }
        lines.push(b"\n");
        assert_eq!(all_lines(&mut lines), vec![vec![b'x'; 8_000]]);
    }
}
