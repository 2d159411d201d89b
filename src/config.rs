//! Configuration: built-in defaults, then a TOML file, then `COURSEMAIL_*` environment variables,
//! then command-line flags (each layer overrides the one before).
//!
//! Every option has an environment variable named after its place in the file: `hostname` is
//! `COURSEMAIL_HOSTNAME`, `[auth] throttle_max_ms` is `COURSEMAIL_AUTH_THROTTLE_MAX_MS`. The
//! variables are derived from the option tree itself, so a new option gets one for free.
//! `coursemail.example.toml` documents every option.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// Prefix of every environment override.
const ENV_PREFIX: &str = "COURSEMAIL_";
/// Environment variables that are not options: handled by clap or the logger, or naming the
/// binary for backup.sh and restore.sh.
const ENV_NOT_OPTIONS: &[&str] = &["COURSEMAIL_CONFIG", "COURSEMAIL_LOG", "COURSEMAIL_BIN"];

/// The whole configuration of one coursemail installation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The course's mail domain: addresses are `user@hostname`. Empty means the domain recorded
    /// in the data root (SPEC §3), or at the first start [`DEFAULT_MAIL_DOMAIN`].
    pub hostname: String,
    /// The server name clients connect to.
    pub server: ServerConfig,
    /// The data root (SPEC §3).
    pub data: PathBuf,
    /// Password checking shared by every service.
    pub auth: AuthConfig,
    /// The course: list addresses and oopsies.
    pub course: CourseConfig,
    /// The SMTP submission server.
    pub smtp: SmtpConfig,
    /// The POP3 server.
    pub pop: PopConfig,
    /// The grader.
    pub denis: DenisConfig,
    /// The web dashboard.
    pub web: WebConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hostname: String::new(),
            server: ServerConfig::default(),
            data: PathBuf::from("./coursemail-data"),
            auth: AuthConfig::default(),
            course: CourseConfig::default(),
            smtp: SmtpConfig::default(),
            pop: PopConfig::default(),
            denis: DenisConfig::default(),
            web: WebConfig::default(),
        }
    }
}

/// The mail domain of a new data root when none is configured: it has a dot, which
/// git send-email's address check requires, and as a `.localhost` name (RFC 6761) it can never
/// be anybody else's domain.
pub const DEFAULT_MAIL_DOMAIN: &str = "course.localhost";

/// Where clients reach the servers (SPEC §3: the server name may differ from the mail domain).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// The host name mail clients, git and browsers connect to, and that the self-signed
    /// certificate names. Empty: the mail domain, except that a `.localhost` domain is served
    /// as `localhost`, which every machine resolves.
    pub public_host: String,
}

/// The course: its own addresses (SPEC §8) and its rules (SPEC §10).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CourseConfig {
    /// List addresses (local parts): discussion and announcements, released at once.
    pub lists: Vec<String>,
    /// Oopsies each student may use per term; 0 turns them off.
    pub oopsies_per_term: u32,
    /// The course's time zone (an IANA name such as `Europe/Vienna`): the web shows times in
    /// it and its forms read times in it.
    pub timezone: String,
    /// What students see of their automated findings before a deadline: `summary` (the checks
    /// that failed, by name) or `full` (every finding at once).
    pub findings_before_deadline: String,
}

impl Default for CourseConfig {
    fn default() -> Self {
        Self {
            lists: vec!["list".into()],
            oopsies_per_term: denis::DEFAULT_OOPSIES_PER_TERM,
            timezone: "UTC".into(),
            findings_before_deadline: "summary".into(),
        }
    }
}

impl CourseConfig {
    /// The course's time zone; an unknown name is a start-up error rather than times shown in
    /// the wrong zone.
    pub fn time_zone(&self) -> Result<jiff::tz::TimeZone> {
        jiff::tz::TimeZone::get(self.timezone.trim()).with_context(|| {
            format!(
                "[course] timezone {:?} is not an IANA time zone name; use one such as \
                 \"Europe/Vienna\", \"America/New_York\" or \"UTC\"",
                self.timezone
            )
        })
    }

    /// What students see of their findings before a deadline.
    pub fn findings_policy(&self) -> Result<web::FindingsPolicy> {
        match self.findings_before_deadline.trim() {
            "summary" => Ok(web::FindingsPolicy::Summary),
            "full" => Ok(web::FindingsPolicy::Full),
            other => bail!(
                "[course] findings_before_deadline {other:?} must be \"summary\" (the failed \
                 checks by name until the deadline) or \"full\" (every finding at once)"
            ),
        }
    }

    /// The list addresses, trimmed and lowercase, each checked against the username rule: they
    /// share one namespace of local parts with usernames and assignments, and a typo should be
    /// a start-up error rather than a list nobody can write to.
    pub fn addresses(&self) -> Result<Vec<String>> {
        let mut names = Vec::with_capacity(self.lists.len());
        for list in &self.lists {
            let name = list.trim().to_ascii_lowercase();
            if journal::Username::parse(&name).is_err() {
                bail!(
                    "[course] lists entry {list:?} is not a valid address local part: use a \
                     lowercase letter, then lowercase letters, digits, '.', '_' or '-'"
                );
            }
            names.push(name);
        }
        Ok(names)
    }
}

/// The web dashboard (SPEC §11).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// HTTP listener as address:port; empty disables the dashboard in `up`.
    pub listen: String,
    /// A second listener, as address:port, serving only the chat's credentials check
    /// (`POST /internal/check`), which `listen` then no longer serves; empty keeps the check on
    /// `listen`, believing forwarded addresses from loopback callers only.
    pub internal_listen: String,
    /// A plain-HTTP listener, as address:port, that redirects every request to the same path on
    /// `https://hostname[:port of listen]`; needs `tls`. Empty turns it off.
    pub redirect_listen: String,
    /// Serve HTTPS itself, on both listeners, with the certificate in `tls/` (the one smtp and
    /// pop use); cookies are then `Secure` whatever `secure_cookies` says.
    pub tls: bool,
    /// Mark cookies `Secure`: set when browsers reach the site over HTTPS (a TLS proxy).
    pub secure_cookies: bool,
    /// How long a login lasts, in hours.
    pub session_hours: u64,
    /// Reverse proxies (addresses or CIDR prefixes) whose `X-Forwarded-For` names the client
    /// that login and registration throttling count; empty trusts none.
    pub trusted_proxies: Vec<String>,
    /// The course chat's client URL (e.g. `https://chat.example.org`), which
    /// `/.well-known/matrix/client` names so Matrix clients find the chat from the course's
    /// domain; empty: no chat is announced.
    pub matrix_client_url: String,
    /// The chat's federation address (`host:port`) for `/.well-known/matrix/server`; empty: not
    /// announced.
    pub matrix_server: String,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            internal_listen: String::new(),
            redirect_listen: String::new(),
            tls: false,
            secure_cookies: false,
            session_hours: 12,
            trusted_proxies: Vec::new(),
            matrix_client_url: String::new(),
            matrix_server: String::new(),
        }
    }
}

impl WebConfig {
    /// The trusted proxies, parsed: a typo is a start-up error, not a proxy whose clients all
    /// share one throttle.
    pub fn trusted_proxies(&self) -> Result<web::TrustedProxies> {
        web::TrustedProxies::parse(&self.trusted_proxies).context("[web] trusted_proxies")
    }
}

/// The grader (SPEC §8): how the intake runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DenisConfig {
    /// Sessions checked at once (git is CPU-bound).
    pub concurrency: usize,
    /// How often `logs/` is rescanned in case a file-system event was missed.
    pub poll_secs: u64,
    /// Time limit for the git work on one submission.
    pub time_limit_secs: u64,
    /// Where temporary repositories are made; empty for the system's temporary directory.
    pub work_dir: PathBuf,
}

impl Default for DenisConfig {
    fn default() -> Self {
        Self {
            concurrency: 2,
            poll_secs: 5,
            time_limit_secs: 120,
            work_dir: PathBuf::new(),
        }
    }
}

impl DenisConfig {
    /// The intake settings for a course at `host` with list addresses `lists`.
    pub fn intake(&self, host: &str, lists: Vec<String>) -> denis::IntakeConfig {
        let mut config = denis::IntakeConfig::new(host);
        config.list_addresses = lists;
        config.concurrency = self.concurrency;
        config.poll_interval = std::time::Duration::from_secs(self.poll_secs);
        config.time_limit = std::time::Duration::from_secs(self.time_limit_secs);
        if !self.work_dir.as_os_str().is_empty() {
            config.work_dir = self.work_dir.clone();
        }
        config
    }
}

/// The SMTP submission server (SPEC §6).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// Implicit-TLS listener (465-style); empty disables it.
    pub tls_listen: String,
    /// Plain listener offering STARTTLS (587-style); empty disables it.
    pub starttls_listen: String,
    /// Accept AUTH without TLS (only for loopback tests).
    pub trusted: bool,
    /// Largest message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Recipients per message.
    pub max_recipients: usize,
    /// Messages per session (one submission); series of 100+ patches are normal.
    pub max_messages_per_session: usize,
    /// Longest line inside a message, CRLF included.
    pub max_line_bytes: usize,
    /// Bytes all messages of one session (submission) may add up to.
    pub max_submission_bytes: usize,
    /// Idle sessions are closed after this long (RFC 5321 asks for at least 300).
    pub idle_timeout_secs: u64,
    /// Connections served at once, per listener.
    pub max_connections: usize,
    /// Connections one client address (IPv6: its /64) may hold at once; 0 for no limit.
    /// Loopback clients are exempt.
    pub max_per_address: usize,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            tls_listen: "127.0.0.1:1465".into(),
            starttls_listen: "127.0.0.1:1587".into(),
            trusted: false,
            max_message_bytes: 10 * 1024 * 1024,
            max_recipients: 100,
            max_messages_per_session: 1000,
            max_line_bytes: 64 * 1024,
            max_submission_bytes: 64 * 1024 * 1024,
            idle_timeout_secs: 300,
            max_connections: 10_000,
            max_per_address: 256,
        }
    }
}

/// The POP3 server (SPEC §7).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PopConfig {
    /// Implicit-TLS listener (995-style); empty disables it.
    pub tls_listen: String,
    /// Plain listener offering STLS (110-style); empty disables it.
    pub stls_listen: String,
    /// Accept credentials without TLS (only for loopback tests).
    pub trusted: bool,
    /// Idle sessions are closed after this long (RFC 1939: at least 600).
    pub idle_timeout_secs: u64,
    /// Connections served at once, per listener.
    pub max_connections: usize,
    /// Connections one client address (IPv6: its /64) may hold at once; 0 for no limit.
    /// Loopback clients are exempt.
    pub max_per_address: usize,
}

impl Default for PopConfig {
    fn default() -> Self {
        Self {
            tls_listen: "127.0.0.1:1995".into(),
            stls_listen: "127.0.0.1:1110".into(),
            trusted: false,
            idle_timeout_secs: 600,
            max_connections: 20_000,
            max_per_address: 256,
        }
    }
}

/// Login throttling and the password success cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Delay after the first failed login from an address or for a username, doubled per failure.
    pub throttle_base_ms: u64,
    /// Longest delay; an attempt that would wait longer is refused without checking.
    pub throttle_max_ms: u64,
    /// Failures older than this are forgotten.
    pub throttle_forget_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            throttle_base_ms: 200,
            throttle_max_ms: 20_000,
            throttle_forget_secs: 900,
        }
    }
}

impl AuthConfig {
    /// The throttle settings in the accounts crate's terms.
    pub fn throttle(&self) -> accounts::ThrottleConfig {
        accounts::ThrottleConfig {
            base_delay: std::time::Duration::from_millis(self.throttle_base_ms),
            max_delay: std::time::Duration::from_millis(self.throttle_max_ms),
            forget_after: std::time::Duration::from_secs(self.throttle_forget_secs),
            ..accounts::ThrottleConfig::default()
        }
    }
}

impl Config {
    /// Loads defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        let text =
            match file {
                Some(path) => Some(std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read configuration file {}", path.display())
                })?),
                None => None,
            };
        Self::from_layers(text.as_deref(), &env).with_context(|| match file {
            Some(path) => format!("invalid configuration (file {})", path.display()),
            None => "invalid configuration".to_string(),
        })
    }

    /// Merges the layers: pure, so it can be tested without touching the process environment.
    pub fn from_layers(file: Option<&str>, env: &BTreeMap<String, String>) -> Result<Self> {
        let mut table = toml::Table::try_from(Config::default())?;
        if let Some(text) = file {
            let from_file: toml::Table = toml::from_str(text)?;
            merge(&mut table, from_file);
        }
        let mut known = Vec::new();
        apply_env(&mut table, ENV_PREFIX, env, &mut known)?;
        for name in unknown_variables(env, &known) {
            // A warning, not an error: scripts around coursemail may use the prefix too.
            tracing::warn!(
                "environment variable {name} is not a coursemail option and is ignored \
                 (coursemail.example.toml lists the options and their variables)"
            );
        }
        let config: Config = table.try_into()?;
        config.validate()?;
        Ok(config)
    }

    /// Rejects settings that parse but would quietly disable a protection.
    fn validate(&self) -> Result<()> {
        let auth = &self.auth;
        if auth.throttle_base_ms == 0 || auth.throttle_max_ms < auth.throttle_base_ms {
            bail!(
                "[auth] throttle_base_ms must be at least 1 and throttle_max_ms at least as large \
                 (got {} and {}): failed logins would not be slowed down",
                auth.throttle_base_ms,
                auth.throttle_max_ms
            );
        }
        let denis = &self.denis;
        if denis.concurrency == 0 || denis.poll_secs == 0 || denis.time_limit_secs == 0 {
            bail!(
                "[denis] concurrency, poll_secs and time_limit_secs must be at least 1 (got {}, \
                 {} and {}): with 0 the grader would check nothing",
                denis.concurrency,
                denis.poll_secs,
                denis.time_limit_secs
            );
        }
        self.course.addresses()?;
        self.course.time_zone()?;
        self.course.findings_policy()?;
        self.web.trusted_proxies()?;
        Ok(())
    }
}

/// `COURSEMAIL_*` variables that name no option.
fn unknown_variables<'a>(env: &'a BTreeMap<String, String>, known: &[String]) -> Vec<&'a str> {
    env.keys()
        .filter(|name| !known.contains(name) && !ENV_NOT_OPTIONS.contains(&name.as_str()))
        .map(String::as_str)
        .collect()
}

/// Overlays `overlay` onto `base`, descending into sections so a file may set one key of one.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

/// Walks the option tree and replaces every value whose environment variable is set.
fn apply_env(
    table: &mut toml::Table,
    prefix: &str,
    env: &BTreeMap<String, String>,
    known: &mut Vec<String>,
) -> Result<()> {
    for (key, value) in table.iter_mut() {
        let name = format!("{prefix}{}", key.to_ascii_uppercase());
        if let toml::Value::Table(section) = value {
            apply_env(section, &format!("{name}_"), env, known)?;
            continue;
        }
        known.push(name.clone());
        if let Some(raw) = env.get(&name) {
            *value = parse_like(value, raw)
                .with_context(|| format!("environment variable {name}={raw:?}"))?;
        }
    }
    Ok(())
}

/// Parses an environment string as a value of the same type as the default it replaces.
fn parse_like(default: &toml::Value, raw: &str) -> Result<toml::Value> {
    Ok(match default {
        toml::Value::String(_) => toml::Value::String(raw.to_string()),
        toml::Value::Integer(_) => toml::Value::Integer(
            raw.trim()
                .parse()
                .with_context(|| "expected a whole number")?,
        ),
        toml::Value::Boolean(_) => toml::Value::Boolean(match raw.trim() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => bail!("expected true or false"),
        }),
        toml::Value::Array(_) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        ),
        other => bail!(
            "options of type {} cannot be set from the environment",
            other.type_str()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_apply_without_file_or_environment() {
        let c = Config::from_layers(None, &env(&[])).unwrap();
        assert_eq!(
            c.hostname, "",
            "the domain comes from the data root unless configured"
        );
        assert_eq!(c.course.timezone, "UTC");
        assert_eq!(c.data, PathBuf::from("./coursemail-data"));
        assert_eq!(c.auth.throttle_base_ms, 200);
    }

    #[test]
    fn file_sets_one_key_of_a_section_and_keeps_the_rest() {
        let file = "hostname = \"course.example.org\"\n[auth]\nthrottle_max_ms = 5000\n";
        let c = Config::from_layers(Some(file), &env(&[])).unwrap();
        assert_eq!(c.hostname, "course.example.org");
        assert_eq!(c.auth.throttle_max_ms, 5000);
        assert_eq!(c.auth.throttle_base_ms, 200);
    }

    #[test]
    fn environment_overrides_the_file() {
        let file = "hostname = \"a.example\"\n[auth]\nthrottle_max_ms = 5000\n";
        let c = Config::from_layers(
            Some(file),
            &env(&[
                ("COURSEMAIL_HOSTNAME", "b.example"),
                ("COURSEMAIL_AUTH_THROTTLE_MAX_MS", "7000"),
                ("COURSEMAIL_DATA", "/var/lib/coursemail"),
                ("COURSEMAIL_CONFIG", "ignored-here"),
            ]),
        )
        .unwrap();
        assert_eq!(c.hostname, "b.example");
        assert_eq!(c.auth.throttle_max_ms, 7000);
        assert_eq!(c.data, PathBuf::from("/var/lib/coursemail"));
    }

    #[test]
    fn unknown_keys_are_errors_that_name_them() {
        let err = Config::from_layers(Some("hostnme = \"x\"\n"), &env(&[])).unwrap_err();
        assert!(format!("{err:#}").contains("hostnme"), "{err:#}");
    }

    #[test]
    fn misspelt_variables_are_found() {
        let vars = env(&[("COURSEMAIL_HOSTNMAE", "x"), ("COURSEMAIL_LOG", "debug")]);
        let mut known = Vec::new();
        let mut table = toml::Table::try_from(Config::default()).unwrap();
        apply_env(&mut table, ENV_PREFIX, &vars, &mut known).unwrap();
        assert_eq!(
            unknown_variables(&vars, &known),
            vec!["COURSEMAIL_HOSTNMAE"]
        );
        assert!(
            Config::from_layers(None, &vars).is_ok(),
            "unknown variables only warn"
        );
    }

    #[test]
    fn a_throttle_that_would_not_slow_anyone_down_is_refused() {
        let err =
            Config::from_layers(Some("[auth]\nthrottle_base_ms = 0\n"), &env(&[])).unwrap_err();
        assert!(err.to_string().contains("throttle_base_ms"), "{err}");
        let err = Config::from_layers(None, &env(&[("COURSEMAIL_AUTH_THROTTLE_MAX_MS", "10")]))
            .unwrap_err();
        assert!(err.to_string().contains("throttle_max_ms"), "{err}");
    }

    #[test]
    fn badly_typed_environment_value_names_the_variable() {
        let err = Config::from_layers(None, &env(&[("COURSEMAIL_AUTH_THROTTLE_MAX_MS", "soon")]))
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("COURSEMAIL_AUTH_THROTTLE_MAX_MS"),
            "{err:#}"
        );
    }

    #[test]
    fn example_file_documents_exactly_the_options() {
        let text = include_str!("../coursemail.example.toml");
        let parsed: toml::Table = toml::from_str(text).unwrap();
        let defaults = toml::Table::try_from(Config::default()).unwrap();
        assert_eq!(
            keys(&parsed, ""),
            keys(&defaults, ""),
            "coursemail.example.toml must list every option, and only those"
        );
        Config::from_layers(Some(text), &env(&[])).unwrap();
    }

    #[test]
    fn list_addresses_are_lowercased_and_invalid_ones_are_refused() {
        let c = Config::from_layers(
            Some("[course]\nlists = [\" List \", \"announce\"]\n"),
            &env(&[]),
        )
        .unwrap();
        assert_eq!(c.course.addresses().unwrap(), vec!["list", "announce"]);
        let err = Config::from_layers(None, &env(&[("COURSEMAIL_COURSE_LISTS", "the list")]))
            .unwrap_err();
        assert!(err.to_string().contains("the list"), "{err}");
    }

    #[test]
    fn oopsies_default_to_one_per_term_and_can_be_changed() {
        let c = Config::from_layers(None, &env(&[])).unwrap();
        assert_eq!(c.course.oopsies_per_term, 1);
        let vars = env(&[("COURSEMAIL_COURSE_OOPSIES_PER_TERM", "2")]);
        assert_eq!(
            Config::from_layers(None, &vars)
                .unwrap()
                .course
                .oopsies_per_term,
            2
        );
        let err =
            Config::from_layers(Some("[course]\noopsies_per_term = -1\n"), &env(&[])).unwrap_err();
        assert!(format!("{err:#}").contains("oopsies_per_term"), "{err:#}");
    }

    #[test]
    fn a_grader_that_would_check_nothing_is_refused() {
        let err = Config::from_layers(Some("[denis]\nconcurrency = 0\n"), &env(&[])).unwrap_err();
        assert!(err.to_string().contains("concurrency"), "{err}");
    }

    #[test]
    fn empty_work_dir_means_the_system_temporary_directory() {
        let c = Config::from_layers(None, &env(&[("COURSEMAIL_DENIS_POLL_SECS", "9")])).unwrap();
        let intake = c.denis.intake("course.example", vec!["list".into()]);
        assert_eq!(intake.work_dir, std::env::temp_dir());
        assert_eq!(intake.poll_interval, std::time::Duration::from_secs(9));
        let file = "[denis]\nwork_dir = \"/srv/denis\"\n";
        let c = Config::from_layers(Some(file), &env(&[])).unwrap();
        let intake = c.denis.intake("course.example", vec![]);
        assert_eq!(intake.work_dir, PathBuf::from("/srv/denis"));
    }

    #[test]
    fn the_internal_listener_is_off_unless_configured() {
        let c = Config::from_layers(None, &env(&[])).unwrap();
        assert_eq!(c.web.internal_listen, "");
        let vars = env(&[("COURSEMAIL_WEB_INTERNAL_LISTEN", "10.89.1.2:8443")]);
        let c = Config::from_layers(None, &vars).unwrap();
        assert_eq!(c.web.internal_listen, "10.89.1.2:8443");
        assert_eq!(
            c.web.listen, "127.0.0.1:8080",
            "the dashboard keeps its own listener"
        );
    }

    #[test]
    fn the_redirect_to_https_is_off_unless_configured() {
        let c = Config::from_layers(None, &env(&[])).unwrap();
        assert_eq!(c.web.redirect_listen, "");
        let vars = env(&[
            ("COURSEMAIL_WEB_REDIRECT_LISTEN", "0.0.0.0:80"),
            ("COURSEMAIL_WEB_TLS", "true"),
        ]);
        let c = Config::from_layers(None, &vars).unwrap();
        assert_eq!(c.web.redirect_listen, "0.0.0.0:80");
    }

    #[test]
    fn trusted_proxies_come_from_the_file_or_a_comma_separated_variable() {
        let c = Config::from_layers(None, &env(&[])).unwrap();
        assert!(
            c.web.trusted_proxies().unwrap().is_empty(),
            "trusts no one by default"
        );
        let file = "[web]\ntrusted_proxies = [\"127.0.0.1\", \"10.89.0.0/16\"]\n";
        let c = Config::from_layers(Some(file), &env(&[])).unwrap();
        assert_eq!(c.web.trusted_proxies, ["127.0.0.1", "10.89.0.0/16"]);
        let vars = env(&[("COURSEMAIL_WEB_TRUSTED_PROXIES", "::1, 10.89.0.0/16,")]);
        let c = Config::from_layers(Some(file), &vars).unwrap();
        assert_eq!(c.web.trusted_proxies, ["::1", "10.89.0.0/16"]);
        let proxies = c.web.trusted_proxies().unwrap();
        assert!(proxies.contains("10.89.3.4".parse().unwrap()));
        assert!(!proxies.contains("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn a_trusted_proxy_that_is_not_an_address_is_refused() {
        let vars = env(&[("COURSEMAIL_WEB_TRUSTED_PROXIES", "127.0.0.1,nginx")]);
        let err = Config::from_layers(None, &vars).unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains("[web] trusted_proxies"), "{message}");
        assert!(message.contains("\"nginx\""), "{message}");
    }

    fn keys(table: &toml::Table, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in table {
            match v {
                toml::Value::Table(t) => out.extend(keys(t, &format!("{prefix}{k}."))),
                _ => out.push(format!("{prefix}{k}")),
            }
        }
        out.sort();
        out
    }
}
