//! The message text after `DATA` (RFC 5321 §4.1.1.4): collecting lines until the lone `.`,
//! normalising line ends, and checking size, line length and the header block. Pure: the session
//! feeds it lines from its reader and asks for the result at the end.
//!
//! # What ends the data, and SMTP smuggling
//! Only `<CRLF>.<CRLF>` ends the data: a `.` line counts only when it and the line before it
//! both ended in CRLF (the `DATA` command line counts as the line before the first). A `.` line
//! next to a bare LF (`<LF>.<LF>`, `<LF>.<CRLF>`, `<CRLF>.<LF>`) is content. Servers that
//! disagree on this can be made to see a second, forged message inside one ("SMTP smuggling",
//! 2023); here such a line stays inside the message, and since line ends are normalised to CRLF
//! it is stored dot-stuffed as `..`, so that RETR does not end the message there either.
//!
//! # What is stored
//! The bytes as received, with bare LF line ends turned into CRLF and nothing else changed:
//! dot-stuffing is kept (SMTP and POP3 stuff dots the same way), 8-bit bytes are not touched and
//! long lines are never split. A line longer than the limit fails the whole message instead.
//!
//! # Errors and staying in sync
//! Every error is reported only after the terminating `.` (the client is still sending), and
//! once one is found nothing more is kept in memory: the rest of the data is read and dropped.

use net::LineEnding;

use crate::reply::Reply;

/// Limits on one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataLimits {
    /// Largest message accepted, counted as stored (CRLF line ends, before the server's own
    /// header fields).
    pub max_message_bytes: usize,
    /// Longest line accepted, its CRLF included.
    pub max_line_bytes: usize,
}

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// Over [`DataLimits::max_message_bytes`].
    #[error("message exceeds the size limit of {limit} bytes")]
    TooBig {
        /// The limit.
        limit: usize,
    },
    /// A line over [`DataLimits::max_line_bytes`].
    #[error(
        "line {line} is longer than the limit of {limit} bytes; lines are never split, so wrap \
         the text or send it encoded (quoted-printable or base64)"
    )]
    LineTooLong {
        /// Line number in the message, from 1.
        line: usize,
        /// The limit.
        limit: usize,
    },
    /// A header line with no `:`.
    #[error(
        "header line {line} has no colon; header fields are `Name: value`, and a blank line \
         must separate the header from the body"
    )]
    HeaderWithoutColon {
        /// Line number, from 1.
        line: usize,
    },
    /// A header field name with characters outside printable ASCII, or an empty one.
    #[error(
        "header line {line} has an invalid field name: names are printable ASCII without \
         spaces, followed by a colon"
    )]
    BadFieldName {
        /// Line number, from 1.
        line: usize,
    },
    /// A carriage return inside a header line, which some readers take as a line break.
    #[error("header line {line} contains a carriage return that does not end the line")]
    BareCarriageReturn {
        /// Line number, from 1.
        line: usize,
    },
    /// The message starts with a folded continuation line.
    #[error("the message starts with a continuation line (a line beginning with white space)")]
    ContinuationFirst,
    /// The data ended inside the header.
    #[error(
        "the message ended inside its header: a blank line must separate the header from the \
         body"
    )]
    NoBlankLine,
}

impl DataError {
    /// The reply after the terminating dot (RFC 3463: 5.3.4 size, 5.6.0 content).
    pub fn reply(&self) -> Reply {
        match self {
            DataError::TooBig { .. } => Reply::new(552, "5.3.4"),
            _ => Reply::new(550, "5.6.0"),
        }
    }
}

/// The client's message, ready to be stored behind the server's header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// Wire form: CRLF line ends, dot-stuffed as received, without the terminating `.` line.
    pub bytes: Vec<u8>,
    /// Bytes of the header up to and including the blank line that ends it.
    pub header_len: usize,
}

/// What the session does after feeding a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Read the next line.
    More,
    /// The terminating `.` was seen: call [`Collector::finish`].
    End,
}

/// Collects one message, line by line.
#[derive(Debug)]
pub struct Collector {
    limits: DataLimits,
    bytes: Vec<u8>,
    /// `None` while still in the header.
    header_len: Option<usize>,
    lines: usize,
    /// The previous line ended in CRLF (the DATA command line did).
    after_crlf: bool,
    error: Option<DataError>,
}

impl Collector {
    /// A collector for one message.
    pub fn new(limits: DataLimits) -> Self {
        Collector {
            limits,
            bytes: Vec::new(),
            header_len: None,
            lines: 0,
            after_crlf: true,
            error: None,
        }
    }

    /// Feeds one line (without its terminator) and how it was terminated.
    pub fn line(&mut self, line: &[u8], ending: LineEnding) -> Step {
        let crlf = ending == LineEnding::CrLf;
        if line == b"." && crlf && self.after_crlf {
            return Step::End;
        }
        self.after_crlf = crlf;
        self.lines += 1;
        if self.error.is_some() {
            return Step::More;
        }
        // A lone dot that did not end the data (see the module doc) is stuffed, so the stored
        // wire form keeps meaning what it meant.
        let line: &[u8] = if line == b"." { b".." } else { line };
        if let Err(e) = self.check_header(line) {
            return self.fail(e);
        }
        if self.bytes.len() + line.len() + 2 > self.limits.max_message_bytes {
            return self.fail(DataError::TooBig {
                limit: self.limits.max_message_bytes,
            });
        }
        self.bytes.extend_from_slice(line);
        self.bytes.extend_from_slice(b"\r\n");
        if self.header_len.is_none() && line.is_empty() {
            self.header_len = Some(self.bytes.len());
        }
        Step::More
    }

    /// Records that a line over the limit was read (and dropped by the reader).
    pub fn too_long(&mut self) {
        self.lines += 1;
        // The reader does not say how the dropped line ended; assuming CRLF keeps a client
        // that ends its data right after it in sync.
        self.after_crlf = true;
        if self.error.is_none() {
            self.fail(DataError::LineTooLong {
                line: self.lines,
                limit: self.limits.max_line_bytes,
            });
        }
    }

    /// The message, or why it was refused. Call after [`Step::End`].
    pub fn finish(self) -> Result<Content, DataError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let header_len = self.header_len.ok_or(DataError::NoBlankLine)?;
        Ok(Content {
            bytes: self.bytes,
            header_len,
        })
    }

    fn fail(&mut self, error: DataError) -> Step {
        self.error = Some(error);
        // Nothing more is stored, so free what was.
        self.bytes = Vec::new();
        Step::More
    }

    /// Checks a header line (RFC 5322 §2.2, §3.6.8): `name:` with a name of printable ASCII
    /// except `:`, or a continuation starting with white space.
    fn check_header(&self, line: &[u8]) -> Result<(), DataError> {
        if self.header_len.is_some() || line.is_empty() {
            return Ok(());
        }
        // A bare CR could split one field into two for a lenient reader: a smuggled From.
        if line.contains(&b'\r') {
            return Err(DataError::BareCarriageReturn { line: self.lines });
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return if self.lines == 1 {
                Err(DataError::ContinuationFirst)
            } else {
                Ok(())
            };
        }
        let Some(name) = field_name(line) else {
            return Err(DataError::HeaderWithoutColon { line: self.lines });
        };
        if name.is_empty() || !name.iter().all(|b| (33..=126).contains(b)) {
            return Err(DataError::BadFieldName { line: self.lines });
        }
        Ok(())
    }
}

/// The field name of a header line in wire form: what precedes the first `:` once the stuffing
/// dot is removed (a reader un-stuffs `.From:` into `From:`), or `None` without a colon. The
/// one place that decides what field a stored header line is.
pub fn field_name(line: &[u8]) -> Option<&[u8]> {
    let field = line.strip_prefix(b".").unwrap_or(line);
    field
        .iter()
        .position(|&b| b == b':')
        .map(|colon| &field[..colon])
}

#[cfg(test)]
mod tests {
    use super::*;
    use LineEnding::{CrLf, Lf};

    const LIMITS: DataLimits = DataLimits {
        max_message_bytes: 1000,
        max_line_bytes: 100,
    };

    /// Feeds `input` split into lines the way the line reader does, returning the outcome and
    /// how many input bytes were consumed up to and including the end of data.
    fn collect(limits: DataLimits, input: &[u8]) -> (Result<Content, DataError>, usize) {
        let mut c = Collector::new(limits);
        let mut pos = 0;
        while let Some(nl) = input[pos..].iter().position(|&b| b == b'\n') {
            let raw = &input[pos..pos + nl];
            pos += nl + 1;
            let (line, ending) = match raw.strip_suffix(b"\r") {
                Some(line) => (line, CrLf),
                None => (raw, Lf),
            };
            let step = if raw.len() + 1 > limits.max_line_bytes {
                c.too_long();
                Step::More
            } else {
                c.line(line, ending)
            };
            if step == Step::End {
                return (c.finish(), pos);
            }
        }
        panic!("no end of data in {:?}", String::from_utf8_lossy(input));
    }

    fn ok(input: &[u8]) -> Content {
        collect(LIMITS, input).0.unwrap()
    }

    #[test]
    fn message_is_kept_byte_for_byte_with_its_header_length() {
        let c = ok(b"Subject: hi\r\nFrom: a@b\r\n\r\nbody\r\n.\r\n");
        assert_eq!(c.bytes, b"Subject: hi\r\nFrom: a@b\r\n\r\nbody\r\n");
        assert_eq!(c.header_len, 26);
    }

    #[test]
    fn dot_stuffing_is_kept_as_received() {
        let c = ok(b"S: x\r\n\r\n..leading dot\r\n...\r\n.\r\n");
        assert_eq!(c.bytes, b"S: x\r\n\r\n..leading dot\r\n...\r\n");
    }

    #[test]
    fn bare_lf_line_ends_are_normalised_to_crlf() {
        let c = ok(b"S: x\n\nline one\nline two\r\n.\r\n");
        assert_eq!(c.bytes, b"S: x\r\n\r\nline one\r\nline two\r\n");
        assert_eq!(c.header_len, 8);
    }

    #[test]
    fn eight_bit_bytes_and_bare_cr_are_untouched() {
        let c = ok(b"S: \xc3\xa9t\xc3\xa9\r\n\r\n\xff\x80 caf\xc3\xa9\ra\r\n.\r\n");
        assert_eq!(
            c.bytes,
            b"S: \xc3\xa9t\xc3\xa9\r\n\r\n\xff\x80 caf\xc3\xa9\ra\r\n"
        );
    }

    #[test]
    fn smuggled_end_of_data_with_bare_lf_is_content() {
        // <LF>.<LF>, <CRLF>.<LF> and <LF>.<CRLF> must not end the data: what follows them
        // would otherwise be run as commands (a second, forged message).
        let input = b"S: x\r\n\r\nhello\n.\nMAIL FROM:<x@y>\r\n.\nRCPT\n.\r\nDATA\r\n.\r\nQUIT\r\n";
        let (result, used) = collect(LIMITS, input);
        let c = result.unwrap();
        assert_eq!(
            c.bytes,
            b"S: x\r\n\r\nhello\r\n..\r\nMAIL FROM:<x@y>\r\n..\r\nRCPT\r\n..\r\nDATA\r\n"
        );
        assert_eq!(&input[used..], b"QUIT\r\n");
    }

    #[test]
    fn message_over_the_size_limit_is_read_to_the_end_and_refused() {
        let limits = DataLimits {
            max_message_bytes: 30,
            max_line_bytes: 100,
        };
        let input = b"S: x\r\n\r\n0123456789\r\n0123456789\r\n0123456789\r\n.\r\nNOOP\r\n";
        let (result, used) = collect(limits, input);
        assert_eq!(result.unwrap_err(), DataError::TooBig { limit: 30 });
        assert_eq!(&input[used..], b"NOOP\r\n");
        assert_eq!(
            DataError::TooBig { limit: 30 }.reply(),
            Reply::new(552, "5.3.4")
        );
    }

    #[test]
    fn message_of_exactly_the_size_limit_is_accepted() {
        let limits = DataLimits {
            max_message_bytes: 20,
            max_line_bytes: 100,
        };
        assert_eq!(
            collect(limits, b"S: x\r\n\r\n0123456789\r\n.\r\n")
                .0
                .unwrap()
                .bytes
                .len(),
            20
        );
    }

    #[test]
    fn over_long_line_fails_the_message_with_its_line_number() {
        let mut input = b"S: x\r\n\r\nshort\r\n".to_vec();
        input.extend(vec![b'x'; 200]);
        input.extend_from_slice(b"\r\n.\r\n");
        let (result, _) = collect(LIMITS, &input);
        let err = result.unwrap_err();
        assert_eq!(
            err,
            DataError::LineTooLong {
                line: 4,
                limit: 100
            }
        );
        assert_eq!(err.reply(), Reply::new(550, "5.6.0"));
        assert!(err.to_string().contains("never split"));
    }

    #[test]
    fn header_line_without_colon_is_refused() {
        let (result, _) = collect(LIMITS, b"Subject: x\r\nno colon here\r\n\r\nbody\r\n.\r\n");
        assert_eq!(
            result.unwrap_err(),
            DataError::HeaderWithoutColon { line: 2 }
        );
    }

    #[test]
    fn field_names_must_be_printable_ascii() {
        for input in [
            &b"Sub ject: x\r\n\r\n.\r\n"[..],
            b": empty name\r\n\r\n.\r\n",
            b"Sub\xc3\xa9: x\r\n\r\n.\r\n",
        ] {
            let (result, _) = collect(LIMITS, input);
            assert_eq!(
                result.unwrap_err(),
                DataError::BadFieldName { line: 1 },
                "{input:?}"
            );
        }
    }

    #[test]
    fn folded_header_lines_are_accepted_but_not_first() {
        let c = ok(b"Subject: a\r\n  folded\r\n\tagain\r\n\r\nbody\r\n.\r\n");
        assert_eq!(c.header_len, 32);
        let (result, _) = collect(LIMITS, b" starts folded\r\n\r\n.\r\n");
        assert_eq!(result.unwrap_err(), DataError::ContinuationFirst);
    }

    #[test]
    fn message_ending_inside_its_header_is_refused() {
        for input in [&b"Subject: x\r\nFrom: y\r\n.\r\n"[..], b".\r\n"] {
            let (result, _) = collect(LIMITS, input);
            assert_eq!(result.unwrap_err(), DataError::NoBlankLine, "{input:?}");
        }
    }

    #[test]
    fn message_without_header_fields_is_accepted() {
        let c = ok(b"\r\njust a body\r\n.\r\n");
        assert_eq!(c.header_len, 2);
    }

    #[test]
    fn a_colon_in_the_body_is_not_a_header() {
        let c = ok(b"S: x\r\n\r\nno colon\r\nthen: colon\r\n.\r\n");
        assert_eq!(c.header_len, 8);
    }

    #[test]
    fn a_bare_carriage_return_in_the_header_is_refused() {
        let mut c = Collector::new(LIMITS);
        for line in [&b"Subject: x\rFrom: <prof@x>"[..], b"", b"body", b"."] {
            if let Step::End = c.line(line, CrLf) {
                break;
            }
        }
        assert!(matches!(
            c.finish(),
            Err(DataError::BareCarriageReturn { line: 1 })
        ));
    }
}
