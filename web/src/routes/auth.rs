//! Logging in and out, registering with a student id, changing the password (SPEC §11).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use accounts::{Admission, AuthOutcome, Role};
use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::csrf;
use crate::error::WebError;
use crate::extract::{Form, Query};
use crate::redirect::{DEFAULT_NEXT, safe_next};
use crate::session::{CurrentUser, SESSION_COOKIE, cookie, set_cookie};
use crate::state::AppState;
use crate::view::{self, Nav};

/// One message for unknown users and wrong passwords, so the form does not reveal who exists.
const REJECTED: &str = "Wrong username or password.";

/// Shown while an address is refused after too many unknown student ids.
const REGISTER_THROTTLED: &str =
    "Too many unknown student ids from your network. Wait a few minutes, then try again.";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Nav,
    csrf: String,
    next: String,
    username: String,
    error: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    nav: Nav,
    csrf: String,
    error: Option<String>,
    username: String,
    password: Option<String>,
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    nav: Nav,
    error: Option<String>,
    changed: bool,
    /// The user's web sessions: (created, last used, address, this one).
    sessions: Vec<(String, String, String, bool)>,
    /// How many other sessions were just ended.
    ended: Option<usize>,
}

/// Query of `GET /login`.
#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Form of `POST /login`.
#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    csrf: String,
}

/// Form of `POST /register`.
#[derive(Deserialize)]
pub struct RegisterForm {
    student_id: String,
    #[serde(default)]
    csrf: String,
}

/// Form of `POST /password`.
#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
    #[serde(default)]
    csrf: String,
}

/// A form with only its CSRF token (logout, simple buttons).
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    /// The token.
    #[serde(default)]
    pub csrf: String,
}

/// The client's address, for throttling: the TCP peer, or behind a trusted reverse proxy the
/// address it forwards ([`TrustedProxies::client`](crate::proxy::TrustedProxies::client)).
/// Requests without a socket (tests) come from one anonymous peer.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let proxies = &state.0.site.trusted_proxies;
        Ok(ClientIp(proxies.client(peer, &parts.headers)))
    }
}

/// The pre-login CSRF token: the visitor's cookie if this server issued it, or a fresh one to
/// set (a planted or stale cookie is replaced, never believed).
fn anon_token(state: &AppState, headers: &HeaderMap) -> (String, bool) {
    let name = csrf::anon_cookie(state.0.site.secure_cookies);
    match cookie(headers, name) {
        Some(token) if csrf::is_issued(token) => (token.to_string(), false),
        _ => (csrf::issue_anon_token(), true),
    }
}

/// Renders `page` with status `status`, setting the pre-login CSRF cookie when it is new.
fn with_anon_cookie(
    state: &AppState,
    status: StatusCode,
    page: impl Template,
    token: &str,
    fresh: bool,
) -> Result<Response, WebError> {
    let mut response = (status, Html(page.render()?)).into_response();
    if fresh {
        let name = csrf::anon_cookie(state.0.site.secure_cookies);
        let value = set_cookie(&state.0.site, name, token, None);
        if let Ok(value) = value.parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// `GET /login`.
pub async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Result<Response, WebError> {
    let (token, fresh) = anon_token(&state, &headers);
    // No target stays empty (not DEFAULT_NEXT): `login` then picks the account's own home,
    // so an instructor using the plain login form lands on the instructor pages.
    let next = query.next.as_deref().and_then(safe_next).unwrap_or("");
    let page = LoginPage {
        nav: Nav::anonymous(),
        csrf: token.clone(),
        next: next.to_string(),
        username: String::new(),
        error: None,
    };
    with_anon_cookie(&state, StatusCode::OK, page, &token, fresh)
}

/// `POST /login`: throttled password check, then a new session and a redirect to `next`.
pub async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let (token, fresh) = anon_token(&state, &headers);
    if fresh || !csrf::matches(&token, &form.csrf) {
        return Err(WebError::Csrf);
    }
    let outcome = state
        .0
        .auth
        .authenticate(client, form.username.trim(), &form.password)
        .await?;
    let (status, error) = match outcome {
        AuthOutcome::Accepted(user) => {
            let ttl = state.0.site.session_ttl;
            let name = user.username.clone();
            let session = state
                .blocking(move |s| Ok(s.accounts.create_session_from(&name, ttl, Some(client))?))
                .await?;
            tracing::info!(user = %user.username, "web login");
            let next = match safe_next(&form.next) {
                Some(next) => next,
                None if user.role == Role::Instructor => "/instructor/",
                None => DEFAULT_NEXT,
            };
            let cookie = set_cookie(
                &state.0.site,
                SESSION_COOKIE,
                session.as_str(),
                Some(ttl.as_secs()),
            );
            return Ok(([(header::SET_COOKIE, cookie)], Redirect::to(next)).into_response());
        }
        AuthOutcome::Rejected => (StatusCode::UNAUTHORIZED, REJECTED),
        AuthOutcome::Throttled => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts. Wait a few minutes before trying again.",
        ),
    };
    let page = LoginPage {
        nav: Nav::anonymous(),
        csrf: token.clone(),
        next: safe_next(&form.next).unwrap_or("").to_string(),
        username: form.username,
        error: Some(error),
    };
    with_anon_cookie(&state, status, page, &token, false)
}

/// `POST /logout`.
pub async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    let token = user.token.clone();
    state
        .blocking(move |s| Ok(s.accounts.delete_session(&token)?))
        .await?;
    let cookie = set_cookie(&state.0.site, SESSION_COOKIE, "", Some(0));
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response())
}

/// `GET /register`.
pub async fn register_form(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let (token, fresh) = anon_token(&state, &headers);
    let page = RegisterPage {
        nav: Nav::anonymous(),
        csrf: token.clone(),
        error: None,
        username: String::new(),
        password: None,
    };
    with_anon_cookie(&state, StatusCode::OK, page, &token, fresh)
}

/// `POST /register`: a student awaiting registration gets a one-time generated password,
/// shown once (only its hash is stored).
pub async fn register(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Form(form): Form<RegisterForm>,
) -> Result<Response, WebError> {
    let (token, fresh) = anon_token(&state, &headers);
    if fresh || !csrf::matches(&token, &form.csrf) {
        return Err(WebError::Csrf);
    }
    // Counted per address and, on one key for every attempt, across all addresses: guesses from
    // rotating addresses share one budget (`ThrottleConfig::registration`), so scanning an id
    // range runs at about a guess a minute, from one address or a thousand.
    match state.0.register_throttle.reserve(client, REGISTRATION_KEY) {
        Admission::Wait(delay) => tokio::time::sleep(delay).await,
        Admission::Refuse => {
            let page = RegisterPage {
                nav: Nav::anonymous(),
                csrf: token.clone(),
                error: Some(REGISTER_THROTTLED.into()),
                username: String::new(),
                password: None,
            };
            return with_anon_cookie(&state, StatusCode::TOO_MANY_REQUESTS, page, &token, false);
        }
    }
    let student_id = form.student_id;
    let registered = state
        .blocking(move |s| {
            let Ok(id) = accounts::user::normalize_student_id(&student_id) else {
                return Ok(None);
            };
            let Some(user) = s.accounts.find_by_student_id(&id)? else {
                return Ok(None);
            };
            if user.has_password || user.role != Role::Student {
                return Ok(None);
            }
            let password = accounts::generate_password();
            // Set only if still unset: of two registrations racing with the same id, one wins.
            if !s.accounts.register(&user.username, &password)? {
                return Ok(None);
            }
            tracing::info!(user = %user.username, "registered on the web");
            Ok(Some((user.username.to_string(), password)))
        })
        .await?;
    let (status, page) = match registered {
        Some((username, password)) => {
            // A right id spends nothing (and makes no address "known" for the next guesses).
            state.0.register_throttle.abandon(client, REGISTRATION_KEY);
            (
                StatusCode::OK,
                RegisterPage {
                    nav: Nav::anonymous(),
                    csrf: token.clone(),
                    error: None,
                    username,
                    password: Some(password),
                },
            )
        }
        None => {
            state.0.register_throttle.failure(client, REGISTRATION_KEY);
            (
                StatusCode::BAD_REQUEST,
                RegisterPage {
                    nav: Nav::anonymous(),
                    csrf: token.clone(),
                    error: Some(
                        "No account awaiting registration has this student id. Check it, or ask \
                     your instructor (who can also reset a password you lost)."
                            .into(),
                    ),
                    username: String::new(),
                    password: None,
                },
            )
        }
    };
    with_anon_cookie(&state, status, page, &token, false)
}

/// The one account key every registration attempt is counted under, whatever its address.
const REGISTRATION_KEY: &str = "registration";

/// The rows of the password page's session list for `user`.
async fn session_rows(
    state: &AppState,
    user: &CurrentUser,
) -> Result<Vec<(String, String, String, bool)>, WebError> {
    let me = user.username().clone();
    let current = accounts::sessions::token_id(&user.token);
    let sessions = state
        .blocking(move |s| Ok(s.accounts.sessions_of(&me)?))
        .await?;
    Ok(sessions
        .into_iter()
        .map(|x| {
            let this = x.id == current;
            (
                view::seconds(x.created_at),
                view::seconds(x.last_used_at),
                x.client.unwrap_or_else(|| "-".to_string()),
                this,
            )
        })
        .collect())
}

/// `GET /password`: the password form and the user's sessions.
pub async fn password_form(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Html<String>, WebError> {
    let page = PasswordPage {
        nav: Nav::of(&user),
        error: None,
        changed: false,
        sessions: session_rows(&state, &user).await?,
        ended: None,
    };
    Ok(Html(page.render()?))
}

/// `POST /password/sessions`: ends every other session of the user (a forgotten computer in
/// a lab), keeping this one.
pub async fn end_other_sessions(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(form): Form<CsrfForm>,
) -> Result<Html<String>, WebError> {
    user.check_csrf(&form.csrf)?;
    let me = user.username().clone();
    let keep = user.token.clone();
    let ended = state
        .blocking(move |s| Ok(s.accounts.end_sessions(&me, Some(&keep))?))
        .await?;
    tracing::info!(user = %user.username(), ended, "other web sessions ended");
    let page = PasswordPage {
        nav: Nav::of(&user),
        error: None,
        changed: false,
        sessions: session_rows(&state, &user).await?,
        ended: Some(ended),
    };
    Ok(Html(page.render()?))
}

/// `POST /password`: the current password is checked through the throttled authenticator.
pub async fn change_password(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    user: CurrentUser,
    Form(form): Form<PasswordForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    let name = user.username().clone();
    let current = user.token.clone();
    let outcome = state
        .0
        .auth
        .authenticate(client, name.as_str(), &form.current)
        .await?;
    let error = match outcome {
        AuthOutcome::Accepted(_) if form.new != form.confirm => {
            Some("The two new passwords differ.".to_string())
        }
        AuthOutcome::Accepted(_) => {
            let new = form.new;
            state
                .blocking(
                    move |s| match accounts::password::check_new_password(&new) {
                        Err(e) => Ok(Some(e.to_string())),
                        Ok(()) => {
                            // Every other session ends: one opened with the old password
                            // (a stolen cookie) must not outlive it.
                            s.accounts.change_password(&name, &new, &current)?;
                            Ok(None)
                        }
                    },
                )
                .await?
        }
        AuthOutcome::Rejected => Some("The current password is wrong.".to_string()),
        AuthOutcome::Throttled => Some("Too many failed attempts. Wait a few minutes.".into()),
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = PasswordPage {
        nav: Nav::of(&user),
        changed: error.is_none(),
        error,
        sessions: session_rows(&state, &user).await?,
        ended: None,
    };
    Ok((status, Html(page.render()?)).into_response())
}
