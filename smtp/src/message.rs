//! The stored form of a message (SPEC §4): the server's own header fields on top, then the
//! client's message with its `Message-ID`, `From` and `To` renamed `X-Original-...`, then the
//! POP3 terminator. Pure.
//!
//! The server's fields, in this order:
//! `Received` (RFC 5321 §4.4, with RFC 3848's ESMTPA/ESMTPSA), `Message-ID: <id@HOST>`,
//! `From: <user@HOST>`, `To: <rcpt@HOST>, ...` (every recipient) and
//! `X-Coursemail-Submission: <submission-id>`. Everything of the client's is kept byte for byte
//! except the renamed field names.

use std::fmt::Write as _;
use std::net::IpAddr;

use journal::{MessageId, SubmissionId, Username};
use time::OffsetDateTime;

use crate::data::Content;

/// The header that names a message's submission. Renamed when a client sends it too, so that
/// denis can trust the one on top.
pub const SUBMISSION_FIELD: &str = "X-Coursemail-Submission";
/// Prefix given to the client's own fields that the server replaces.
pub const ORIGINAL_PREFIX: &[u8] = b"X-Original-";
/// Client fields renamed with [`ORIGINAL_PREFIX`] (compared case-insensitively).
const REPLACED_FIELDS: [&str; 4] = ["Message-ID", "From", "To", SUBMISSION_FIELD];

/// Everything about a message that is not its text.
#[derive(Debug, Clone)]
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
    rename_replaced_fields(header, &mut wire);
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
    let _ = write!(h, "From: <{}@{host}>\r\n", e.user);
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

/// Copies `header` (wire form, CRLF lines) into `out`, prefixing the names of the fields the
/// server replaces. Every occurrence is renamed; continuation lines belong to their field and
/// are copied unchanged, as is everything else.
pub fn rename_replaced_fields(header: &[u8], out: &mut Vec<u8>) {
    for line in header.split_inclusive(|&b| b == b'\n') {
        let replaced = crate::data::field_name(line).is_some_and(|name| {
            REPLACED_FIELDS
                .iter()
                .any(|f| name.eq_ignore_ascii_case(f.as_bytes()))
        });
        if replaced {
            // A stuffed `.From:` is `From:` to every reader; the prefix needs no stuffing.
            out.extend_from_slice(ORIGINAL_PREFIX);
            out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        } else {
            out.extend_from_slice(line);
        }
    }
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

    fn renamed(header: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        rename_replaced_fields(header, &mut out);
        out
    }

    #[test]
    fn message_id_from_and_to_are_renamed_whatever_their_case() {
        assert_eq!(
            renamed(b"message-id: <a@b>\r\nFROM: Alice <a@b>\r\nTo: x@y\r\nSubject: hi\r\n\r\n"),
            b"X-Original-message-id: <a@b>\r\nX-Original-FROM: Alice <a@b>\r\nX-Original-To: x@y\r\nSubject: hi\r\n\r\n"
        );
    }

    #[test]
    fn every_occurrence_is_renamed_and_folded_lines_follow_their_field() {
        let header = b"To: a@b,\r\n c@d\r\nCc: e@f\r\nTo: g@h\r\n\r\n";
        assert_eq!(
            renamed(header),
            b"X-Original-To: a@b,\r\n c@d\r\nCc: e@f\r\nX-Original-To: g@h\r\n\r\n"
        );
    }

    #[test]
    fn similar_names_and_other_fields_are_untouched() {
        let header = b"Tox: 1\r\nFrom-X: 2\r\nIn-Reply-To: <a@b>\r\nReply-To: c@d\r\nSubject: From: x\r\n\r\n";
        assert_eq!(renamed(header), header);
    }

    #[test]
    fn a_field_sent_without_its_stuffing_dot_is_still_renamed() {
        // `.From:` arrives un-stuffed as `From:` at every POP3 reader.
        assert_eq!(
            renamed(b".From: <prof@x>\r\n.Message-ID: <a@x>\r\n..Other: y\r\n"),
            b"X-Original-From: <prof@x>\r\nX-Original-Message-ID: <a@x>\r\n..Other: y\r\n"
        );
    }

    #[test]
    fn a_forged_submission_field_is_renamed() {
        assert_eq!(
            renamed(b"x-coursemail-submission: 0000\r\n\r\n"),
            b"X-Original-x-coursemail-submission: 0000\r\n\r\n"
        );
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
             From: <alice@course.example>\r\n\
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
