//! Mail client settings: the `/setup` page and Thunderbird's autoconfig XML (SPEC §11).

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use crate::error::WebError;
use crate::session::CurrentUser;
use crate::state::{AppState, Site};
use crate::view::Nav;

/// The server settings a mail client needs, derived from the site (pure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// Server name.
    pub host: String,
    /// SMTP port and whether it is implicit TLS (`true`) or STARTTLS.
    pub smtp: Option<(u16, bool)>,
    /// POP3 port and whether it is implicit TLS (`true`) or STLS.
    pub pop: Option<(u16, bool)>,
}

impl MailSettings {
    /// Prefers implicit TLS (RFC 8314) and falls back to STARTTLS/STLS.
    pub fn of(site: &Site) -> MailSettings {
        let pick = |tls: Option<u16>, plain: Option<u16>| {
            tls.map(|p| (p, true)).or(plain.map(|p| (p, false)))
        };
        MailSettings {
            host: site.hostname.clone(),
            smtp: pick(site.smtps_port, site.submission_port),
            pop: pick(site.pop3s_port, site.pop3_port),
        }
    }
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    nav: Nav,
    user: String,
    /// The full name as a quoted gitconfig value.
    git_name: String,
    /// `Full Name <user@host>` as a quoted gitconfig value.
    git_from: String,
    /// The full name inside muttrc double quotes.
    mutt_name: String,
    host: String,
    smtp_port: u16,
    smtp_tls: bool,
    pop_port: u16,
    pop_tls: bool,
}

#[derive(Template)]
#[template(path = "autoconfig.xml")]
struct Autoconfig {
    host: String,
    smtp_port: u16,
    smtp_tls: bool,
    pop_port: u16,
    pop_tls: bool,
}

/// `name` as a double-quoted gitconfig value: a name with `"`, `\\`, `;` or `#` pasted bare
/// would change or cut the value.
fn gitconfig_quoted(name: &str) -> String {
    let mut out = String::from("\"");
    for c in name.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `name` for the inside of muttrc double quotes, where mutt would run a `` `command` `` and
/// expand `$variables`: each of those characters, `"` and `\\` is escaped with a backslash.
fn muttrc_escaped(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '`' | '$' | '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `GET /setup`.
pub async fn setup(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Html<String>, WebError> {
    let m = MailSettings::of(&state.0.site);
    let (smtp_port, smtp_tls) = m.smtp.unwrap_or((587, false));
    let (pop_port, pop_tls) = m.pop.unwrap_or((110, false));
    let page = SetupPage {
        nav: Nav::of(&user),
        user: user.username().to_string(),
        git_name: gitconfig_quoted(&user.session.user.full_name),
        git_from: gitconfig_quoted(&format!(
            "{} <{}@{}>",
            user.session.user.full_name,
            user.username(),
            m.host
        )),
        mutt_name: muttrc_escaped(&user.session.user.full_name),
        host: m.host,
        smtp_port,
        smtp_tls,
        pop_port,
        pop_tls,
    };
    Ok(Html(page.render()?))
}

/// `GET /.well-known/autoconfig/mail/config-v1.1.xml` and `/mail/config-v1.1.xml`: public, as
/// Thunderbird asks before anyone logs in.
pub async fn autoconfig(State(state): State<AppState>) -> Result<Response, WebError> {
    let m = MailSettings::of(&state.0.site);
    let (smtp_port, smtp_tls) = m.smtp.unwrap_or((587, false));
    let (pop_port, pop_tls) = m.pop.unwrap_or((110, false));
    let xml = Autoconfig {
        host: m.host,
        smtp_port,
        smtp_tls,
        pop_port,
        pop_tls,
    }
    .render()?;
    Ok((
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        xml,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_full_name_cannot_escape_the_pasted_settings() {
        let name = r#"Bob `curl x|sh` "$HOME" \ ; # end"#;
        assert_eq!(
            muttrc_escaped(name),
            r#"Bob \`curl x|sh\` \"\$HOME\" \\ ; # end"#
        );
        assert_eq!(
            gitconfig_quoted(name),
            r#""Bob `curl x|sh` \"$HOME\" \\ ; # end""#
        );
    }

    #[test]
    fn implicit_tls_is_preferred_and_starttls_is_the_fallback() {
        let mut site = Site::local("mail.example");
        assert_eq!(MailSettings::of(&site).smtp, Some((1465, true)));
        site.smtps_port = None;
        site.pop3s_port = None;
        let m = MailSettings::of(&site);
        assert_eq!(m.smtp, Some((1587, false)));
        assert_eq!(m.pop, Some((1110, false)));
    }
}
