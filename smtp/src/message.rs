//! The stored form of a message (SPEC §4): the server's own header fields on top, then the
//! client's header as [`crate::header`] rewrites it, then the body byte for byte, then the POP3
//! terminator. Pure.
//!
//! The server's fields, in this order:
//! `Received` (RFC 5321 §4.4, with RFC 3848's ESMTPA/ESMTPSA), `Message-ID: <id@HOST>`,
//! `From: Full Name <user@HOST>`, `To: <rcpt@HOST>, ...` (every recipient) and
//! `X-Coursemail-Submission: <submission-id>`.

use std::fmt::Write as _;
use std::net::IpAddr;

use journal::{MessageId, SubmissionId, Username};
use time::OffsetDateTime;

use crate::data::Content;

pub use crate::header::{ORIGINAL_PREFIX, SUBMISSION_FIELD};

/// Everything about a message that is not its text.
#[derive(Clone)]
pub struct Envelope<'a> {
    /// The course's mail domain and the server's name.
    pub hostname: &'a str,
    /// What the client gave in EHLO.
    pub helo: &'a str,
    /// The client's address.
    pub peer: IpAddr,
    /// The session used TLS.
    pub tls: bool,
    /// The session's submission id.
    pub submission: SubmissionId,
    /// This message's id.
    pub message: MessageId,
    /// The authenticated sender.
    pub user: &'a Username,
    /// Their full name, shown in the server's `From:`.
    pub full_name: &'a str,
    /// The server id a client Message-ID was stored under, for `In-Reply-To` and
    /// `References` (a message of this session, or of any stored message).
    pub resolve: &'a dyn Fn(&str) -> Option<MessageId>,
    /// Local parts of the recipients, in RCPT order.
    pub recipients: &'a [String],
    /// When the message was received.
    pub date: OffsetDateTime,
}

/// A message in stored (POP3 wire) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Everything, ending in `.\r\n`.
    pub wire: Vec<u8>,
    /// Bytes up to and including the blank line after the header.
    pub header_len: u64,
}

/// Builds the stored form of `content`.
pub fn build(envelope: &Envelope<'_>, content: &Content) -> Stored {
    let mut wire = server_header(envelope).into_bytes();
    let (header, body) = content.bytes.split_at(content.header_len);
    crate::header::rewrite(header, envelope.hostname, envelope.resolve, &mut wire);
    let header_len = wire.len() as u64;
    wire.extend_from_slice(body);
    wire.extend_from_slice(b".\r\n");
    Stored { wire, header_len }
}

fn server_header(e: &Envelope<'_>) -> String {
    let host = e.hostname;
    // RFC 3848: ESMTPA is authenticated, ESMTPSA authenticated over TLS.
    let with = if e.tls { "ESMTPSA" } else { "ESMTPA" };
    let mut h = String::with_capacity(256 + 40 * e.recipients.len());
    let _ = write!(
        h,
        "Received: from {} ({})\r\n\tby {host} (coursemail) with {with} id {};\r\n\t{}\r\n",
        e.helo,
        e.peer,
        e.submission,
        rfc5322_date(e.date)
    );
    let _ = write!(h, "Message-ID: <{}@{host}>\r\n", e.message);
    let _ = write!(
        h,
        "From: {}\r\n",
        mailbox(e.full_name, &format!("{}@{host}", e.user))
    );
    // One recipient per line: a hundred addresses on one line would pass RFC 5322's 998-octet
    // limit.
    h.push_str("To:");
    for (i, rcpt) in e.recipients.iter().enumerate() {
        let sep = if i + 1 < e.recipients.len() { "," } else { "" };
        let fold = if i == 0 { " " } else { "\r\n " };
        let _ = write!(h, "{fold}<{rcpt}@{host}>{sep}");
    }
    h.push_str("\r\n");
    let _ = write!(h, "{SUBMISSION_FIELD}: {}\r\n", e.submission);
    h
}

/// `Full Name <address>` as an RFC 5322 mailbox: the name bare when it is atoms and spaces,
/// quoted when it has other ASCII (`"Liddell, Alice"`), and as RFC 2047 encoded words when it is
/// not ASCII; just `<address>` without a name.
pub fn mailbox(name: &str, address: &str) -> String {
    let name = name.trim();
    if name.is_empty() || name.chars().any(char::is_control) {
        return format!("<{address}>");
    }
    let atom = |c: char| c.is_ascii_alphanumeric() || c == ' ' || "!#$%&'*+-/=?^_`{|}~".contains(c);
    if name.chars().all(atom) {
        format!("{name} <{address}>")
    } else if name.is_ascii() {
        let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\" <{address}>")
    } else {
        format!("{} <{address}>", encoded_words(name))
    }
}

/// `text` as RFC 2047 `=?UTF-8?B?...?=` words of at most 75 characters, split between
/// characters, separated by folding whitespace.
fn encoded_words(text: &str) -> String {
    use base64::Engine as _;
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        // 45 bytes encode to 60 characters, plus 12 of `=?UTF-8?B?` and `?=`: 72.
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    words.push(chunk);
    words
        .iter()
        .map(|w| {
            let b64 = base64::engine::general_purpose::STANDARD.encode(w.as_bytes());
            format!("=?UTF-8?B?{b64}?=")
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// `Tue, 1 Jul 2003 10:52:37 +0000` (RFC 5322 §3.3), always in UTC.
pub fn rfc5322_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[usize::from(t.weekday().number_days_from_monday())],
        t.day(),
        MONTHS[usize::from(u8::from(t.month()) - 1)],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use journal::IdGenerator;

    #[test]
    fn the_from_mailbox_quotes_or_encodes_the_full_name() {
        assert_eq!(mailbox("Alice Anders", "a@x"), "Alice Anders <a@x>");
        assert_eq!(mailbox("Liddell, Alice", "a@x"), "\"Liddell, Alice\" <a@x>");
        assert_eq!(mailbox("A \"B\" C", "a@x"), "\"A \\\"B\\\" C\" <a@x>");
        assert_eq!(mailbox("", "a@x"), "<a@x>");
        assert_eq!(mailbox("Jürgen", "j@x"), "=?UTF-8?B?SsO8cmdlbg==?= <j@x>");
        let long = mailbox(&"é".repeat(40), "e@x");
        assert!(long.lines().all(|l| l.trim_end().len() <= 78), "{long}");
    }

    #[test]
    fn stored_form_is_server_header_then_original_bytes_then_terminator() {
        let sub = IdGenerator::new().next_submission();
        let id = sub.message(1).unwrap();
        let user = Username::parse("alice").unwrap();
        let rcpts = vec!["hw1".to_string(), "list".to_string()];
        let envelope = Envelope {
            hostname: "course.example",
            helo: "laptop",
            peer: "192.0.2.7".parse().unwrap(),
            tls: true,
            submission: sub,
            message: id,
            user: &user,
            full_name: "Alice Anders",
            resolve: &|_| None,
            recipients: &rcpts,
            date: OffsetDateTime::from_unix_timestamp(1_057_056_757).unwrap(),
        };
        let body = b"..dotted \xff\r\n";
        let mut bytes = b"Subject: s\r\nMessage-ID: <x@y>\r\n\r\n".to_vec();
        bytes.extend_from_slice(body);
        let content = Content {
            header_len: bytes.len() - body.len(),
            bytes,
        };
        let stored = build(&envelope, &content);
        let expected_header = format!(
            "Received: from laptop (192.0.2.7)\r\n\tby course.example (coursemail) with ESMTPSA id {sub};\r\n\
             \tTue, 1 Jul 2003 10:52:37 +0000\r\n\
             Message-ID: <{id}@course.example>\r\n\
             From: Alice Anders <alice@course.example>\r\n\
             To: <hw1@course.example>,\r\n <list@course.example>\r\n\
             X-Coursemail-Submission: {sub}\r\n\
             Subject: s\r\nX-Original-Message-ID: <x@y>\r\n\r\n"
        );
        let mut expected = expected_header.clone().into_bytes();
        expected.extend_from_slice(body);
        expected.extend_from_slice(b".\r\n");
        assert_eq!(
            String::from_utf8_lossy(&stored.wire),
            String::from_utf8_lossy(&expected)
        );
        assert_eq!(stored.wire, expected);
        assert_eq!(stored.header_len, expected_header.len() as u64);
        assert_eq!(journal::header_len(&stored.wire), Some(stored.header_len));
    }

    #[test]
    fn plain_session_is_esmtpa() {
        let sub = IdGenerator::new().next_submission();
        let user = Username::parse("bob").unwrap();
        let rcpts = vec!["list".to_string()];
        let envelope = Envelope {
            hostname: "h",
            helo: "c",
            peer: "::1".parse().unwrap(),
            tls: false,
            submission: sub,
            message: sub.message(1).unwrap(),
            user: &user,
            full_name: "",
            resolve: &|_| None,
            recipients: &rcpts,
            date: OffsetDateTime::UNIX_EPOCH,
        };
        let header = server_header(&envelope);
        assert!(header.contains("with ESMTPA id"), "{header}");
        assert!(
            header.contains("Thu, 1 Jan 1970 00:00:00 +0000"),
            "{header}"
        );
        assert!(header.contains("To: <list@h>\r\n"), "{header}");
    }
}
