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
//! - [`extract`]: form and query extractors whose rejections are [`WebError`]s.
//! - [`session`]: the session cookie and the [`session::CurrentUser`] / [`session::Instructor`]
//!   extractors.
//! - [`csrf`]: CSRF token comparison and the pre-login double-submit token.
//! - [`redirect`]: local-only `?next=` targets (pure).
//! - [`proxy`]: [`TrustedProxies`] and the client address behind them, read from
//!   `X-Forwarded-For` (pure).
//! - [`security`]: security headers on every response, HSTS over HTTPS; the stylesheet built
//!   into the binary.
//! - [`view`]: the navigation bar and time formatting (pure).
//! - [`chart`]: the grade-distribution chart as server-rendered SVG (pure).
//! - [`tls`]: HTTPS without a proxy: a listener that completes TLS handshakes off the accept path.
//! - [`https_redirect`]: the plain-HTTP listener that sends every request to the HTTPS dashboard
//!   on the configured hostname.
//! - [`routes`]: the routers; `auth` (login, logout, register, password), `student`
//!   (dashboard, activity, oopsie), `setup` (mail client settings, autoconfig), `instructor`,
//!   `internal` (the credentials check for submatrix), `git` (the course's repositories over
//!   git's smart HTTP, through `git http-backend`).
//!
//! [`WebServer`] serves the dashboard on one listener, and the credentials check either there or,
//! with [`WebServer::with_internal_listener`], on a second listener of its own (`[web]
//! internal_listen`) so that publishing the dashboard never publishes the check. With
//! [`WebServer::with_redirect_listener`] (`[web] redirect_listen`, port 80) a third, plain-HTTP
//! listener redirects browsers that typed `http://` to the HTTPS dashboard.

#![warn(missing_docs)]

pub mod chart;
pub mod csrf;
pub mod error;
pub mod extract;
pub mod https_redirect;
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
pub use https_redirect::HttpsOrigin;
pub use proxy::TrustedProxies;
pub use routes::{dashboard_router, internal_router, router};
pub use state::{AppState, FindingsPolicy, Site};

/// The file under `tls/` holding the secret the chat server presents to the credentials check.
pub const CHECK_SECRET_FILE: &str = "check.secret";

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

/// Serves `app` over TLS on `listener` until `shutdown` resolves; every response carries
/// `Strict-Transport-Security`.
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
    let app = app
        .layer(axum::middleware::map_response(security::strict_transport))
        .into_make_service_with_connect_info::<SocketAddr>();
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

/// The bound dashboard listener, and the internal and redirect ones if any, ready to
/// [`run`](WebServer::run).
pub struct WebServer {
    listener: tokio::net::TcpListener,
    internal: Option<tokio::net::TcpListener>,
    redirect: Option<(tokio::net::TcpListener, HttpsOrigin)>,
    state: AppState,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for WebServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The TLS acceptor holds key material and has no Debug of its own.
        f.debug_struct("WebServer")
            .field("listener", &self.listener)
            .field("internal", &self.internal)
            .field("redirect", &self.redirect)
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
        Ok(WebServer::from_listener(listener, state))
    }

    /// Like [`bind`](WebServer::bind) on a listener bound already, e.g. to learn the port the
    /// system chose before the site's settings (which show it) are made.
    pub fn from_listener(listener: tokio::net::TcpListener, state: AppState) -> WebServer {
        WebServer {
            listener,
            internal: None,
            redirect: None,
            state,
            tls: None,
        }
    }

    /// Binds `addr` as well, for `POST /internal/check` alone ([`internal_router`]); the
    /// dashboard's listener then answers 404 for `/internal/`. Bind it where only the chat
    /// server can connect: its callers' forwarded addresses are believed.
    pub async fn with_internal_listener(mut self, addr: SocketAddr) -> std::io::Result<WebServer> {
        self.internal = Some(tokio::net::TcpListener::bind(addr).await?);
        Ok(self)
    }

    /// Binds `addr` as well, for plain HTTP that answers every request with a redirect to the
    /// same path on `origin` ([`https_redirect`]). It serves no page itself, so it is safe to
    /// publish; it makes sense beside [`with_tls`](WebServer::with_tls), with `origin` naming
    /// where browsers reach this server's HTTPS.
    pub async fn with_redirect_listener(
        mut self,
        addr: SocketAddr,
        origin: HttpsOrigin,
    ) -> std::io::Result<WebServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        self.redirect = Some((listener, origin));
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

    /// Where the redirect to HTTPS listens and where it sends browsers, when it is set.
    pub fn redirect(&self) -> std::io::Result<Option<(SocketAddr, &HttpsOrigin)>> {
        self.redirect
            .as_ref()
            .map(|(listener, origin)| Ok((listener.local_addr()?, origin)))
            .transpose()
    }

    /// Serves until `shutdown` is cancelled. If any listener fails, the others stop too and
    /// the error is returned: the service stops as a whole rather than running half.
    pub async fn run(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let (pages, check) = match self.internal {
            None => (router(self.state), None),
            Some(internal) => (
                dashboard_router(self.state.clone()),
                Some((internal, internal_router(self.state))),
            ),
        };
        let check = async {
            match check {
                Some((listener, app)) => {
                    serve_until(listener, self.tls.clone(), app, shutdown.clone()).await
                }
                None => Ok(()),
            }
        };
        // Plain HTTP whatever `tls` says: it is the listener for browsers that did not ask for
        // HTTPS.
        let redirect = async {
            match self.redirect {
                Some((listener, origin)) => {
                    let app = https_redirect::router(origin);
                    serve_until(listener, None, app, shutdown.clone()).await
                }
                None => Ok(()),
            }
        };
        let pages = serve_until(self.listener, self.tls.clone(), pages, shutdown.clone());
        tokio::try_join!(pages, check, redirect).map(|((), (), ())| ())
    }
}
