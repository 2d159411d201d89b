//! Building SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 2034, RFC 3463) into
//! the session's output buffer. Replies are queued, not written, so a pipelined group of
//! commands (RFC 2920) is answered in one write.

use std::fmt::{self, Write as _};

/// One reply: the three-digit code and the enhanced status code that goes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// RFC 5321 reply code, e.g. 250.
    pub code: u16,
    /// RFC 3463 enhanced status code, e.g. `2.0.0`.
    pub status: &'static str,
}

impl Reply {
    /// A reply with its code and enhanced status code.
    pub const fn new(code: u16, status: &'static str) -> Self {
        Reply { code, status }
    }
}

/// The output buffer of one session.
#[derive(Debug, Default)]
pub struct Replies {
    buf: Vec<u8>,
}

/// Past this many bytes the buffer is released after a flush, so an idle session that once had
/// a long reply queued does not keep the memory.
const KEEP_CAPACITY: usize = 4096;

impl Replies {
    /// Queues `CODE STATUS text`: every reply after the greeting and EHLO carries an enhanced
    /// status code (RFC 2034 §3 exempts exactly those two).
    pub fn reply(&mut self, reply: Reply, text: impl fmt::Display) {
        self.line(reply.code, ' ', Some(reply.status), text);
    }

    /// Queues `CODE text` without an enhanced code: the greeting, the EHLO/HELO answer's first
    /// line (RFC 2034 §3), and the intermediate 354 and 334 replies, which are not final.
    pub fn bare(&mut self, code: u16, text: impl fmt::Display) {
        self.line(code, ' ', None, text);
    }

    /// Queues a multi-line reply (`250-first`, ..., `250 last`), as EHLO answers.
    pub fn multi<S: AsRef<str>>(&mut self, code: u16, lines: &[S]) {
        for (i, text) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            self.line(code, sep, None, text.as_ref());
        }
    }

    fn line(&mut self, code: u16, sep: char, status: Option<&str>, text: impl fmt::Display) {
        let mut s = String::with_capacity(64);
        let _ = write!(s, "{code}{sep}");
        if let Some(status) = status {
            s.push_str(status);
            s.push(' ');
        }
        let _ = write!(s, "{text}");
        // Text can quote client input or errors; never let it break the reply structure.
        s.retain(|c| c != '\r' && c != '\n');
        self.buf.extend_from_slice(s.trim_end().as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Bytes waiting to be written.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Forgets what was written, releasing a large buffer.
    pub fn clear(&mut self) {
        self.buf.clear();
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_carry_enhanced_codes_and_queue_in_order() {
        let mut r = Replies::default();
        r.bare(220, "localhost ESMTP coursemail");
        r.reply(Reply::new(250, "2.1.0"), "sender ok");
        r.reply(Reply::new(535, "5.7.8"), "authentication failed");
        assert_eq!(
            r.pending(),
            b"220 localhost ESMTP coursemail\r\n250 2.1.0 sender ok\r\n535 5.7.8 authentication failed\r\n"
        );
    }

    #[test]
    fn multi_line_reply_uses_dashes_until_the_last_line() {
        let mut r = Replies::default();
        r.multi(250, &["localhost", "PIPELINING", "8BITMIME"]);
        assert_eq!(
            r.pending(),
            b"250-localhost\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
        );
    }

    #[test]
    fn line_breaks_in_text_cannot_inject_a_reply() {
        let mut r = Replies::default();
        r.reply(Reply::new(501, "5.5.2"), "bad\r\n250 2.0.0 injected");
        assert_eq!(r.pending(), b"501 5.5.2 bad250 2.0.0 injected\r\n");
    }

    #[test]
    fn clear_releases_large_buffers() {
        let mut r = Replies::default();
        r.bare(250, "x".repeat(100_000));
        r.clear();
        assert!(r.pending().is_empty());
        assert!(r.buf.capacity() <= KEEP_CAPACITY);
    }
}
