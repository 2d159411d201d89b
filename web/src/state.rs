//! The state every handler shares: the accounts and course databases, the login checker and the
//! site's settings. Cheap to clone (one `Arc`).

use std::sync::Arc;
use std::time::Duration;

use accounts::{Accounts, Authenticator, Throttle};
use denis::CourseDb;
use journal::DataRoot;
use journal::store::MailStore;

use crate::error::WebError;
use crate::proxy::TrustedProxies;

/// What the site tells mail clients, how it sets cookies and whom it believes about client
/// addresses.
#[derive(Debug, Clone)]
pub struct Site {
    /// The course's mail domain: addresses are `user@hostname`.
    pub hostname: String,
    /// The server name mail clients, git and browsers connect to (SPEC §3), which the
    /// certificate names; often the mail domain itself.
    pub public_host: String,
    /// The address of the web dashboard as students type it (`http://localhost:8080`), for
    /// the download commands `/setup` shows.
    pub web_origin: String,
    /// What students see of their findings before a deadline (SPEC §10).
    pub findings_before_deadline: FindingsPolicy,
    /// SMTP implicit-TLS port, if that listener is enabled.
    pub smtps_port: Option<u16>,
    /// SMTP STARTTLS (submission) port, if enabled.
    pub submission_port: Option<u16>,
    /// POP3 implicit-TLS port, if enabled.
    pub pop3s_port: Option<u16>,
    /// POP3 STLS port, if enabled.
    pub pop3_port: Option<u16>,
    /// Mark cookies `Secure`: the site is reached over HTTPS (a TLS-terminating proxy).
    pub secure_cookies: bool,
    /// How long a login lasts.
    pub session_ttl: Duration,
    /// Oopsies each student may use per term (SPEC §10).
    pub oopsies_per_term: u32,
    /// The list addresses: reserved local parts, no user or assignment may take them.
    pub lists: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` names the client the throttles count.
    pub trusted_proxies: TrustedProxies,
    /// The secret the chat server shares with the credentials check (`tls/check.secret`);
    /// `None`: the check answers nobody.
    pub check_secret: Option<String>,
    /// The course chat's client URL, announced at `/.well-known/matrix/client`.
    pub matrix_client_url: Option<String>,
    /// The chat's federation `host:port`, announced at `/.well-known/matrix/server`.
    pub matrix_server: Option<String>,
}

/// What students see of their automated findings before a deadline (`[course]
/// findings_before_deadline`, SPEC §10); from the deadline on they see every finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FindingsPolicy {
    /// A one-line summary naming the checks that failed: students learn to check their work.
    #[default]
    Summary,
    /// Every finding at once.
    Full,
}

impl Site {
    /// The defaults of `coursemail up` for `hostname` (SPEC §12 ports); a `.localhost` domain
    /// is served as `localhost`.
    pub fn local(hostname: impl Into<String>) -> Site {
        let hostname: String = hostname.into();
        let public_host = if hostname == "localhost" || hostname.ends_with(".localhost") {
            "localhost".to_string()
        } else {
            hostname.clone()
        };
        Site {
            web_origin: format!("http://{public_host}:8080"),
            public_host,
            hostname,
            findings_before_deadline: FindingsPolicy::Summary,
            smtps_port: Some(1465),
            submission_port: Some(1587),
            pop3s_port: Some(1995),
            pop3_port: Some(1110),
            secure_cookies: false,
            session_ttl: Duration::from_secs(12 * 3600),
            oopsies_per_term: denis::DEFAULT_OOPSIES_PER_TERM,
            lists: vec!["list".to_string()],
            trusted_proxies: TrustedProxies::none(),
            check_secret: None,
            matrix_client_url: None,
            matrix_server: None,
        }
    }
}

/// The parts of the shared state.
#[derive(Debug)]
pub struct Inner {
    /// Users, roles, sessions.
    pub accounts: Arc<Accounts>,
    /// Throttled password checks (the same one smtp and pop use in `coursemail up`).
    pub auth: Authenticator,
    /// Assignments, submissions, grades, requests.
    pub course: CourseDb,
    /// The stored messages (read only: the raw-message view).
    pub mail: MailStore,
    /// The journal, only read (who is restricted); denis alone writes it (SPEC §3).
    pub journal: std::path::PathBuf,
    /// The servers' certificate (`tls/cert.pem`), which `/setup/cert.pem` hands out.
    pub certificate: std::path::PathBuf,
    /// The course's base repository (`course/base.git`), served at `/git/base.git`.
    pub base_repo: std::path::PathBuf,
    /// The grading repository (`grading.git`), served at `/git/grading.git` to instructors.
    pub grading_repo: std::path::PathBuf,
    /// The course site's rendered pages, for the base's current commit.
    pub docs: crate::routes::docs::DocsCache,
    /// Failed `/register` attempts per client address: student ids are short and often
    /// sequential, so unthrottled guessing would hand out other students' accounts.
    pub register_throttle: Throttle,
    /// Site settings.
    pub site: Site,
}

/// The state handed to every handler.
#[derive(Debug, Clone)]
pub struct AppState(pub Arc<Inner>);

impl AppState {
    /// Shared state over already opened databases; mail and the journal are found in `root`.
    pub fn new(auth: Authenticator, course: CourseDb, root: &DataRoot, site: Site) -> AppState {
        let register = Throttle::new(accounts::ThrottleConfig::registration());
        AppState::with_register_throttle(auth, course, root, site, register)
    }

    /// Like [`AppState::new`], with its own throttle for failed registrations (tests use a
    /// fast one).
    pub fn with_register_throttle(
        auth: Authenticator,
        course: CourseDb,
        root: &DataRoot,
        site: Site,
        register_throttle: Throttle,
    ) -> AppState {
        AppState(Arc::new(Inner {
            accounts: Arc::clone(auth.accounts()),
            auth,
            course,
            mail: MailStore::new(root.mail_dir()),
            journal: root.journal_file(),
            certificate: root.tls_dir().join("cert.pem"),
            base_repo: root.course_dir().join("base.git"),
            grading_repo: root.grading_repo(),
            docs: crate::routes::docs::DocsCache::default(),
            register_throttle,
            site,
        }))
    }

    /// Runs `work` (SQLite, argon2, file reads: all blocking) on tokio's blocking pool so that a
    /// slow query never stalls other requests on this worker.
    pub async fn blocking<T, F>(&self, work: F) -> Result<T, WebError>
    where
        F: FnOnce(&Inner) -> Result<T, WebError> + Send + 'static,
        T: Send + 'static,
    {
        let inner = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| WebError::Interrupted(e.to_string()))?
    }
}
