//! Building POP3 responses (RFC 1939 §3, RFC 2449 response codes) into the session's output
//! buffer. Replies are queued, not written, so pipelined commands are answered in one write.

use std::fmt::Write as _;

/// RFC 2449 extended response codes used by this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Credentials were wrong (RFC 3206 `[AUTH]`).
    Auth,
    /// A temporary problem on the server's side (RFC 3206 `[SYS/TEMP]`).
    SysTemp,
    /// A permanent problem on the server's side (RFC 3206 `[SYS/PERM]`).
    SysPerm,
}

impl Code {
    fn as_str(self) -> &'static str {
        match self {
            Code::Auth => "[AUTH] ",
            Code::SysTemp => "[SYS/TEMP] ",
            Code::SysPerm => "[SYS/PERM] ",
        }
    }
}

/// The output buffer of one session.
#[derive(Debug, Default)]
pub struct Replies {
    buf: Vec<u8>,
}

/// Past this many bytes the buffer is released after a flush, so an idle session that once sent a
/// large message does not keep the memory.
const KEEP_CAPACITY: usize = 4096;

impl Replies {
    /// Queues `+OK text`.
    pub fn ok(&mut self, text: impl std::fmt::Display) {
        self.line("+OK", None, text);
    }

    /// Queues `-ERR [code] text`.
    pub fn err(&mut self, code: Option<Code>, text: impl std::fmt::Display) {
        self.line("-ERR", code, text);
    }

    /// Queues a SASL continuation (`+ challenge`).
    pub fn challenge(&mut self, base64: &str) {
        self.buf.extend_from_slice(b"+ ");
        self.buf.extend_from_slice(base64.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    fn line(&mut self, status: &str, code: Option<Code>, text: impl std::fmt::Display) {
        let mut s = String::with_capacity(64);
        s.push_str(status);
        s.push(' ');
        if let Some(code) = code {
            s.push_str(code.as_str());
        }
        let _ = write!(s, "{text}");
        // Text can come from errors; never let it break the line structure.
        s.retain(|c| c != '\r' && c != '\n');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Queues one line of a multi-line response. Lines built by the server never start with `.`
    /// (numbers, ids, capability names), so no dot-stuffing is needed here.
    pub fn item(&mut self, text: impl std::fmt::Display) {
        let _ = write!(self, "{text}");
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Ends a multi-line response.
    pub fn end(&mut self) {
        self.buf.extend_from_slice(b".\r\n");
    }

    /// Queues raw bytes that are already in wire form (stored messages).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
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

impl std::fmt::Write for Replies {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.buf.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_carry_response_codes() {
        let mut r = Replies::default();
        r.ok("2 320");
        r.err(Some(Code::Auth), "invalid username or password");
        r.err(None, "no such message");
        assert_eq!(
            r.pending(),
            b"+OK 2 320\r\n-ERR [AUTH] invalid username or password\r\n-ERR no such message\r\n"
        );
    }

    #[test]
    fn line_breaks_in_text_cannot_inject_a_reply() {
        let mut r = Replies::default();
        r.err(None, "bad\r\n+OK injected");
        assert_eq!(r.pending(), b"-ERR bad+OK injected\r\n");
    }

    #[test]
    fn multi_line_response_ends_with_a_dot() {
        let mut r = Replies::default();
        r.ok("capabilities");
        r.item("TOP");
        r.end();
        assert_eq!(r.pending(), b"+OK capabilities\r\nTOP\r\n.\r\n");
    }

    #[test]
    fn clear_releases_large_buffers() {
        let mut r = Replies::default();
        r.raw(&vec![b'x'; 100_000]);
        r.clear();
        assert!(r.pending().is_empty());
        assert!(r.buf.capacity() <= KEEP_CAPACITY);
    }
}
