//! The pure part of line reading: where lines start and end in the bytes read so far, when a line
//! is over the limit, and when the buffer grows or shrinks. No I/O, so every case is a plain
//! unit test; [`super::LineReader`] only moves bytes from the stream into [`LineBuffer::spare`].

use super::LineEnding;

/// Size of a fresh buffer. Commands are short (RFC 5321 §4.5.3.1.4: 512 octets, RFC 2449: 255),
/// so most sessions never grow beyond it, and idle connections stay small.
pub(super) const INITIAL_CAPACITY: usize = 512;

/// What [`LineBuffer::scan`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scan {
    /// A complete line is at `buf[start..end]` (terminator excluded) and has been consumed.
    Line {
        start: usize,
        end: usize,
        ending: LineEnding,
    },
    /// A line longer than the limit has ended and been consumed entirely.
    TooLong,
    /// No complete line yet: read more into [`LineBuffer::spare`].
    NeedMore,
}

/// Bytes read from a stream and not yet returned as lines, in `buf[start..end]`.
///
/// `buf` is always fully initialised (zeroed once when it grows) so reads go into a plain
/// `&mut [u8]` without `unsafe`.
#[derive(Debug)]
pub(super) struct LineBuffer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// `buf[start..scanned]` is known to hold no `\n`, so a long line is not rescanned per read.
    scanned: usize,
    /// Longest acceptable line, terminator included.
    max_line: usize,
    /// Inside a line that is already over the limit: its bytes are dropped as they arrive.
    discarding: bool,
}

impl LineBuffer {
    pub(super) fn new(max_line: usize) -> Self {
        let mut buffer = LineBuffer {
            buf: Vec::new(),
            start: 0,
            end: 0,
            scanned: 0,
            max_line,
            discarding: false,
        };
        buffer.buf = vec![0; buffer.small_capacity()];
        buffer
    }

    pub(super) fn max_line(&self) -> usize {
        self.max_line
    }

    pub(super) fn set_max_line(&mut self, max_line: usize) {
        self.max_line = max_line;
    }

    /// The buffer never needs more than one full line; at least one byte so a read always has
    /// room (a zero-length read would look like end of stream).
    fn limit(&self) -> usize {
        self.max_line.max(1)
    }

    fn small_capacity(&self) -> usize {
        INITIAL_CAPACITY.min(self.limit())
    }

    pub(super) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Bytes read but not yet consumed as lines.
    pub(super) fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(super) fn slice(&self, start: usize, end: usize) -> &[u8] {
        &self.buf[start..end]
    }

    /// Looks for the next line terminator in what has been read and consumes that line.
    pub(super) fn scan(&mut self) -> Scan {
        let unscanned = &self.buf[self.scanned..self.end];
        if let Some(offset) = unscanned.iter().position(|&b| b == b'\n') {
            let newline = self.scanned + offset;
            let line_start = self.start;
            self.start = newline + 1;
            self.scanned = self.start;
            let total_len = newline + 1 - line_start;
            if std::mem::take(&mut self.discarding) || total_len > self.max_line {
                return Scan::TooLong;
            }
            let (end, ending) = if newline > line_start && self.buf[newline - 1] == b'\r' {
                (newline - 1, LineEnding::CrLf)
            } else {
                (newline, LineEnding::Lf)
            };
            return Scan::Line {
                start: line_start,
                end,
                ending,
            };
        }
        self.scanned = self.end;
        // A line that already fills the limit without its `\n` cannot fit: drop what we have
        // and skip to its end, so memory stays bounded by max_line whatever the peer sends.
        if self.discarding || self.end - self.start >= self.max_line {
            self.discarding = true;
            self.clear();
        }
        Scan::NeedMore
    }

    /// Room to read into, after making some: compacting consumed bytes away first, then
    /// doubling the buffer up to the limit. Call only after [`LineBuffer::scan`] said
    /// [`Scan::NeedMore`].
    pub(super) fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.clear();
        } else if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.scanned -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // scan() ensured the pending line is shorter than the limit, so this grows; the
            // `+ 1` only guards the invariant against a future change.
            let grown = (self.buf.len() * 2).min(self.limit());
            self.buf.resize(grown.max(self.buf.len() + 1), 0);
        }
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were read into the slice [`LineBuffer::spare`] returned.
    pub(super) fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Forgets an over-long line that the stream ended in the middle of.
    pub(super) fn end_of_stream(&mut self) {
        if self.discarding {
            self.discarding = false;
            self.clear();
        }
    }

    /// Gives a grown buffer back once what is pending fits in a small one, so a connection that
    /// sent one long line does not keep its memory while idle.
    pub(super) fn shrink_if_idle(&mut self) {
        let small = self.small_capacity();
        if self.buf.len() <= small || self.end - self.start > small || self.discarding {
            return;
        }
        let mut fresh = vec![0; small];
        let pending = self.end - self.start;
        fresh[..pending].copy_from_slice(&self.buf[self.start..self.end]);
        self.scanned -= self.start;
        self.start = 0;
        self.end = pending;
        self.buf = fresh;
    }

    /// The unconsumed bytes, giving up the buffer.
    pub(super) fn into_pending(mut self) -> Vec<u8> {
        self.buf.truncate(self.end);
        self.buf.drain(..self.start);
        self.buf
    }

    fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
        self.scanned = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in chunks of at most `chunk` bytes and collects what the buffer reports.
    fn lines(max_line: usize, input: &[u8], chunk: usize) -> Vec<Result<Vec<u8>, ()>> {
        let mut buffer = LineBuffer::new(max_line);
        let mut rest = input;
        let mut out = Vec::new();
        loop {
            match buffer.scan() {
                Scan::Line { start, end, .. } => out.push(Ok(buffer.slice(start, end).to_vec())),
                Scan::TooLong => out.push(Err(())),
                Scan::NeedMore => {
                    if rest.is_empty() {
                        return out;
                    }
                    let spare = buffer.spare();
                    let n = spare.len().min(chunk).min(rest.len());
                    spare[..n].copy_from_slice(&rest[..n]);
                    buffer.filled(n);
                    rest = &rest[n..];
                }
            }
        }
    }

    #[test]
    fn line_of_exactly_max_line_including_crlf_is_accepted() {
        let mut input = vec![b'a'; 8];
        input.extend_from_slice(b"\r\n");
        assert_eq!(lines(10, &input, 3), vec![Ok(vec![b'a'; 8])]);
    }

    #[test]
    fn line_one_byte_over_max_line_is_too_long() {
        let mut input = vec![b'a'; 9];
        input.extend_from_slice(b"\r\nok\r\n");
        assert_eq!(lines(10, &input, 3), vec![Err(()), Ok(b"ok".to_vec())]);
    }

    #[test]
    fn over_long_line_is_dropped_whatever_the_chunking() {
        let mut input = vec![b'x'; 5000];
        input.extend_from_slice(b"\nnext\n");
        for chunk in [1, 7, 512, 10_000] {
            assert_eq!(
                lines(100, &input, chunk),
                vec![Err(()), Ok(b"next".to_vec())],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn buffer_never_grows_past_max_line() {
        let mut buffer = LineBuffer::new(1000);
        for _ in 0..100 {
            assert_eq!(buffer.scan(), Scan::NeedMore);
            let spare = buffer.spare();
            let n = spare.len();
            spare.fill(b'x');
            buffer.filled(n);
            assert!(buffer.capacity() <= 1000, "{}", buffer.capacity());
        }
    }

    #[test]
    fn cr_alone_is_content_not_a_terminator() {
        assert_eq!(lines(100, b"a\rb\r\n", 100), vec![Ok(b"a\rb".to_vec())]);
    }

    #[test]
    fn zero_max_line_reports_every_line_too_long() {
        assert_eq!(lines(0, b"a\n\n", 1), vec![Err(()), Err(())]);
    }

    #[test]
    fn shrink_keeps_pending_bytes() {
        let mut buffer = LineBuffer::new(10_000);
        let mut input = vec![b'y'; 3000];
        input.extend_from_slice(b"\nrest");
        let mut rest = &input[..];
        while buffer.scan() == Scan::NeedMore {
            let spare = buffer.spare();
            let n = spare.len().min(rest.len());
            spare[..n].copy_from_slice(&rest[..n]);
            buffer.filled(n);
            rest = &rest[n..];
        }
        assert!(rest.is_empty());
        assert!(buffer.capacity() >= 3000);
        buffer.shrink_if_idle();
        assert_eq!(buffer.capacity(), INITIAL_CAPACITY);
        assert_eq!(buffer.pending(), b"rest");
    }
}
