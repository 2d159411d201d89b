//! The client's header, rewritten for storage (SPEC §4), pure: fields the server replaces or
//! that would let a client speak for someone else are kept under `X-Original-`, `Return-Path`
//! is dropped, and `In-Reply-To` / `References` that name a Message-ID the server rewrote are
//! pointed at the server's id, so threads survive the rewrite in every mail client.

use journal::MessageId;

use crate::data::field_name;

/// The header that names a message's submission. Renamed when a client sends it too, so that
/// denis can trust the one on top.
pub const SUBMISSION_FIELD: &str = "X-Coursemail-Submission";
/// Prefix given to the client's own fields that the server replaces.
pub const ORIGINAL_PREFIX: &[u8] = b"X-Original-";
/// Client fields renamed with [`ORIGINAL_PREFIX`] (compared case-insensitively): the server
/// writes its own `Message-ID`, `From` and `To`, and `Sender` and `Reply-To` would otherwise
/// let a student's message claim another sender or send replies elsewhere.
const REPLACED_FIELDS: [&str; 6] = [
    "Message-ID",
    "From",
    "To",
    "Sender",
    "Reply-To",
    SUBMISSION_FIELD,
];
/// Fields whose every variant is renamed (`Resent-From`, `Resent-Sender`, ...).
const REPLACED_PREFIX: &[u8] = b"Resent-";
/// Fields dropped: only the final delivery may write a return path (RFC 5321 §4.4).
const DROPPED_FIELDS: [&str; 1] = ["Return-Path"];
/// Fields whose message ids are pointed at the server's ids.
const THREAD_FIELDS: [&str; 2] = ["In-Reply-To", "References"];

/// What a field becomes.
enum Action {
    Keep,
    Rename,
    Drop,
    Thread,
}

fn action(name: &[u8]) -> Action {
    let is = |f: &str| name.eq_ignore_ascii_case(f.as_bytes());
    if REPLACED_FIELDS.iter().any(|f| is(f))
        || name
            .get(..REPLACED_PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(REPLACED_PREFIX))
    {
        Action::Rename
    } else if DROPPED_FIELDS.iter().any(|f| is(f)) {
        Action::Drop
    } else if THREAD_FIELDS.iter().any(|f| is(f)) {
        Action::Thread
    } else {
        Action::Keep
    }
}

/// The fields of `header` (wire form, CRLF lines), each with its continuation lines. A line
/// that is neither a field nor a continuation (the blank line) is a field of its own.
fn fields(header: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let mut lines = header.split_inclusive(|&b| b == b'\n').peekable();
    let mut at = 0;
    while let Some(line) = lines.next() {
        at += line.len();
        let continued = lines
            .peek()
            .is_some_and(|next| matches!(next.first(), Some(b' ' | b'\t')));
        if !continued {
            out.push(&header[start..at]);
            start = at;
        }
    }
    out
}

/// The message ids (without angle brackets) in a field's value, in order.
pub fn message_ids(field: &[u8]) -> Vec<String> {
    let value = match field.iter().position(|&b| b == b':') {
        Some(colon) => &field[colon + 1..],
        None => return Vec::new(),
    };
    let text = String::from_utf8_lossy(value);
    let mut ids = Vec::new();
    let mut rest = text.as_ref();
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else { break };
        let id = after[..close].trim();
        if !id.is_empty() && !id.contains(char::is_whitespace) {
            ids.push(id.to_string());
        }
        rest = &after[close + 1..];
    }
    ids
}

/// Every message id the client's `In-Reply-To` and `References` name: what
/// [`rewrite`]'s `resolve` will be asked about.
pub fn thread_ids(header: &[u8]) -> Vec<String> {
    fields(header)
        .into_iter()
        .filter(|f| field_name(f).is_some_and(|n| matches!(action(n), Action::Thread)))
        .flat_map(message_ids)
        .collect()
}

/// The client's own `Message-ID` (without angle brackets), if it sent one.
pub fn client_message_id(header: &[u8]) -> Option<String> {
    fields(header)
        .into_iter()
        .find(|f| field_name(f).is_some_and(|n| n.eq_ignore_ascii_case(b"Message-ID")))
        .and_then(|f| message_ids(f).into_iter().next())
}

/// The client id a stored message keeps as `X-Original-Message-ID` (without angle brackets).
pub fn original_message_id(header: &[u8]) -> Option<String> {
    fields(header)
        .into_iter()
        .find(|f| field_name(f).is_some_and(|n| n.eq_ignore_ascii_case(b"X-Original-Message-ID")))
        .and_then(|f| message_ids(f).into_iter().next())
}

/// Copies `header` into `out` as stored: replaced fields renamed, `Return-Path` dropped, and
/// `In-Reply-To` / `References` naming an id that `resolve` maps (a client id the server
/// rewrote) written anew with the server's `<id@host>`, the client's field kept under
/// `X-Original-`. Fields naming no such id are copied unchanged, as is everything else.
pub fn rewrite(
    header: &[u8],
    host: &str,
    resolve: &dyn Fn(&str) -> Option<MessageId>,
    out: &mut Vec<u8>,
) {
    for field in fields(header) {
        let Some(name) = field_name(field) else {
            out.extend_from_slice(field);
            continue;
        };
        // A stuffed `.From:` is `From:` to every reader; the prefix needs no stuffing.
        let unstuffed = field.strip_prefix(b".").unwrap_or(field);
        match action(name) {
            Action::Keep => out.extend_from_slice(field),
            Action::Drop => {}
            Action::Rename => {
                out.extend_from_slice(ORIGINAL_PREFIX);
                out.extend_from_slice(unstuffed);
            }
            Action::Thread => {
                let ids = message_ids(field);
                if !ids.iter().any(|id| resolve(id).is_some()) {
                    out.extend_from_slice(field);
                    continue;
                }
                out.extend_from_slice(name.strip_prefix(b".").unwrap_or(name));
                out.push(b':');
                // One id a line: a long References stays within RFC 5322's line limit.
                for (i, id) in ids.iter().enumerate() {
                    let fold: &[u8] = if i == 0 { b" " } else { b"\r\n " };
                    out.extend_from_slice(fold);
                    match resolve(id) {
                        Some(server) => {
                            out.extend_from_slice(format!("<{server}@{host}>").as_bytes())
                        }
                        None => out.extend_from_slice(format!("<{id}>").as_bytes()),
                    }
                }
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(ORIGINAL_PREFIX);
                out.extend_from_slice(unstuffed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use journal::IdGenerator;

    fn renamed(header: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        rewrite(header, "h", &|_| None, &mut out);
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
    fn similar_names_and_unknown_thread_ids_are_untouched() {
        let header = b"Tox: 1\r\nFrom-X: 2\r\nIn-Reply-To: <a@b>\r\nSubject: From: x\r\n\r\n";
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
    fn sender_reply_to_and_resent_fields_are_renamed_and_return_path_dropped() {
        assert_eq!(
            renamed(
                b"Sender: prof@x\r\nReply-To: bob@x\r\nResent-From: prof@x\r\nreturn-path: <p@x>\r\n\
                  Subject: s\r\n\r\n"
            ),
            b"X-Original-Sender: prof@x\r\nX-Original-Reply-To: bob@x\r\nX-Original-Resent-From: prof@x\r\n\
              Subject: s\r\n\r\n"
        );
    }

    #[test]
    fn thread_fields_point_at_the_server_ids_and_keep_the_clients() {
        let sub = IdGenerator::new().next_submission();
        let cover = sub.message(1).unwrap();
        let resolve = |id: &str| (id == "cover@laptop").then_some(cover);
        let header = b"In-Reply-To: <cover@laptop>\r\nReferences: <old@elsewhere>\r\n <cover@laptop>\r\n\r\n";
        let mut out = Vec::new();
        rewrite(header, "course.test", &resolve, &mut out);
        let expected = format!(
            "In-Reply-To: <{cover}@course.test>\r\nX-Original-In-Reply-To: <cover@laptop>\r\n\
             References: <old@elsewhere>\r\n <{cover}@course.test>\r\n\
             X-Original-References: <old@elsewhere>\r\n <cover@laptop>\r\n\r\n"
        );
        assert_eq!(String::from_utf8_lossy(&out), expected);
        assert_eq!(
            thread_ids(header),
            ["cover@laptop", "old@elsewhere", "cover@laptop"]
        );
        assert_eq!(
            client_message_id(b"Subject: x\r\nMessage-Id:\r\n <m1@laptop>\r\n\r\n").as_deref(),
            Some("m1@laptop")
        );
    }
}
