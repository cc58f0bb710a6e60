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
        let Some(offset) = memchr::memchr2(b'\n', b'\r', &self.buf[self.scan..]) else {
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
