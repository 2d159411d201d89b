//! Building each service from the configuration: what `up` starts together and what
//! `coursemail smtp`, `coursemail pop`, `coursemail web`, `coursemail denis` (and the other single-service
//! commands) start alone. The grader is two services sharing one data root: the intake and
//! the deadline scheduler.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use accounts::{Accounts, Authenticator, Throttle};
use anyhow::{Context as _, Result, bail};
use denis::{DeadlineRunner, Intake, Scheduler};
use journal::session_log::SessionLog;
use journal::store::MailStore;
use journal::{IdGenerator, create_private_dir};
use net::{Limits, ListenerSpec, Security, TlsAcceptor};
use pop::deletions::DeletionStore;
use pop::{PopContext, PopServer};
use smtp::{SmtpContext, SmtpLimits, SmtpServer};
use web::{AppState, Site, WebServer};

use crate::context::Context;
use crate::credentials::AccountsCredentials;
use crate::recipients::CourseRecipients;
use crate::{schedule, times};

/// What every service of one process shares: the TLS acceptor and the login checker (one
/// throttle per process, so failures on POP3 slow down guesses on SMTP too).
pub struct Shared {
    /// TLS for implicit-TLS listeners and STARTTLS/STLS.
    pub tls: TlsAcceptor,
    /// Login checks.
    pub credentials: Arc<AccountsCredentials>,
}

impl Shared {
    /// Loads the certificate and opens the accounts database (read-only when `read_only`, as in a
    /// container that mounts accounts/ read-only).
    pub fn load(ctx: &Context, read_only: bool) -> Result<Self> {
        let tls_dir = ctx.root.tls_dir();
        // Whichever service starts first makes the pair; with both files present this writes
        // nothing, so a read-only tls/ mount is fine.
        let names = [
            ctx.config.server.public_host.as_str(),
            ctx.config.hostname.as_str(),
        ];
        net::ensure_certificate_for(&tls_dir, &names).with_context(|| {
            format!(
                "cannot prepare the TLS certificate in {}",
                tls_dir.display()
            )
        })?;
        let config = net::server_config(&tls_dir).with_context(|| {
            format!("cannot load the TLS certificate from {}", tls_dir.display())
        })?;
        let db = ctx.root.accounts_db();
        let accounts = if read_only {
            Accounts::open_read_only(&db)
        } else {
            Accounts::open(&db)
        }
        .with_context(|| format!("cannot open the accounts database {}", db.display()))?;
        let throttle = Throttle::new(ctx.config.auth.throttle());
        let authenticator = Authenticator::new(Arc::new(accounts), Arc::new(throttle));
        Ok(Self {
            tls: net::acceptor(config),
            credentials: Arc::new(AccountsCredentials(authenticator)),
        })
    }
}

/// Binds the SMTP listeners of the configuration; creates `mail/` and `logs/` if missing (the
/// only directories smtp writes).
pub fn smtp(ctx: &Context, shared: &Shared) -> Result<SmtpServer> {
    let c = &ctx.config.smtp;
    let mut specs = Vec::new();
    for (addr, security, option) in [
        (&c.tls_listen, Security::ImplicitTls, "[smtp] tls_listen"),
        (
            &c.starttls_listen,
            Security::Plain,
            "[smtp] starttls_listen",
        ),
    ] {
        if let Some(addr) = listen_addr(addr, option)? {
            specs.push(ListenerSpec {
                addr,
                security,
                trusted: c.trusted,
            });
        }
    }
    if c.idle_timeout_secs < 300 {
        tracing::warn!(
            secs = c.idle_timeout_secs,
            "SMTP idle timeout below RFC 5321's five minutes"
        );
    }
    let (mail, logs) = (ctx.root.mail_dir(), ctx.root.logs_dir());
    for dir in [&mail, &logs] {
        create_private_dir(dir)?;
    }
    let accounts = shared.credentials.0.accounts().clone();
    let recipients = CourseRecipients::new(
        accounts,
        ctx.config.course.addresses()?,
        ctx.root.course_db(),
    );
    let smtp_ctx = SmtpContext {
        hostname: ctx.config.hostname.clone(),
        mail: MailStore::new(mail),
        logs: SessionLog::new(logs),
        credentials: shared.credentials.clone(),
        recipients: Arc::new(recipients),
        // One generator per process: ids stay unique and ordered across its sessions.
        ids: Arc::new(IdGenerator::new()),
        limits: SmtpLimits {
            max_message_bytes: c.max_message_bytes,
            max_recipients: c.max_recipients,
            max_messages_per_session: c.max_messages_per_session,
            max_line_bytes: c.max_line_bytes,
            max_submission_bytes: c.max_submission_bytes,
            idle_timeout: Duration::from_secs(c.idle_timeout_secs),
        },
    };
    let limits = Limits {
        max_connections: c.max_connections,
        max_per_address: c.max_per_address,
        ..Limits::default()
    };
    SmtpServer::bind(&specs, Some(shared.tls.clone()), limits, smtp_ctx)
        .context("cannot start the SMTP server")
}

/// Binds the POP3 listeners of the configuration.
pub fn pop(ctx: &Context, shared: &Shared) -> Result<PopServer> {
    let c = &ctx.config.pop;
    let mut specs = Vec::new();
    for (addr, security, option) in [
        (&c.tls_listen, Security::ImplicitTls, "[pop] tls_listen"),
        (&c.stls_listen, Security::Plain, "[pop] stls_listen"),
    ] {
        if let Some(addr) = listen_addr(addr, option)? {
            specs.push(ListenerSpec {
                addr,
                security,
                trusted: c.trusted,
            });
        }
    }
    if c.idle_timeout_secs < 600 {
        tracing::warn!(
            secs = c.idle_timeout_secs,
            "POP3 idle timeout below RFC 1939's ten minutes"
        );
    }
    let pop_ctx = PopContext {
        hostname: ctx.config.hostname.clone(),
        journal: ctx.root.journal_file(),
        mail: MailStore::new(ctx.root.mail_dir()),
        deletions: DeletionStore::new(ctx.root.pop_dir()),
        credentials: shared.credentials.clone(),
        idle_timeout: Duration::from_secs(c.idle_timeout_secs),
    };
    let limits = Limits {
        max_connections: c.max_connections,
        max_per_address: c.max_per_address,
        ..Limits::default()
    };
    PopServer::bind(&specs, Some(shared.tls.clone()), limits, pop_ctx)
        .context("cannot start the POP3 server")
}

/// Opens the grader's intake (SPEC §8) on the data root: `course.db` and `grading.git` are
/// created if missing, `accounts.db` is only read. Creates `mail/` and `logs/` if missing, so
/// denis may start before smtp has ever run.
pub async fn denis(ctx: &Context) -> Result<Intake> {
    for dir in [ctx.root.mail_dir(), ctx.root.logs_dir()] {
        create_private_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let config = ctx
        .config
        .denis
        .intake(&ctx.config.hostname, ctx.config.course.addresses()?);
    Intake::open(&ctx.root, config)
        .await
        .context("cannot start the grader")
}

/// Opens the grader's deadline runner (SPEC §9) on the data root: `course.db` read-write,
/// `accounts.db` read-only, the journal it freezes and releases into. Blocking: call it before
/// the runtime starts (which also lets the start-up message show local times).
pub fn deadline_runner(ctx: &Context) -> Result<DeadlineRunner> {
    DeadlineRunner::open(&ctx.root).context("cannot start the deadline scheduler")
}

/// The scheduler that runs each deadline as it falls, and at start those that fell while the
/// grader was down. It takes in closed sessions before running deadlines, so a series sent
/// just before one counts for it; it re-reads the assignments every `[denis] poll_secs`.
pub fn scheduler(ctx: &Context, runner: DeadlineRunner, intake: Intake) -> Scheduler {
    Scheduler::new(runner)
        .with_intake(intake)
        .with_poll_interval(Duration::from_secs(ctx.config.denis.poll_secs))
}

/// The start-up line of the deadline scheduler: what is due now, or when the next deadline
/// falls.
pub fn describe_deadlines(runner: &DeadlineRunner) -> Result<String> {
    let db = runner.db();
    let finished = schedule::finished(&db.deadline_runs(None)?);
    let outlook = schedule::outlook(&db.list_assignments()?, &finished, times::now());
    Ok(format!("deadlines    {outlook}"))
}

/// Binds the web dashboard (SPEC §11) on `[web] listen`, the credentials check for the chat
/// on `[web] internal_listen` and the plain-HTTP redirect to HTTPS on `[web] redirect_listen`
/// when those are set; `None` when `listen` is empty. It opens
/// `course.db` read-write (grades, oopsies, instructor requests) but never the journal: denis
/// carries out what touches it (SPEC §3).
pub async fn web(ctx: &Context, shared: &Shared) -> Result<Option<WebServer>> {
    let c = &ctx.config;
    let Some(addr) = listen_addr(&c.web.listen, "[web] listen")? else {
        return Ok(None);
    };
    let internal = listen_addr(&c.web.internal_listen, "[web] internal_listen")?;
    let redirect = listen_addr(&c.web.redirect_listen, "[web] redirect_listen")?;
    if redirect.is_some() && !c.web.tls {
        // Without tls the dashboard's port speaks plain HTTP, so the redirect would send
        // browsers to an https:// URL nothing answers; a TLS proxy in front redirects itself.
        bail!(
            "[web] redirect_listen needs [web] tls = true (it sends browsers to the dashboard's \
             HTTPS port); set tls = true, or leave redirect_listen empty and let the TLS proxy \
             in front redirect port 80"
        );
    }
    let path = ctx.root.course_db();
    let course = denis::CourseDb::open(&path)
        .with_context(|| format!("cannot open the course database {}", path.display()))?;
    let port = |listen: &str| {
        listen
            .trim()
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
    };
    web::view::set_time_zone(c.course.time_zone()?);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for the web dashboard ([web] listen)"))?;
    let scheme = if c.web.tls { "https" } else { "http" };
    let web_origin = match listener.local_addr()?.port() {
        80 if !c.web.tls => format!("{scheme}://{}", c.server.public_host),
        443 if c.web.tls => format!("{scheme}://{}", c.server.public_host),
        port => format!("{scheme}://{}:{port}", c.server.public_host),
    };
    let site = Site {
        hostname: c.hostname.clone(),
        public_host: c.server.public_host.clone(),
        web_origin,
        findings_before_deadline: c.course.findings_policy()?,
        smtps_port: port(&c.smtp.tls_listen),
        submission_port: port(&c.smtp.starttls_listen),
        pop3s_port: port(&c.pop.tls_listen),
        pop3_port: port(&c.pop.stls_listen),
        // A cookie sent over https:// must never travel in clear text afterwards.
        secure_cookies: c.web.secure_cookies || c.web.tls,
        session_ttl: Duration::from_secs(c.web.session_hours.saturating_mul(3600)),
        oopsies_per_term: c.course.oopsies_per_term,
        lists: c.course.addresses()?,
        trusted_proxies: c.web.trusted_proxies()?,
        check_secret: check_secret(ctx),
        matrix_client_url: Some(c.web.matrix_client_url.trim().to_string())
            .filter(|u| !u.is_empty()),
        matrix_server: Some(c.web.matrix_server.trim().to_string()).filter(|u| !u.is_empty()),
    };
    let state = AppState::new(shared.credentials.0.clone(), course, &ctx.root, site);
    let mut server = WebServer::from_listener(listener, state);
    if let Some(internal) = internal {
        server = server
            .with_internal_listener(internal)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {internal} for the chat's credentials check \
                     ([web] internal_listen); choose a free address:port or leave it empty"
                )
            })?;
    }
    if let Some(redirect) = redirect {
        // The dashboard's own port is its public one: containers publish 443 as 443.
        let port = server.local_addr()?.port();
        let origin = web::HttpsOrigin::new(&c.server.public_host, port)?;
        server = server
            .with_redirect_listener(redirect, origin)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {redirect} for the redirect to HTTPS ([web] \
                     redirect_listen); choose a free address:port or leave it empty"
                )
            })?;
    }
    Ok(Some(if c.web.tls {
        server.with_tls(shared.tls.clone())
    } else {
        server
    }))
}

/// The chat server's secret for the credentials check, from `tls/check.secret`; without one
/// (a data root from before it existed, and a read-only `tls/`) the check answers nobody.
fn check_secret(ctx: &Context) -> Option<String> {
    let path = ctx.root.tls_dir().join(web::CHECK_SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
        Ok(_) | Err(_) => {
            tracing::warn!(path = %path.display(), "no secret for the chat's credentials \
                check: it refuses every request; run `coursemail init` to make one");
            None
        }
    }
}

/// Human descriptions of the web's listeners for start-up messages: the dashboard, then the
/// credentials check's URL when it has a listener of its own (what submatrix's `--check-url`
/// takes), then the redirect to HTTPS and where it sends browsers.
pub fn describe_web(server: &WebServer) -> Vec<String> {
    let scheme = if server.is_tls() { "https" } else { "http" };
    let mut lines = vec![match server.local_addr() {
        Ok(addr) => format!("web          {scheme}://{addr}/"),
        Err(_) => "web          (address unknown)".to_string(),
    }];
    match server.internal_addr() {
        Ok(None) => {}
        Ok(Some(addr)) => lines.push(format!("web internal {scheme}://{addr}/internal/check")),
        Err(_) => lines.push("web internal (address unknown)".to_string()),
    }
    match server.redirect() {
        Ok(None) => {}
        Ok(Some((addr, origin))) => {
            lines.push(format!("web redirect http://{addr}/ to {origin}/"));
        }
        Err(_) => lines.push("web redirect (address unknown)".to_string()),
    }
    lines
}

/// Parses the listen address of `option` (e.g. `[web] listen`) from the configuration; empty
/// means "disabled".
fn listen_addr(text: &str, option: &str) -> Result<Option<SocketAddr>> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    text.trim().parse().map(Some).with_context(|| {
        format!("{option} address {text:?} is not an address:port such as 127.0.0.1:1110")
    })
}

/// A human description of a listener for start-up messages.
pub fn describe(addr: SocketAddr, security: Security, protocol: &str) -> String {
    match security {
        Security::ImplicitTls => format!("{protocol} (TLS)       {addr}"),
        Security::Plain => format!("{protocol} (STARTTLS)  {addr}"),
    }
}

/// A human description of the grader for start-up messages.
pub fn describe_grader(ctx: &Context) -> String {
    format!(
        "grader       checks every closed SMTP session in {} ({} at a time)",
        ctx.root.logs_dir().display(),
        ctx.config.denis.concurrency
    )
}
