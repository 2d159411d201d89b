//! Security headers on every response (and HSTS on those sent over HTTPS), and the static
//! assets compiled into the binary.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The one stylesheet; no external assets, so the CSP can stay at `'self'`.
const STYLE_CSS: &str = include_str!("../static/style.css");

/// Adds the headers that make injected markup and framing harmless (SPEC §11).
pub async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    // Pages show per-user data: keep them out of shared caches.
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// `Strict-Transport-Security` on every response sent over HTTPS (`[web] tls = true`): once a
/// browser has reached the site over HTTPS it never falls back to plain HTTP, where the session
/// cookie and passwords could be read or the redirect to HTTPS stripped. Not `includeSubDomains`:
/// other hosts under the course's hostname are not coursemail's to commit. Browsers ignore the
/// header over plain HTTP and over a certificate they do not trust (the self-signed default),
/// so it commits nobody before a real certificate is in place.
pub async fn strict_transport(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        // One year, the common choice and what preload lists ask for.
        HeaderValue::from_static("max-age=31536000"),
    );
    response
}

/// `GET /static/style.css`.
pub async fn style() -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE_CSS,
    )
        .into_response()
}
