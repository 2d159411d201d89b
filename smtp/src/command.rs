//! Parsing one SMTP command line (RFC 5321 §4.1, RFC 4954 AUTH, RFC 3207 STARTTLS, RFC 1870
//! SIZE, RFC 6152 8BITMIME) into a [`Command`]. Pure: no I/O, so every malformed input is a unit
//! test away, and each error knows its own reply code ([`ParseError::reply`]).

use std::fmt;

use crate::reply::Reply;

/// One client command, with its arguments validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `EHLO domain`.
    Ehlo(String),
    /// `HELO domain`.
    Helo(String),
    /// `AUTH mechanism [initial-response]`.
    Auth {
        /// SASL mechanism, upper-cased.
        mechanism: String,
        /// Base64 initial response (`=` means empty).
        initial: Option<String>,
    },
    /// `MAIL FROM:<reverse-path> [parameters]`.
    Mail {
        /// The sender.
        from: ReversePath,
        /// `SIZE=` and `BODY=`.
        params: MailParams,
    },
    /// `RCPT TO:<forward-path>`.
    Rcpt(Address),
    /// `DATA`.
    Data,
    /// `RSET`.
    Rset,
    /// `NOOP [anything]`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `STARTTLS`.
    StartTls,
    /// `VRFY anything`: answered 252 without looking anything up (RFC 5321 §3.5.3), so it
    /// cannot be used to find out who exists.
    Vrfy,
    /// `HELP [topic]`.
    Help,
}

impl Command {
    /// The command's keyword, for messages like "MAIL is not allowed before AUTH".
    pub fn name(&self) -> &'static str {
        match self {
            Command::Ehlo(_) => "EHLO",
            Command::Helo(_) => "HELO",
            Command::Auth { .. } => "AUTH",
            Command::Mail { .. } => "MAIL",
            Command::Rcpt(_) => "RCPT",
            Command::Data => "DATA",
            Command::Rset => "RSET",
            Command::Noop => "NOOP",
            Command::Quit => "QUIT",
            Command::StartTls => "STARTTLS",
            Command::Vrfy => "VRFY",
            Command::Help => "HELP",
        }
    }
}

/// A mailbox `local@domain` as the client wrote it (source routes dropped, RFC 5321 §4.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// The local part, as sent (a quoted local part keeps its quotes).
    pub local: String,
    /// The domain, as sent.
    pub domain: String,
}

impl Address {
    /// Whether the domain is `host`; domains compare case-insensitively (RFC 5321 §2.4).
    pub fn in_domain(&self, host: &str) -> bool {
        self.domain.eq_ignore_ascii_case(host)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// The sender of `MAIL FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReversePath {
    /// `<>`, the null sender of bounces.
    Null,
    /// A mailbox.
    Address(Address),
}

/// `BODY=` (RFC 6152).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyType {
    /// `BODY=7BIT`, or no parameter.
    #[default]
    SevenBit,
    /// `BODY=8BITMIME`.
    EightBitMime,
}

/// Parameters of `MAIL FROM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MailParams {
    /// `SIZE=n`: the client's estimate of the message size (RFC 1870).
    pub size: Option<u64>,
    /// `BODY=`.
    pub body: BodyType,
}

/// Why a line is not a valid command. The message is sent to the client after the code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Empty line.
    #[error("empty command line")]
    Empty,
    /// Control characters or bytes outside ASCII.
    #[error("command line is not printable ASCII")]
    Garbage,
    /// A keyword we do not know.
    #[error("unknown command {0:?}")]
    Unknown(String),
    /// A known command this server does not offer.
    #[error("{0} is not implemented")]
    NotImplemented(&'static str),
    /// Wrong shape; the text is the usage.
    #[error("syntax: {0}")]
    Syntax(&'static str),
    /// The `MAIL FROM` address is malformed.
    #[error("bad sender address: {0}")]
    BadSender(String),
    /// The `RCPT TO` address is malformed.
    #[error("bad recipient address: {0}")]
    BadRecipient(String),
    /// A parameter has an invalid value.
    #[error("{0}")]
    BadParameter(String),
    /// A parameter this server does not support.
    #[error("parameter {0} is not supported")]
    UnsupportedParameter(String),
}

impl ParseError {
    /// The reply this error is answered with (RFC 5321 §4.2.2, RFC 3463).
    pub fn reply(&self) -> Reply {
        match self {
            ParseError::Empty | ParseError::Garbage => Reply::new(500, "5.5.2"),
            ParseError::Unknown(_) => Reply::new(500, "5.5.1"),
            ParseError::NotImplemented(_) => Reply::new(502, "5.5.1"),
            ParseError::Syntax(_) => Reply::new(501, "5.5.2"),
            ParseError::BadSender(_) => Reply::new(501, "5.1.7"),
            ParseError::BadRecipient(_) => Reply::new(501, "5.1.3"),
            ParseError::BadParameter(_) => Reply::new(501, "5.5.4"),
            ParseError::UnsupportedParameter(_) => Reply::new(555, "5.5.4"),
        }
    }
}

const MAIL_USAGE: &str = "MAIL FROM:<user@domain> [SIZE=n] [BODY=7BIT|8BITMIME]";
const RCPT_USAGE: &str = "RCPT TO:<name@domain>";

/// Parses one command line (without its line ending).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    if line
        .iter()
        .any(|&b| !(b == b'\t' || (0x20..0x7f).contains(&b)))
    {
        return Err(ParseError::Garbage);
    }
    // Only printable ASCII is left, so this cannot fail.
    let line = std::str::from_utf8(line).map_err(|_| ParseError::Garbage)?;
    let line = line.trim_end();
    let (verb, rest) = match line.split_once([' ', '\t']) {
        Some((verb, rest)) => (verb, rest.trim()),
        None => (line, ""),
    };
    if verb.is_empty() {
        return Err(ParseError::Empty);
    }
    let no_args = |command: Command, usage: &'static str| {
        if rest.is_empty() {
            Ok(command)
        } else {
            Err(ParseError::Syntax(usage))
        }
    };
    match verb.to_ascii_uppercase().as_str() {
        "EHLO" => Ok(Command::Ehlo(client_name(rest, "EHLO domain")?)),
        "HELO" => Ok(Command::Helo(client_name(rest, "HELO domain")?)),
        "AUTH" => parse_auth(rest),
        "MAIL" => parse_mail(rest),
        "RCPT" => parse_rcpt(rest),
        "DATA" => no_args(Command::Data, "DATA"),
        "RSET" => no_args(Command::Rset, "RSET"),
        "QUIT" => no_args(Command::Quit, "QUIT"),
        "STARTTLS" => no_args(Command::StartTls, "STARTTLS"),
        "NOOP" => Ok(Command::Noop),
        "HELP" => Ok(Command::Help),
        "VRFY" if rest.is_empty() => Err(ParseError::Syntax("VRFY name")),
        "VRFY" => Ok(Command::Vrfy),
        "EXPN" => Err(ParseError::NotImplemented("EXPN")),
        "BDAT" => Err(ParseError::NotImplemented("BDAT")),
        "ETRN" => Err(ParseError::NotImplemented("ETRN")),
        "TURN" => Err(ParseError::NotImplemented("TURN")),
        _ => Err(ParseError::Unknown(truncate(verb))),
    }
}

/// Keeps an unknown keyword short enough to quote in a reply.
fn truncate(text: &str) -> String {
    text.chars().take(32).collect()
}

/// The EHLO/HELO argument: a domain or address literal. It ends up in the `Received:` header,
/// so only characters that cannot break out of it are accepted (RFC 5321 §4.1.1.1 allows less
/// still, but real clients send host names with `_`).
fn client_name(arg: &str, usage: &'static str) -> Result<String, ParseError> {
    let valid = !arg.is_empty()
        && arg.len() <= 255
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b));
    if valid {
        Ok(arg.to_string())
    } else {
        Err(ParseError::Syntax(usage))
    }
}

fn parse_auth(rest: &str) -> Result<Command, ParseError> {
    let mut parts = rest.split_ascii_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(mechanism), initial, None) => Ok(Command::Auth {
            mechanism: mechanism.to_ascii_uppercase(),
            initial: initial.map(str::to_string),
        }),
        _ => Err(ParseError::Syntax("AUTH mechanism [initial-response]")),
    }
}

/// Strips a case-insensitive `keyword` (`FROM:`, `TO:`) and the spaces some clients put after it.
fn after_keyword<'a>(rest: &'a str, keyword: &str) -> Option<&'a str> {
    let head = rest.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword)
        .then(|| rest[keyword.len()..].trim_start())
}

fn parse_mail(rest: &str) -> Result<Command, ParseError> {
    let path = after_keyword(rest, "FROM:").ok_or(ParseError::Syntax(MAIL_USAGE))?;
    let (inner, params) = split_path(path).ok_or(ParseError::Syntax(MAIL_USAGE))?;
    let from = if inner.is_empty() {
        ReversePath::Null
    } else {
        ReversePath::Address(parse_mailbox(inner).map_err(ParseError::BadSender)?)
    };
    Ok(Command::Mail {
        from,
        params: parse_mail_params(params)?,
    })
}

fn parse_rcpt(rest: &str) -> Result<Command, ParseError> {
    let path = after_keyword(rest, "TO:").ok_or(ParseError::Syntax(RCPT_USAGE))?;
    let (inner, params) = split_path(path).ok_or(ParseError::Syntax(RCPT_USAGE))?;
    if let Some(param) = params.split_ascii_whitespace().next() {
        // DSN (NOTIFY=, ORCPT=) is not advertised, so no RCPT parameter is valid.
        return Err(ParseError::UnsupportedParameter(truncate(param)));
    }
    if inner.is_empty() {
        return Err(ParseError::BadRecipient("empty address".into()));
    }
    Ok(Command::Rcpt(
        parse_mailbox(inner).map_err(ParseError::BadRecipient)?,
    ))
}

/// Splits `<path> params` into the text between the brackets and the rest. A `>` inside a
/// quoted local part does not end the path.
fn split_path(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('<')?;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => {
                let params = &inner[i + 1..];
                // Parameters must be separated from the path by a space.
                if !params.is_empty() && !params.starts_with(' ') {
                    return None;
                }
                return Some((&inner[..i], params.trim()));
            }
            _ => {}
        }
    }
    None
}

/// Parses `[@route,@route:]local@domain` (RFC 5321 §4.1.2).
fn parse_mailbox(text: &str) -> Result<Address, String> {
    let mailbox = if text.starts_with('@') {
        // A source route: obsolete, to be accepted and ignored (RFC 5321 §4.1.2, §C).
        match text.split_once(':') {
            Some((_, mailbox)) => mailbox,
            None => return Err("source route without ':'".into()),
        }
    } else {
        text
    };
    let (local, domain) = mailbox
        .rsplit_once('@')
        .ok_or_else(|| format!("{mailbox:?} has no @domain"))?;
    if !valid_local_part(local) {
        return Err(format!("{local:?} is not a valid local part"));
    }
    if !valid_domain(domain) {
        return Err(format!("{domain:?} is not a valid domain"));
    }
    Ok(Address {
        local: local.to_string(),
        domain: domain.to_string(),
    })
}

/// A dot-string of atext (RFC 5321 §4.1.2) or a quoted string; at most 64 octets (§4.5.3.1.1).
fn valid_local_part(local: &str) -> bool {
    if local.is_empty() || local.len() > 64 {
        return false;
    }
    if let Some(inner) = local
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    {
        return !inner.is_empty();
    }
    let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b);
    local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.bytes().all(atext))
}

/// A host name of letter-digit-hyphen labels, or an address literal in brackets.
fn valid_domain(domain: &str) -> bool {
    if domain.is_empty() || domain.len() > 255 {
        return false;
    }
    if let Some(literal) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        return !literal.is_empty()
            && literal
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".:".contains(&b));
    }
    domain.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

fn parse_mail_params(text: &str) -> Result<MailParams, ParseError> {
    let mut params = MailParams::default();
    let (mut seen_size, mut seen_body) = (false, false);
    for param in text.split_ascii_whitespace() {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        let duplicate = || ParseError::BadParameter(format!("{key} given twice"));
        match key.to_ascii_uppercase().as_str() {
            "SIZE" => {
                if std::mem::replace(&mut seen_size, true) {
                    return Err(duplicate());
                }
                let size = value.parse::<u64>().map_err(|_| {
                    ParseError::BadParameter(format!(
                        "SIZE={} is not a size in bytes",
                        truncate(value)
                    ))
                })?;
                params.size = Some(size);
            }
            "BODY" => {
                if std::mem::replace(&mut seen_body, true) {
                    return Err(duplicate());
                }
                params.body = match value.to_ascii_uppercase().as_str() {
                    "7BIT" => BodyType::SevenBit,
                    "8BITMIME" => BodyType::EightBitMime,
                    _ => {
                        return Err(ParseError::UnsupportedParameter(format!(
                            "BODY={}; use 7BIT or 8BITMIME",
                            truncate(value)
                        )));
                    }
                };
            }
            // RFC 4954 §5: the AUTH= parameter may be sent by any client and is not needed
            // here (the sender is always the authenticated user), so it is accepted and ignored.
            "AUTH" if !value.is_empty() => {}
            _ => return Err(ParseError::UnsupportedParameter(truncate(param))),
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(local: &str, domain: &str) -> Address {
        Address {
            local: local.into(),
            domain: domain.into(),
        }
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(
            parse(b"ehlo client.example").unwrap(),
            Command::Ehlo("client.example".into())
        );
        assert_eq!(parse(b"QuIt").unwrap(), Command::Quit);
        assert_eq!(parse(b"starttls").unwrap(), Command::StartTls);
        assert_eq!(parse(b"NOOP anything at all").unwrap(), Command::Noop);
    }

    #[test]
    fn ehlo_accepts_host_names_and_address_literals_only() {
        for name in ["[127.0.0.1]", "[IPv6:::1]", "my_laptop.local", "localhost"] {
            assert_eq!(
                parse(format!("EHLO {name}").as_bytes()).unwrap(),
                Command::Ehlo(name.into())
            );
        }
        for bad in ["EHLO", "EHLO a b", "HELO x(y)", "EHLO <x>"] {
            assert!(
                matches!(parse(bad.as_bytes()), Err(ParseError::Syntax(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn mail_from_with_size_body_and_auth_parameters() {
        let cmd = parse(b"MAIL FROM:<alice@localhost> SIZE=4096 BODY=8BITMIME AUTH=<>").unwrap();
        assert_eq!(
            cmd,
            Command::Mail {
                from: ReversePath::Address(addr("alice", "localhost")),
                params: MailParams {
                    size: Some(4096),
                    body: BodyType::EightBitMime
                },
            }
        );
        // Lenient about the space some clients put after the colon; the null sender parses.
        assert_eq!(
            parse(b"mail from: <>").unwrap(),
            Command::Mail {
                from: ReversePath::Null,
                params: MailParams::default()
            }
        );
    }

    #[test]
    fn source_route_is_dropped() {
        assert_eq!(
            parse(b"RCPT TO:<@relay.example,@other:hw1@localhost>").unwrap(),
            Command::Rcpt(addr("hw1", "localhost"))
        );
    }

    #[test]
    fn quoted_local_part_may_contain_brackets_and_at_signs() {
        assert_eq!(
            parse(b"RCPT TO:<\"a>b@c\"@localhost>").unwrap(),
            Command::Rcpt(addr("\"a>b@c\"", "localhost"))
        );
    }

    #[test]
    fn malformed_paths_are_syntax_errors_with_precise_codes() {
        let cases: &[(&[u8], Reply)] = &[
            (b"MAIL alice@localhost", Reply::new(501, "5.5.2")),
            (b"MAIL FROM:alice@localhost", Reply::new(501, "5.5.2")),
            (b"MAIL FROM:<alice@localhost", Reply::new(501, "5.5.2")),
            (
                b"MAIL FROM:<alice@localhost>SIZE=1",
                Reply::new(501, "5.5.2"),
            ),
            (b"MAIL FROM:<alice>", Reply::new(501, "5.1.7")),
            (b"MAIL FROM:<a..b@localhost>", Reply::new(501, "5.1.7")),
            (b"RCPT TO:<>", Reply::new(501, "5.1.3")),
            (b"RCPT TO:<hw1@-bad-.example>", Reply::new(501, "5.1.3")),
            (
                b"RCPT TO:<hw1@localhost> NOTIFY=NEVER",
                Reply::new(555, "5.5.4"),
            ),
            (b"RCPT <hw1@localhost>", Reply::new(501, "5.5.2")),
        ];
        for (line, reply) in cases {
            let err = parse(line).unwrap_err();
            assert_eq!(
                err.reply(),
                *reply,
                "{}: {err}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn mail_parameters_are_checked() {
        let err = |line: &[u8]| parse(line).unwrap_err();
        assert_eq!(
            err(b"MAIL FROM:<a@b> SIZE=big").reply(),
            Reply::new(501, "5.5.4")
        );
        assert_eq!(
            err(b"MAIL FROM:<a@b> SIZE=1 SIZE=2").reply(),
            Reply::new(501, "5.5.4")
        );
        assert_eq!(
            err(b"MAIL FROM:<a@b> BODY=BINARYMIME").reply(),
            Reply::new(555, "5.5.4")
        );
        assert_eq!(
            err(b"MAIL FROM:<a@b> SMTPUTF8").reply(),
            Reply::new(555, "5.5.4")
        );
        assert_eq!(
            err(b"MAIL FROM:<a@b> RET=FULL").reply(),
            Reply::new(555, "5.5.4")
        );
    }

    #[test]
    fn auth_with_and_without_initial_response() {
        assert_eq!(
            parse(b"AUTH plain AGFsaWNlAHB3").unwrap(),
            Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some("AGFsaWNlAHB3".into())
            }
        );
        assert_eq!(
            parse(b"AUTH LOGIN").unwrap(),
            Command::Auth {
                mechanism: "LOGIN".into(),
                initial: None
            }
        );
        assert!(matches!(parse(b"AUTH"), Err(ParseError::Syntax(_))));
        assert!(matches!(
            parse(b"AUTH PLAIN a b"),
            Err(ParseError::Syntax(_))
        ));
    }

    #[test]
    fn unknown_unimplemented_and_garbage_lines() {
        assert_eq!(
            parse(b"FOO bar").unwrap_err().reply(),
            Reply::new(500, "5.5.1")
        );
        assert_eq!(
            parse(b"EXPN list").unwrap_err().reply(),
            Reply::new(502, "5.5.1")
        );
        assert_eq!(parse(b"").unwrap_err(), ParseError::Empty);
        assert_eq!(parse(b"   ").unwrap_err(), ParseError::Empty);
        assert_eq!(parse(b"MAIL\x00FROM").unwrap_err(), ParseError::Garbage);
        assert_eq!(parse(b"\xff\xfe").unwrap_err(), ParseError::Garbage);
        assert_eq!(
            parse(b"DATA now").unwrap_err().reply(),
            Reply::new(501, "5.5.2")
        );
        assert!(matches!(parse(b"VRFY"), Err(ParseError::Syntax(_))));
        assert_eq!(parse(b"VRFY alice").unwrap(), Command::Vrfy);
    }

    #[test]
    fn domains_compare_case_insensitively() {
        assert!(addr("alice", "LocalHost").in_domain("localhost"));
        assert!(!addr("alice", "localhost.evil").in_domain("localhost"));
    }
}
