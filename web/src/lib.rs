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
//! - [`proxy`]: [`TrustedProxies`] and the client address behind them, read from
//!   `X-Forwarded-For` (pure).
//! - [`security`]: security headers on every response; the stylesheet built into the binary.
//! - [`view`]: the navigation bar and time formatting (pure).
//! - [`chart`]: the grade-distribution chart as server-rendered SVG (pure).
//! - [`tls`]: HTTPS without a proxy: a listener that completes TLS handshakes off the accept path.
//! - [`routes`]: the routers; `auth` (login, logout, register, password), `student`
//!   (dashboard, activity, oopsie), `setup` (mail client settings, autoconfig), `instructor`,
//!   `internal` (the credentials check for submatrix).
//!
//! [`WebServer`] serves the dashboard on one listener, and the credentials check either there or,
//! with [`WebServer::with_internal_listener`], on a second listener of its own (`[web]
//! internal_listen`) so that publishing the dashboard never publishes the check.

#![warn(missing_docs)]

pub mod chart;
pub mod csrf;
pub mod error;
pub mod proxy;
pub mod redirect;
pub mod routes;
pub mod security;
pub mod session;
pub mod state;
pub mod tls;
pub mod view;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::serve::ListenerExt;
use net::{CancellationToken, TlsAcceptor};

pub use error::WebError;
pub use proxy::TrustedProxies;
pub use routes::{dashboard_router, internal_router, router};
pub use state::{AppState, Site};

/// Serves `app` (one of the [`routes`] routers) on `listener` until `shutdown` resolves;
/// in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves `app` over TLS on `listener` until `shutdown` resolves.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // `tap_io` also gives the listener axum's `ConnectInfo<SocketAddr>` (the register and login
    // throttles key on the client address); no delay on small responses is worth having anyway.
    let listener = tls::TlsListener::new(listener, acceptor).tap_io(|tls| {
        if let Err(e) = tls.get_ref().0.set_nodelay(true) {
            tracing::debug!(error = %e, "web: cannot set TCP_NODELAY");
        }
    });
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves `app` on `listener`, over TLS when given an acceptor, until `shutdown` is cancelled.
async fn serve_until(
    listener: tokio::net::TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let shutdown = shutdown.cancelled_owned();
    match tls {
        Some(acceptor) => serve_tls(listener, acceptor, app, shutdown).await,
        None => serve(listener, app, shutdown).await,
    }
}

/// The bound dashboard listener, and the internal one if any, ready to
/// [`run`](WebServer::run).
pub struct WebServer {
    listener: tokio::net::TcpListener,
    internal: Option<tokio::net::TcpListener>,
    state: AppState,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for WebServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The TLS acceptor holds key material and has no Debug of its own.
        f.debug_struct("WebServer")
            .field("listener", &self.listener)
            .field("internal", &self.internal)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl WebServer {
    /// Binds `addr` (inside a tokio runtime), so a port clash fails at start-up. It serves plain
    /// HTTP unless [`with_tls`](WebServer::with_tls) is called, and the credentials check along
    /// with the pages unless
    /// [`with_internal_listener`](WebServer::with_internal_listener) is.
    pub async fn bind(addr: SocketAddr, state: AppState) -> std::io::Result<WebServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        Ok(WebServer {
            listener,
            internal: None,
            state,
            tls: None,
        })
    }

    /// Binds `addr` as well, for `POST /internal/check` alone ([`internal_router`]); the
    /// dashboard's listener then answers 404 for `/internal/`. Bind it where only the chat
    /// server can connect: its callers' forwarded addresses are believed.
    pub async fn with_internal_listener(mut self, addr: SocketAddr) -> std::io::Result<WebServer> {
        self.internal = Some(tokio::net::TcpListener::bind(addr).await?);
        Ok(self)
    }

    /// Serves HTTPS with `acceptor` (net's certificate) instead of plain HTTP, on both
    /// listeners.
    pub fn with_tls(mut self, acceptor: TlsAcceptor) -> WebServer {
        self.tls = Some(acceptor);
        self
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Where the dashboard listens.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where the credentials check listens, when it has a listener of its own.
    pub fn internal_addr(&self) -> std::io::Result<Option<SocketAddr>> {
        self.internal
            .as_ref()
            .map(tokio::net::TcpListener::local_addr)
            .transpose()
    }

    /// Serves until `shutdown` is cancelled. If either listener fails, the other stops too and
    /// the error is returned: the service stops as a whole rather than running half.
    pub async fn run(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let Some(internal) = self.internal else {
            let app = router(self.state);
            return serve_until(self.listener, self.tls, app, shutdown).await;
        };
        let pages = dashboard_router(self.state.clone());
        let check = internal_router(self.state);
        tokio::try_join!(
            serve_until(self.listener, self.tls.clone(), pages, shutdown.clone()),
            serve_until(internal, self.tls, check, shutdown),
        )
        .map(|((), ())| ())
    }
}
