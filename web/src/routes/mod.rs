//! The routes, one file per area, and the router that joins them (SPEC §11 paths are stable).

pub mod auth;
pub mod instructor;
pub mod internal;
pub mod setup;
pub mod student;

use axum::Router;
use axum::response::Redirect;
use axum::routing::{get, post};

use crate::session::CurrentUser;
use crate::state::AppState;
use crate::{error::WebError, security};

/// `GET /`: the dashboard for whoever is logged in.
async fn home(user: CurrentUser) -> Redirect {
    if user.is_instructor() {
        Redirect::to("/instructor/")
    } else {
        Redirect::to("/dashboard")
    }
}

/// Unknown paths.
async fn not_found() -> WebError {
    WebError::NotFound
}

/// Every route of the dashboard, with the security headers applied.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/register", get(auth::register_form).post(auth::register))
        .route(
            "/password",
            get(auth::password_form).post(auth::change_password),
        )
        .route("/dashboard", get(student::dashboard))
        .route("/activity", get(student::activity))
        .route(
            "/oopsie/{assignment}",
            get(student::oopsie_confirm).post(student::oopsie_use),
        )
        .route("/setup", get(setup::setup))
        .route(
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            get(setup::autoconfig),
        )
        .route("/mail/config-v1.1.xml", get(setup::autoconfig))
        .route("/static/style.css", get(security::style))
        .route("/internal/check", post(internal::check))
        .merge(instructor::router())
        .fallback(not_found)
        .layer(axum::middleware::from_fn(security::headers))
        .with_state(state)
}
