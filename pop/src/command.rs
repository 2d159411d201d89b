//! Parsing one POP3 command line (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH) into a
//! [`Command`]. Pure: no I/O, so every malformed input is a unit test away.

use std::fmt;

/// One client command, with its arguments validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `CAPA`: list capabilities.
    Capa,
    /// `USER name`.
    User(String),
    /// `PASS secret` (the rest of the line: passwords may contain spaces).
    Pass(String),
    /// `AUTH [mechanism [initial-response]]`; no mechanism asks for the list.
    Auth {
        /// SASL mechanism, upper-cased.
        mechanism: Option<String>,
        /// Base64 initial response (`=` means empty).
        initial: Option<String>,
    },
    /// `STLS`: switch to TLS.
    Stls,
    /// `STAT`.
    Stat,
    /// `LIST [n]`.
    List(Option<u32>),
    /// `UIDL [n]`.
    Uidl(Option<u32>),
    /// `RETR n`.
    Retr(u32),
    /// `TOP n lines`.
    Top(u32, u64),
    /// `DELE n`.
    Dele(u32),
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
}

/// Why a line is not a valid command; the message is sent to the client after `-ERR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Empty line.
    Empty,
    /// Keyword we do not know.
    Unknown(String),
    /// A required argument is missing.
    Missing(&'static str),
    /// An argument is not a positive decimal number.
    NotANumber(String),
    /// More arguments than the command takes.
    TooManyArguments(&'static str),
    /// The line is not UTF-8 / contains control characters.
    Garbage,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("empty command"),
            ParseError::Unknown(k) => write!(f, "unknown command {k:?}"),
            ParseError::Missing(what) => write!(f, "missing argument: {what}"),
            ParseError::NotANumber(a) => write!(f, "{a:?} is not a message number"),
            ParseError::TooManyArguments(usage) => write!(f, "too many arguments; usage: {usage}"),
            ParseError::Garbage => f.write_str("command is not printable text"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses one command line (without its line ending).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::Garbage)?;
    if line.chars().any(|c| c.is_control() && c != '\t') {
        return Err(ParseError::Garbage);
    }
    // PASS takes the rest of the line verbatim (a password may end in a space); everything else
    // tolerates trailing blanks.
    let untrimmed = line;
    let line = line.trim_end_matches([' ', '\t']);
    let (keyword, rest) = match line.split_once(' ') {
        Some((k, r)) => (k, r),
        None => (line, ""),
    };
    if keyword.is_empty() {
        return Err(ParseError::Empty);
    }
    let mut args = rest.split(' ').filter(|a| !a.is_empty());
    let upper = keyword.to_ascii_uppercase();
    let command = match upper.as_str() {
        "CAPA" => none(args, "CAPA", Command::Capa)?,
        "STLS" => none(args, "STLS", Command::Stls)?,
        "STAT" => none(args, "STAT", Command::Stat)?,
        "RSET" => none(args, "RSET", Command::Rset)?,
        "NOOP" => none(args, "NOOP", Command::Noop)?,
        "QUIT" => none(args, "QUIT", Command::Quit)?,
        "USER" => {
            let name = args.next().ok_or(ParseError::Missing("user name"))?;
            none(args, "USER name", Command::User(name.to_string()))?
        }
        // RFC 1939 leaves the PASS argument as the rest of the line, spaces included.
        "PASS" if !rest.is_empty() => Command::Pass(untrimmed[keyword.len() + 1..].to_string()),
        "PASS" => return Err(ParseError::Missing("password")),
        "AUTH" => {
            let mechanism = args.next().map(str::to_ascii_uppercase);
            let initial = args.next().map(str::to_string);
            none(
                args,
                "AUTH mechanism [initial-response]",
                Command::Auth { mechanism, initial },
            )?
        }
        "LIST" => {
            let n = args.next().map(number).transpose()?;
            none(args, "LIST [msg]", Command::List(n))?
        }
        "UIDL" => {
            let n = args.next().map(number).transpose()?;
            none(args, "UIDL [msg]", Command::Uidl(n))?
        }
        "RETR" => {
            let n = number(args.next().ok_or(ParseError::Missing("message number"))?)?;
            none(args, "RETR msg", Command::Retr(n))?
        }
        "DELE" => {
            let n = number(args.next().ok_or(ParseError::Missing("message number"))?)?;
            none(args, "DELE msg", Command::Dele(n))?
        }
        "TOP" => {
            let n = number(args.next().ok_or(ParseError::Missing("message number"))?)?;
            let lines = args.next().ok_or(ParseError::Missing("number of lines"))?;
            let lines =
                parse_decimal(lines).ok_or_else(|| ParseError::NotANumber(lines.to_string()))?;
            none(args, "TOP msg lines", Command::Top(n, lines))?
        }
        _ => return Err(ParseError::Unknown(printable(keyword))),
    };
    Ok(command)
}

/// Succeeds with `command` only if no argument is left.
fn none<'a>(
    mut args: impl Iterator<Item = &'a str>,
    usage: &'static str,
    command: Command,
) -> Result<Command, ParseError> {
    match args.next() {
        Some(_) => Err(ParseError::TooManyArguments(usage)),
        None => Ok(command),
    }
}

/// A message number: decimal digits only, at least 1 (numbers are checked against the maildrop
/// later; anything too large to be one is simply not a message number).
fn number(arg: &str) -> Result<u32, ParseError> {
    match parse_decimal(arg) {
        Some(n) if n >= 1 && n <= u64::from(u32::MAX) => Ok(n as u32),
        _ => Err(ParseError::NotANumber(printable(arg))),
    }
}

/// Decimal digits only (no sign, no spaces); numbers beyond u64 saturate (TOP takes any count).
fn parse_decimal(arg: &str) -> Option<u64> {
    if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(arg.parse().unwrap_or(u64::MAX))
}

/// Echoes client text back safely and briefly.
fn printable(s: &str) -> String {
    s.chars()
        .take(40)
        .collect::<String>()
        .escape_debug()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(parse(b"stat"), Ok(Command::Stat));
        assert_eq!(parse(b"QuIt"), Ok(Command::Quit));
        assert_eq!(parse(b"capa"), Ok(Command::Capa));
    }

    #[test]
    fn optional_and_required_numbers() {
        assert_eq!(parse(b"LIST"), Ok(Command::List(None)));
        assert_eq!(parse(b"LIST 7"), Ok(Command::List(Some(7))));
        assert_eq!(parse(b"UIDL 1"), Ok(Command::Uidl(Some(1))));
        assert_eq!(parse(b"RETR 12"), Ok(Command::Retr(12)));
        assert_eq!(parse(b"TOP 3 0"), Ok(Command::Top(3, 0)));
        assert_eq!(parse(b"TOP 3 100000"), Ok(Command::Top(3, 100_000)));
        assert_eq!(
            parse(b"TOP 3 123456789012345678901234567890"),
            Ok(Command::Top(3, u64::MAX))
        );
        assert_eq!(parse(b"DELE 2"), Ok(Command::Dele(2)));
    }

    #[test]
    fn bad_numbers_are_named() {
        for bad in [
            "RETR 0",
            "RETR -1",
            "RETR +1",
            "RETR x",
            "RETR 99999999999",
            "LIST 1.5",
        ] {
            assert!(
                matches!(parse(bad.as_bytes()), Err(ParseError::NotANumber(_))),
                "{bad}"
            );
        }
        assert!(matches!(parse(b"TOP 1 -2"), Err(ParseError::NotANumber(_))));
        assert_eq!(parse(b"RETR"), Err(ParseError::Missing("message number")));
        assert_eq!(parse(b"TOP 1"), Err(ParseError::Missing("number of lines")));
    }

    #[test]
    fn extra_arguments_are_refused() {
        assert!(matches!(
            parse(b"STAT 1"),
            Err(ParseError::TooManyArguments(_))
        ));
        assert!(matches!(
            parse(b"RETR 1 2"),
            Err(ParseError::TooManyArguments(_))
        ));
        assert!(matches!(
            parse(b"USER a b"),
            Err(ParseError::TooManyArguments(_))
        ));
    }

    #[test]
    fn password_keeps_its_spaces() {
        assert_eq!(parse(b"PASS a b  c"), Ok(Command::Pass("a b  c".into())));
        assert_eq!(
            parse(b"PASS ends in space "),
            Ok(Command::Pass("ends in space ".into()))
        );
        assert_eq!(parse(b"PASS"), Err(ParseError::Missing("password")));
    }

    #[test]
    fn auth_forms() {
        assert_eq!(
            parse(b"AUTH"),
            Ok(Command::Auth {
                mechanism: None,
                initial: None
            })
        );
        assert_eq!(
            parse(b"AUTH plain"),
            Ok(Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial: None
            })
        );
        assert_eq!(
            parse(b"AUTH PLAIN AGJvYgBzZWNyZXQ="),
            Ok(Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial: Some("AGJvYgBzZWNyZXQ=".into())
            })
        );
    }

    #[test]
    fn garbage_and_unknown_commands() {
        assert_eq!(parse(b""), Err(ParseError::Empty));
        assert_eq!(parse(b"\xff\xfe"), Err(ParseError::Garbage));
        assert_eq!(parse(b"RETR\x001"), Err(ParseError::Garbage));
        assert!(matches!(parse(b"APOP a b"), Err(ParseError::Unknown(_))));
        assert!(matches!(parse(b"HELO"), Err(ParseError::Unknown(_))));
    }

    #[test]
    fn trailing_spaces_are_tolerated() {
        assert_eq!(parse(b"STAT "), Ok(Command::Stat));
        assert_eq!(parse(b"LIST 1 "), Ok(Command::List(Some(1))));
    }
}
