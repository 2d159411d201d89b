//! A minimal RFC 4180 CSV writer, pure: fields quoted when they need it, CRLF line ends.
//!
//! The gradebook is opened in spreadsheets, which run a cell starting with `=`, `+`, `-`, `@`
//! as a formula; [`text_cell`] defuses that for text that came from users (names, ids).

use std::borrow::Cow;

/// One field as it appears in a CSV line: quoted, with `"` doubled, when it holds a comma, a
/// quote, a line break or surrounding spaces (which some readers would trim).
pub fn field(value: &str) -> Cow<'_, str> {
    let needs_quotes =
        value.contains([',', '"', '\r', '\n']) || value.starts_with(' ') || value.ends_with(' ');
    if needs_quotes {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(value)
    }
}

/// One CSV record (its fields joined by commas, ending in CRLF).
pub fn line<S: AsRef<str>>(fields: &[S]) -> String {
    let mut out = fields
        .iter()
        .map(|f| field(f.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    out.push_str("\r\n");
    out
}

/// Free text for a cell: a leading `'` keeps a spreadsheet from running it as a formula
/// (CSV injection), the mitigation OWASP recommends.
pub fn text_cell(value: &str) -> Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_fields_stay_as_they_are() {
        assert_eq!(line(&["alice", "hw1", "87.5", ""]), "alice,hw1,87.5,\r\n");
    }

    #[test]
    fn commas_quotes_breaks_and_edge_spaces_are_quoted() {
        assert_eq!(field("Liddell, Alice"), "\"Liddell, Alice\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field(" padded"), "\" padded\"");
        assert_eq!(line(&["a\"b", "c"]), "\"a\"\"b\",c\r\n");
    }

    #[test]
    fn text_that_a_spreadsheet_would_run_is_defused() {
        assert_eq!(text_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(text_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(text_cell("Alice"), "Alice");
    }
}
