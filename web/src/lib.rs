//! coursemail's web dashboard (SPEC §11): students register, log in, see their submissions,
//! findings, reviewees and grades and use their oopsie; instructors manage the roster and
//! assignments, inspect submissions, lift restrictions, enter grades and export the gradebook.
//!
//! The web never writes the journal (SPEC §3): lifting a restriction or triggering a deadline
//! records a request in `course.db` that denis carries out.
//!
//! # Layout
//! - [`state`]: [`AppState`] (databases, login checker, [`Site`] settings) and the blocking-pool
//!   helper every handler uses for SQLite and argon2.
//! - [`error`]: [`WebError`] and the one place errors become responses.
//! - [`session`]: the session cookie and the [`session::CurrentUser`] / [`session::Instructor`]
//!   extractors.
//! - [`csrf`]: CSRF token comparison and the pre-login double-submit token.
//! - [`redirect`]: local-only `?next=` targets (pure).
//! - [`security`]: security headers on every response; the stylesheet built into the binary.
//! - [`view`]: the navigation bar and time formatting (pure).
//! - [`chart`]: the grade-distribution chart as server-rendered SVG (pure).
//! - [`routes`]: the router; `auth` (login, logout, register, password), `student`
//!   (dashboard, activity, oopsie), `setup` (mail client settings, autoconfig), `instructor`,
//!   `internal` (the credentials check for submatrix).

#![warn(missing_docs)]

pub mod chart;
pub mod csrf;
pub mod error;
pub mod redirect;
pub mod routes;
pub mod security;
pub mod session;
pub mod state;
pub mod view;

use std::future::Future;
use std::net::SocketAddr;

use net::CancellationToken;

pub use error::WebError;
pub use routes::router;
pub use state::{AppState, Site};

/// Serves the dashboard on `listener` until `shutdown` resolves; in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A bound dashboard listener, ready to [`run`](WebServer::run).
#[derive(Debug)]
pub struct WebServer {
    listener: tokio::net::TcpListener,
    state: AppState,
}

impl WebServer {
    /// Binds `addr` (inside a tokio runtime), so a port clash fails at start-up.
    pub async fn bind(addr: SocketAddr, state: AppState) -> std::io::Result<WebServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        Ok(WebServer { listener, state })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> std::io::Result<()> {
        serve(self.listener, self.state, shutdown.cancelled_owned()).await
    }
}
