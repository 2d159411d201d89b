//! Line reading for the line-based protocols: SMTP commands and DATA lines (RFC 5321 §2.3.8,
//! §4.5.3.1) and POP3 commands (RFC 1939 §3). Both end lines in CRLF; a bare LF is accepted as
//! well because real clients send it, and [`LineReader::last_ending`] tells the two apart for
//! callers that must care (SMTP DATA and "SMTP smuggling").
//!
//! Every line has a hard length limit; an over-long line is skipped as a whole and reported as
//! [`Line::TooLong`], so the session can answer with an error and stay in sync with the client.

mod buffer;

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

use buffer::{LineBuffer, Scan};

/// Replies a session may hold back while its client still has commands pipelined.
pub const MAX_QUEUED_REPLIES: usize = 64 * 1024;

/// One result of [`LineReader::read_line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line, without its CRLF or LF. Bytes are passed through as sent (no UTF-8
    /// check): 8BITMIME bodies and binary junk are the protocol's business.
    Complete(&'a [u8]),
    /// A line longer than the limit. The whole line, up to and including its terminator, has been
    /// consumed and discarded; the next call reads the line after it.
    TooLong,
}

/// How the last complete line was terminated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnding {
    /// `\r\n`, as RFC 5321 and RFC 1939 require.
    CrLf,
    /// A bare `\n`.
    Lf,
}

/// Reads CRLF- or LF-terminated lines from a stream with a small, growable buffer.
///
/// The buffer starts at 512 bytes (or `max_line` if smaller), doubles while a long line is being
/// read, never exceeds `max_line`, and is given back before the next wait once what is pending
/// fits in 512 bytes again: an idle connection holds 512 bytes here, whatever it sent earlier.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    buffer: LineBuffer,
    last_ending: Option<LineEnding>,
}

impl<R> LineReader<R> {
    /// Wraps `inner`. `max_line` is the longest acceptable line **including** its terminator,
    /// as the RFCs count it: 512 for SMTP commands, 1000 for SMTP text lines (RFC 5321
    /// §4.5.3.1.4, §4.5.3.1.6), 255 for POP3 commands (RFC 2449 §4).
    pub fn new(inner: R, max_line: usize) -> Self {
        LineReader {
            inner,
            buffer: LineBuffer::new(max_line),
            last_ending: None,
        }
    }

    /// The current line-length limit, terminator included.
    pub fn max_line(&self) -> usize {
        self.buffer.max_line()
    }

    /// Changes the limit for the following lines, e.g. from the command limit to the text-line
    /// limit while SMTP DATA is being read.
    pub fn set_max_line(&mut self, max_line: usize) {
        self.buffer.set_max_line(max_line);
    }

    /// Bytes read from the stream but not yet returned as lines: what a pipelining client sent
    /// ahead. After STARTTLS/STLS this must be empty or be thrown away: those bytes were sent in
    /// clear text before the handshake and may have been injected (RFC 3207 §4.2).
    pub fn buffered(&self) -> &[u8] {
        self.buffer.pending()
    }

    /// Whether a session should write its `queued` reply bytes before reading the next line:
    /// when the client has nothing more pipelined (answers to a pipelined burst go out in one
    /// write, RFC 2920 §3.2, RFC 2449), or once [`MAX_QUEUED_REPLIES`] have piled up, so that a
    /// client that sends without ever reading cannot make the server buffer without bound.
    pub fn should_flush(&self, queued: usize) -> bool {
        self.buffered().is_empty() || queued >= MAX_QUEUED_REPLIES
    }

    /// How the last [`Line::Complete`] was terminated; `None` before the first one.
    pub fn last_ending(&self) -> Option<LineEnding> {
        self.last_ending
    }

    /// Current size of the line buffer in bytes, for memory accounting and tests.
    pub fn buffer_capacity(&self) -> usize {
        self.buffer.capacity()
    }

    /// The stream, e.g. to write replies when `R` is the whole connection.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The stream, e.g. to ask for its addresses.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Gives back the stream and the bytes read but not yet consumed (see
    /// [`LineReader::buffered`]), e.g. before a TLS upgrade.
    pub fn into_inner(self) -> (R, Vec<u8>) {
        (self.inner, self.buffer.into_pending())
    }
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// Reads the next line.
    ///
    /// Returns `Ok(None)` at end of stream. An unterminated last line is **not** returned: a
    /// client that disconnects mid-line never finished that command or DATA line, and acting
    /// on a truncated one would do something the client did not ask for. Its bytes remain in
    /// [`LineReader::buffered`] for logging.
    ///
    /// Cancel-safe when `R`'s reads are (as tokio's sockets' are): dropping the future, e.g. in
    /// `select!` against shutdown or in [`crate::with_timeout`], loses no bytes. Wrap it in a
    /// timeout: a peer that trickles an endless line is otherwise only bounded in memory.
    pub async fn read_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.buffer.shrink_if_idle();
        loop {
            match self.buffer.scan() {
                Scan::Line { start, end, ending } => {
                    self.last_ending = Some(ending);
                    return Ok(Some(Line::Complete(self.buffer.slice(start, end))));
                }
                Scan::TooLong => return Ok(Some(Line::TooLong)),
                Scan::NeedMore => {
                    let n = self.inner.read(self.buffer.spare()).await?;
                    if n == 0 {
                        self.buffer.end_of_stream();
                        return Ok(None);
                    }
                    self.buffer.filled(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::ReadBuf;

    use super::*;

    /// A stream that delivers exactly the given chunks, one per read, like packets.
    struct Chunks(VecDeque<Vec<u8>>);

    impl Chunks {
        fn new(chunks: &[&[u8]]) -> Self {
            Chunks(chunks.iter().map(|c| c.to_vec()).collect())
        }
    }

    impl AsyncRead for Chunks {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if let Some(mut chunk) = self.0.pop_front() {
                let n = chunk.len().min(buf.remaining());
                buf.put_slice(&chunk[..n]);
                if n < chunk.len() {
                    self.0.push_front(chunk.split_off(n));
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    /// The next line as owned bytes; `None` for TooLong. Panics at end of stream.
    async fn next<R: AsyncRead + Unpin>(reader: &mut LineReader<R>) -> Option<Vec<u8>> {
        match reader
            .read_line()
            .await
            .unwrap()
            .expect("unexpected end of stream")
        {
            Line::Complete(line) => Some(line.to_vec()),
            Line::TooLong => None,
        }
    }

    #[tokio::test]
    async fn crlf_and_bare_lf_lines_are_both_read_without_terminator() {
        let mut reader = LineReader::new(Chunks::new(&[b"EHLO a\r\nNOOP\nQUIT\r\n"]), 512);
        assert_eq!(next(&mut reader).await.unwrap(), b"EHLO a");
        assert_eq!(reader.last_ending(), Some(LineEnding::CrLf));
        assert_eq!(next(&mut reader).await.unwrap(), b"NOOP");
        assert_eq!(reader.last_ending(), Some(LineEnding::Lf));
        assert_eq!(next(&mut reader).await.unwrap(), b"QUIT");
        assert!(reader.read_line().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn pipelined_lines_in_one_read_come_out_one_by_one() {
        let stream = Chunks::new(&[b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"]);
        let mut reader = LineReader::new(stream, 512);
        assert_eq!(next(&mut reader).await.unwrap(), b"MAIL FROM:<a@x>");
        assert_eq!(reader.buffered(), b"RCPT TO:<b@x>\r\nDATA\r\n");
        assert_eq!(next(&mut reader).await.unwrap(), b"RCPT TO:<b@x>");
        assert_eq!(next(&mut reader).await.unwrap(), b"DATA");
        assert!(reader.buffered().is_empty());
    }

    #[tokio::test]
    async fn line_split_across_reads_is_joined() {
        let stream = Chunks::new(&[b"US", b"ER al", b"ice\r", b"\nPASS x\r\n"]);
        let mut reader = LineReader::new(stream, 512);
        assert_eq!(next(&mut reader).await.unwrap(), b"USER alice");
        assert_eq!(reader.last_ending(), Some(LineEnding::CrLf));
        assert_eq!(next(&mut reader).await.unwrap(), b"PASS x");
    }

    #[tokio::test]
    async fn over_long_line_is_too_long_and_next_line_reads_correctly() {
        let long = vec![b'A'; 5000];
        let stream = Chunks::new(&[&long[..1000], &long[1000..], b"\r\nNOOP\r\n"]);
        let mut reader = LineReader::new(stream, 1000);
        assert_eq!(reader.read_line().await.unwrap(), Some(Line::TooLong));
        assert_eq!(next(&mut reader).await.unwrap(), b"NOOP");
        assert!(reader.buffer_capacity() <= 1000);
    }

    #[tokio::test]
    async fn binary_bytes_pass_through_untouched() {
        let line: Vec<u8> = (0u8..=255).filter(|&b| b != b'\n').collect();
        let mut input = line.clone();
        input.extend_from_slice(b"\r\n");
        let mut reader = LineReader::new(Chunks::new(&[&input]), 1000);
        assert_eq!(next(&mut reader).await.unwrap(), line);
    }

    #[tokio::test]
    async fn unterminated_line_at_eof_is_not_returned_but_stays_buffered() {
        let mut reader = LineReader::new(Chunks::new(&[b"NOOP\r\nQUI"]), 512);
        assert_eq!(next(&mut reader).await.unwrap(), b"NOOP");
        assert!(reader.read_line().await.unwrap().is_none());
        assert_eq!(reader.buffered(), b"QUI");
    }

    #[tokio::test]
    async fn eof_inside_an_over_long_line_ends_cleanly() {
        let long = vec![b'z'; 3000];
        let mut reader = LineReader::new(Chunks::new(&[&long]), 100);
        assert!(reader.read_line().await.unwrap().is_none());
        assert!(reader.buffered().is_empty());
    }

    #[tokio::test]
    async fn bytes_pipelined_after_starttls_are_visible_and_handed_back() {
        // RFC 3207 §4.2: an attacker appends a command after STARTTLS in the same packet.
        let stream = Chunks::new(&[b"STARTTLS\r\nRCPT TO:<evil@x>\r\n"]);
        let mut reader = LineReader::new(stream, 512);
        assert_eq!(next(&mut reader).await.unwrap(), b"STARTTLS");
        assert_eq!(reader.buffered(), b"RCPT TO:<evil@x>\r\n");
        let (_stream, leftover) = reader.into_inner();
        assert_eq!(leftover, b"RCPT TO:<evil@x>\r\n");
    }

    #[tokio::test]
    async fn buffer_shrinks_back_after_a_long_line() {
        let long = vec![b'b'; 900];
        let stream = Chunks::new(&[&long, b"\r\n", b"NOOP\r\n"]);
        let mut reader = LineReader::new(stream, 1000);
        assert_eq!(reader.buffer_capacity(), 512);
        assert_eq!(next(&mut reader).await.unwrap(), long);
        assert!(reader.buffer_capacity() > 512);
        assert_eq!(next(&mut reader).await.unwrap(), b"NOOP");
        assert_eq!(reader.buffer_capacity(), 512);
    }

    #[tokio::test]
    async fn raising_the_limit_admits_longer_lines() {
        let long = vec![b'd'; 700];
        let mut input = long.clone();
        input.extend_from_slice(b"\r\n");
        input.extend_from_slice(&input.clone());
        let mut reader = LineReader::new(Chunks::new(&[&input]), 512);
        assert_eq!(reader.read_line().await.unwrap(), Some(Line::TooLong));
        reader.set_max_line(1000);
        assert_eq!(next(&mut reader).await.unwrap(), long);
    }
}
