//! Course git hosting (SPEC §18): git's smart HTTP protocol, served by git itself
//! (`git http-backend` as a CGI child), behind course logins.
//!
//! - `/git/base.git`: the course's base repository, which every series is checked against.
//!   Everyone enrolled clones and fetches; only instructors push.
//! - `/git/grading.git`: one tag per submission; instructors only.
//!
//! Requests authenticate with HTTP Basic and the course password, throttled like every login;
//! without credentials the answer is 401 with a `Basic` challenge, so git asks or uses its
//! credential helper. Only the three smart-protocol paths exist; anything else is 404.
//!
//! git runs with a configuration of its own making: no system or user configuration, no hooks
//! (`core.hooksPath` points nowhere, so a hook can never run, whatever a repository holds),
//! pushes limited in size and never rewriting or deleting the history of `base.git` (every
//! check builds on it; an instructor who must rewrite it does so on the server, on purpose).
//! Every child is killed, with its whole process group, after [`TIME_LIMIT`].

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::TryStreamExt as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio_util::io::{ReaderStream, StreamReader};

use accounts::{AuthOutcome, Role};

use crate::routes::auth::ClientIp;
use crate::state::AppState;

/// Longest a git child may run: a clone of a large base over a slow link fits easily.
pub const TIME_LIMIT: Duration = Duration::from_secs(600);
/// Largest push accepted (`receive.maxInputSize`): a course's base, not a data set.
pub const MAX_PUSH_BYTES: u64 = 256 * 1024 * 1024;

/// The repositories served, by the name in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repo {
    Base,
    Grading,
}

impl Repo {
    fn from_url(name: &str) -> Option<Repo> {
        match name {
            "base.git" => Some(Repo::Base),
            "grading.git" => Some(Repo::Grading),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Repo::Base => "base.git",
            Repo::Grading => "grading.git",
        }
    }
}

/// What a request asks git to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    /// Clone or fetch.
    Read,
    /// Push.
    Write,
}

/// The service of a smart-protocol request, or `None` for a path git's smart HTTP does not
/// have (pure). Dumb-protocol paths (`objects/...`) are not served.
fn service(method: &Method, rest: &str, query: Option<&str>) -> Option<Service> {
    match (method, rest) {
        (&Method::GET, "info/refs") => {
            match query.and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("service="))) {
                Some("git-upload-pack") => Some(Service::Read),
                Some("git-receive-pack") => Some(Service::Write),
                _ => None,
            }
        }
        (&Method::POST, "git-upload-pack") => Some(Service::Read),
        (&Method::POST, "git-receive-pack") => Some(Service::Write),
        _ => None,
    }
}

/// Who may do what (pure): everyone enrolled reads the base, instructors push it; only
/// instructors read grading.git, and nobody pushes to it.
fn allowed(repo: Repo, service: Service, role: Role) -> bool {
    match (repo, service) {
        (Repo::Base, Service::Read) => true,
        (Repo::Base, Service::Write) => role == Role::Instructor,
        (Repo::Grading, Service::Read) => role == Role::Instructor,
        (Repo::Grading, Service::Write) => false,
    }
}

/// `user` and `password` of an HTTP Basic `Authorization` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// A plain-text answer git shows its user (`remote: ...` or `fatal: ...`).
fn refuse(status: StatusCode, message: &str) -> Response {
    let mut response = (status, format!("{message}\n")).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"coursemail git\", charset=\"UTF-8\""),
        );
    }
    response
}

/// `/git/{repo}/{*rest}`: authenticates, authorises, then hands the request to
/// `git http-backend`.
pub async fn serve(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    Path((repo, rest)): Path<(String, String)>,
    request: Request,
) -> Response {
    let Some(repo) = Repo::from_url(&repo) else {
        return refuse(StatusCode::NOT_FOUND, "no such repository");
    };
    let query = request.uri().query().map(str::to_string);
    let Some(service) = service(request.method(), &rest, query.as_deref()) else {
        return refuse(StatusCode::NOT_FOUND, "not a git smart-HTTP request");
    };
    let site = &state.0.site;
    if !site.secure_cookies && !client.is_loopback() {
        return refuse(
            StatusCode::FORBIDDEN,
            "course passwords travel only over HTTPS: clone from the https:// address",
        );
    }
    let Some((user, password)) = basic_credentials(request.headers()) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "log in with your course username and password",
        );
    };
    let user = match state.0.auth.authenticate(client, &user, &password).await {
        Ok(AuthOutcome::Accepted(user)) => user,
        Ok(AuthOutcome::Rejected) => {
            return refuse(StatusCode::UNAUTHORIZED, "wrong username or password");
        }
        Ok(AuthOutcome::Throttled) => {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed logins; wait a minute and try again",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "git: cannot check credentials");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot check logins right now",
            );
        }
    };
    if !allowed(repo, service, user.role) {
        // Nothing of the repository, not even whether it has refs, reaches the refused user.
        let what = match (repo, service) {
            (Repo::Grading, _) => "grading.git is for instructors",
            _ => "only instructors push to the course's base repository",
        };
        return refuse(StatusCode::FORBIDDEN, what);
    }
    let root = match repo {
        Repo::Base => state.0.base_repo.clone(),
        Repo::Grading => state.0.grading_repo.clone(),
    };
    if !root.is_dir() {
        return refuse(StatusCode::NOT_FOUND, "this repository does not exist yet");
    }
    let cgi = Cgi {
        repo,
        root,
        rest,
        query: query.unwrap_or_default(),
        user: user.username.to_string(),
        client,
        push: service == Service::Write,
    };
    match cgi.run(request).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(repo = repo.name(), error = %e, "git http-backend failed");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "git failed on the server",
            )
        }
    }
}

/// One `git http-backend` run.
struct Cgi {
    repo: Repo,
    root: PathBuf,
    rest: String,
    query: String,
    user: String,
    client: IpAddr,
    push: bool,
}

impl Cgi {
    /// The configuration git runs with, as `GIT_CONFIG_*` variables: nothing of the system's,
    /// the user's or a pushed repository's decides what runs.
    fn config(&self) -> Vec<(&'static str, String)> {
        vec![
            ("core.hooksPath", "/dev/null".to_string()),
            (
                "http.receivepack",
                (self.push && self.repo == Repo::Base).to_string(),
            ),
            ("http.uploadpack", "true".to_string()),
            ("receive.maxInputSize", MAX_PUSH_BYTES.to_string()),
            ("receive.denyNonFastForwards", "true".to_string()),
            ("receive.denyDeletes", "true".to_string()),
            ("receive.fsckObjects", "true".to_string()),
            ("safe.directory", "*".to_string()),
        ]
    }

    async fn run(self, request: Request) -> std::io::Result<Response> {
        let (parts, body) = request.into_parts();
        let parent = self.root.parent().unwrap_or(&self.root).to_path_buf();
        let mut command = tokio::process::Command::new("git");
        command
            .arg("http-backend")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("GIT_PROJECT_ROOT", &parent)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("HOME", &parent)
            .env("PATH_INFO", format!("/{}/{}", self.repo.name(), self.rest))
            .env("REQUEST_METHOD", parts.method.as_str())
            .env("QUERY_STRING", &self.query)
            .env("REMOTE_USER", &self.user)
            .env("REMOTE_ADDR", self.client.to_string())
            .env("GATEWAY_INTERFACE", "CGI/1.1")
            .current_dir(&parent)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let config = self.config();
        command.env("GIT_CONFIG_COUNT", config.len().to_string());
        for (i, (key, value)) in config.iter().enumerate() {
            command.env(format!("GIT_CONFIG_KEY_{i}"), key);
            command.env(format!("GIT_CONFIG_VALUE_{i}"), value);
        }
        for (name, var) in [
            (header::CONTENT_TYPE, "CONTENT_TYPE"),
            (header::CONTENT_LENGTH, "CONTENT_LENGTH"),
            (header::CONTENT_ENCODING, "HTTP_CONTENT_ENCODING"),
        ] {
            if let Some(value) = parts.headers.get(name).and_then(|v| v.to_str().ok()) {
                command.env(var, value);
            }
        }
        if let Some(protocol) = parts
            .headers
            .get("git-protocol")
            .and_then(|v| v.to_str().ok())
        {
            command.env("GIT_PROTOCOL", protocol);
        }
        let mut child = command.spawn()?;
        let pid = child.id();
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        // The request body streams into git as it arrives; a client that stops sending ends
        // the run at the time limit.
        tokio::spawn(async move {
            let mut body = StreamReader::new(
                body.into_data_stream()
                    .map_err(|e| std::io::Error::other(e.to_string())),
            );
            let _ = tokio::io::copy(&mut body, &mut stdin).await;
            let _ = stdin.shutdown().await;
        });
        let repo = self.repo.name();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(repo, "git: {line}");
            }
        });
        // Reap the child, killing its whole group at the time limit.
        tokio::spawn(async move {
            match tokio::time::timeout(TIME_LIMIT, child.wait()).await {
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(repo, "git http-backend ran past its time limit; killed");
                    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                        // SAFETY: signalling a process group we started has no preconditions.
                        unsafe {
                            libc::kill(-pid, libc::SIGKILL);
                        }
                    }
                    let _ = child.wait().await;
                }
            }
        });
        let mut out = BufReader::new(stdout);
        let mut builder = Response::builder().status(StatusCode::OK);
        loop {
            let mut line = String::new();
            if out.read_line(&mut line).await? == 0 {
                return Err(std::io::Error::other("git ended before its headers"));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("status") {
                let code = value
                    .split_whitespace()
                    .next()
                    .and_then(|c| c.parse::<u16>().ok())
                    .and_then(|c| StatusCode::from_u16(c).ok())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                builder = builder.status(code);
            } else if let Ok(value) = HeaderValue::from_str(value) {
                builder = builder.header(name, value);
            }
        }
        builder
            .body(Body::from_stream(ReaderStream::new(out)))
            .map_err(std::io::Error::other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_smart_protocol_paths_are_served() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(
            service(&get, "info/refs", Some("service=git-upload-pack")),
            Some(Service::Read)
        );
        assert_eq!(
            service(&get, "info/refs", Some("service=git-receive-pack")),
            Some(Service::Write)
        );
        assert_eq!(
            service(&post, "git-receive-pack", None),
            Some(Service::Write)
        );
        assert_eq!(service(&get, "info/refs", None), None, "the dumb protocol");
        assert_eq!(service(&get, "objects/info/packs", None), None);
        assert_eq!(service(&get, "../../etc/passwd", None), None);
        assert_eq!(service(&get, "git-upload-pack", None), None);
    }

    #[test]
    fn students_read_the_base_and_nothing_else() {
        assert!(allowed(Repo::Base, Service::Read, Role::Student));
        assert!(!allowed(Repo::Base, Service::Write, Role::Student));
        assert!(allowed(Repo::Base, Service::Write, Role::Instructor));
        assert!(!allowed(Repo::Grading, Service::Read, Role::Student));
        assert!(allowed(Repo::Grading, Service::Read, Role::Instructor));
        assert!(!allowed(Repo::Grading, Service::Write, Role::Instructor));
    }

    #[test]
    fn basic_credentials_are_decoded() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic YWxpY2U6cHc6d2l0aDpjb2xvbnM="),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("alice".into(), "pw:with:colons".into()))
        );
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(basic_credentials(&headers), None);
    }
}
