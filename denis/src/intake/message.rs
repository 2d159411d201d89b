//! Stored messages as the grader reads them (SPEC §4): from POP3 wire form back to the mail the
//! student sent, the few headers classification and the checks need, and the mailbox form
//! `git am` gets. Pure: the caller reads the bytes.

use std::borrow::Cow;

use journal::MessageId;
use mail_parser::MessageParser;

/// A stored message, un-dot-stuffed, with the headers the grader looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its id.
    pub id: MessageId,
    /// The message as the client sent it: dot-stuffing and the final `.` line removed, line
    /// ends `\n` (what `git format-patch` wrote before `git send-email` sent it as CRLF).
    pub content: Vec<u8>,
    /// The decoded `Subject`, if any.
    pub subject: Option<String>,
    /// The stored message `In-Reply-To` names, if it names one of this server's messages.
    pub in_reply_to: Option<MessageId>,
}

impl StoredMessage {
    /// Reads message `id` from its wire form; `host` is the course domain, the only one whose
    /// message ids can name a stored message.
    pub fn parse(id: MessageId, wire: &[u8], host: &str) -> StoredMessage {
        let content = unstuff(wire);
        let (subject, in_reply_to) = match MessageParser::default().parse_headers(&content) {
            Some(parsed) => {
                let replied = parsed
                    .in_reply_to()
                    .as_text_list()
                    .unwrap_or(&[])
                    .iter()
                    .find_map(|raw| local_message_id(raw, host));
                (parsed.subject().map(str::to_string), replied)
            }
            None => (None, None),
        };
        StoredMessage {
            id,
            content,
            subject,
            in_reply_to,
        }
    }

    /// The body (after the first empty line), lossily decoded: the checks look for ASCII
    /// markers (`diff --git`, `Signed-off-by:`) and quote lines back to the student.
    pub fn body(&self) -> Cow<'_, str> {
        let body = split_body(&self.content);
        String::from_utf8_lossy(body)
    }
}

/// The bytes after the header's terminating empty line (empty if there is none).
fn split_body(content: &[u8]) -> &[u8] {
    if content.starts_with(b"\n") {
        return &content[1..];
    }
    content
        .windows(2)
        .position(|w| w == b"\n\n")
        .map_or(&[][..], |pos| &content[pos + 2..])
}

/// A message id of this server (`<30-hex@host>`, already without brackets from the parser).
fn local_message_id(raw: &str, host: &str) -> Option<MessageId> {
    let raw = raw.trim().trim_start_matches('<').trim_end_matches('>');
    let (local, domain) = raw.rsplit_once('@')?;
    if !domain.eq_ignore_ascii_case(host) {
        return None;
    }
    MessageId::parse(local).ok()
}

/// POP3 wire form back to the message: drops the terminating `.` line, removes the dot-stuffing
/// (RFC 5321 §4.5.2: a leading `.` was doubled) and turns CRLF into LF.
pub fn unstuff(wire: &[u8]) -> Vec<u8> {
    let wire = wire.strip_suffix(b".\r\n").unwrap_or(wire);
    let mut out = Vec::with_capacity(wire.len());
    for line in wire.split_inclusive(|&b| b == b'\n') {
        let line = line.strip_prefix(b".").unwrap_or(line);
        match line.strip_suffix(b"\r\n") {
            Some(text) => {
                out.extend_from_slice(text);
                out.push(b'\n');
            }
            None => out.extend_from_slice(line),
        }
    }
    out
}

/// The message as a one-mail mailbox for `git am`, with its `From:` replaced by `author`.
///
/// The stored `From:` is the server's bare `<user@HOST>` (the client's own is kept as
/// `X-Original-From`, which anyone can forge). The commit author must be the authenticated
/// sender, and with a name: the account's full name. Every other byte is kept.
pub fn mailbox_for_am(content: &[u8], author: &str) -> Vec<u8> {
    let header_end = if content.starts_with(b"\n") {
        0
    } else {
        content
            .windows(2)
            .position(|w| w == b"\n\n")
            .map_or(content.len(), |pos| pos + 1)
    };
    let (header, rest) = content.split_at(header_end);
    let mut out = Vec::with_capacity(content.len() + author.len() + 8);
    out.extend_from_slice(format!("From: {author}\n").as_bytes());
    let mut in_from = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continuation {
            in_from = line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"from:");
        }
        if !in_from {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u16) -> MessageId {
        journal::IdGenerator::new()
            .next_submission()
            .message(n)
            .unwrap()
    }

    #[test]
    fn unstuffing_restores_the_sent_message() {
        let wire = b"Subject: x\r\n\r\n..leading dot\r\nplain\r\n.\r\n";
        assert_eq!(unstuff(wire), b"Subject: x\n\n.leading dot\nplain\n");
    }

    #[test]
    fn unstuffing_keeps_a_line_that_is_not_crlf_terminated() {
        assert_eq!(unstuff(b"a\r\nb"), b"a\nb");
    }

    #[test]
    fn in_reply_to_names_a_stored_message_only_on_this_host() {
        let replied = id(1);
        let wire = format!(
            "Subject: =?UTF-8?q?Re=3A_caf=C3=A9?=\r\nIn-Reply-To: <{replied}@Course.Example>\r\n\r\nhi\r\n.\r\n"
        );
        let m = StoredMessage::parse(id(2), wire.as_bytes(), "course.example");
        assert_eq!(m.in_reply_to, Some(replied));
        assert_eq!(m.subject.as_deref(), Some("Re: café"));
        let m = StoredMessage::parse(id(2), wire.as_bytes(), "elsewhere.example");
        assert_eq!(m.in_reply_to, None);
        let wire = "In-Reply-To: <not-an-id@course.example>\r\n\r\n.\r\n";
        let m = StoredMessage::parse(id(2), wire.as_bytes(), "course.example");
        assert_eq!(m.in_reply_to, None);
    }

    #[test]
    fn body_starts_after_the_empty_line() {
        let m = StoredMessage::parse(id(1), b"A: b\r\n\r\nline\r\n.\r\n", "h");
        assert_eq!(m.body(), "line\n");
        let m = StoredMessage::parse(id(1), b"A: b\r\n.\r\n", "h");
        assert_eq!(m.body(), "");
    }

    #[test]
    fn mailbox_replaces_every_from_header_including_folded_lines() {
        let content =
            b"Received: by x\n  folded\nFrom: <alice@h>\n  more\nSubject: s\n\nFrom: body stays\n";
        let out = mailbox_for_am(content, "Alice A <alice@h>");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "From: Alice A <alice@h>\nReceived: by x\n  folded\nSubject: s\n\nFrom: body stays\n"
        );
    }
}
