//! The routes, one file per area, and the router that joins them (SPEC §11 paths are stable).

pub mod auth;
pub mod docs;
pub mod git;
pub mod instructor;
pub mod internal;
pub mod setup;
pub mod student;

use axum::Router;
use axum::routing::{any, get, post};

use crate::state::AppState;
use crate::{error::WebError, security};

/// Unknown paths.
async fn not_found() -> WebError {
    WebError::NotFound
}

/// Every route of the dashboard, `POST /internal/check` included: for a web without an
/// internal listener, where the check believes a forwarded address from loopback callers only.
pub fn router(state: AppState) -> Router {
    finish(
        pages().route("/internal/check", post(internal::check)),
        state,
    )
}

/// The dashboard of a web with an internal listener: every route but `/internal/`, which is
/// answered 404 here so the password oracle is never published with the pages.
pub fn dashboard_router(state: AppState) -> Router {
    finish(pages(), state)
}

/// The internal listener's one route, `POST /internal/check`, believing the forwarded address
/// of any caller: only the chat server can reach this listener, so the network vouches for it.
pub fn internal_router(state: AppState) -> Router {
    finish(
        Router::new().route(
            "/internal/check",
            post(internal::check_on_internal_listener),
        ),
        state,
    )
}

/// The pages students and instructors see (SPEC §11 paths).
fn pages() -> Router<AppState> {
    Router::new()
        .route("/", get(docs::home))
        .route("/docs/{*path}", get(docs::doc))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/register", get(auth::register_form).post(auth::register))
        .route(
            "/password",
            get(auth::password_form).post(auth::change_password),
        )
        .route("/password/sessions", post(auth::end_other_sessions))
        .route("/dashboard", get(student::dashboard))
        .route("/activity", get(student::activity))
        .route(
            "/oopsie/{assignment}",
            get(student::oopsie_confirm).post(student::oopsie_use),
        )
        .route("/setup", get(setup::setup))
        .route("/setup/cert.pem", get(setup::certificate))
        .route("/setup/gitconfig", get(setup::gitconfig_file))
        .route(
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            get(setup::autoconfig),
        )
        .route("/mail/config-v1.1.xml", get(setup::autoconfig))
        .route("/.well-known/matrix/client", get(setup::matrix_client))
        .route("/.well-known/matrix/server", get(setup::matrix_server))
        .route("/static/style.css", get(security::style))
        .route("/git/{repo}/{*rest}", any(git::serve))
        .merge(instructor::router())
}

/// `routes` with 404 for every other path and the security headers on every response.
fn finish(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(not_found)
        .layer(axum::middleware::from_fn(security::headers))
        .with_state(state)
}
