//! The plain-HTTP listener that sends browsers to the HTTPS dashboard (`[web] redirect_listen`,
//! port 80 in containers): every request, whatever its method, gets `308 Permanent Redirect` to
//! the same path and query on `https://HOSTNAME[:PORT]/`.
//!
//! The target's host is the configured hostname, never the request's `Host` header, so this
//! listener cannot be made into an open redirect or poisoned through `Host`. [`HttpsOrigin`] is
//! pure; [`router`] is the axum side. (Not to be confused with [`crate::redirect`], which vets
//! the login form's `?next=` targets.)

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::security;

/// `https://HOSTNAME[:PORT]`: where the dashboard is served, and the only place this listener
/// ever sends anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsOrigin(String);

/// The hostname cannot appear in an `https://` URL as it is.
#[derive(Debug, thiserror::Error)]
#[error(
    "hostname {0:?} cannot be the host of the HTTPS redirect: set `hostname` to a DNS name \
     (letters, digits, '.' and '-')"
)]
pub struct InvalidHostname(String);

impl HttpsOrigin {
    /// The origin of the dashboard at `hostname` on `port`; the port is left out when it is
    /// 443, the one browsers assume.
    pub fn new(hostname: &str, port: u16) -> Result<HttpsOrigin, InvalidHostname> {
        // Only DNS-name characters: the origin goes into every Location header verbatim, so
        // anything else (':', '@', '/', spaces) could change where browsers go or break the
        // header.
        let valid = !hostname.is_empty()
            && hostname
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !valid {
            return Err(InvalidHostname(hostname.to_string()));
        }
        Ok(HttpsOrigin(match port {
            443 => format!("https://{hostname}"),
            _ => format!("https://{hostname}:{port}"),
        }))
    }

    /// The origin as text, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where a request for `target` (its path and query) is sent: the same path and query on
    /// this origin, or the site's root when `target` is not an origin-form target (RFC 9112
    /// §3.2.1: it starts with '/') of visible ASCII.
    pub fn location(&self, target: &str) -> String {
        // Visible ASCII only: no space, CR or LF can reach the Location header, so nothing a
        // client sends can split the response or add a header.
        let origin_form = target.starts_with('/') && target.bytes().all(|b| b.is_ascii_graphic());
        let target = if origin_form { target } else { "/" };
        format!("{}{target}", self.0)
    }
}

impl std::fmt::Display for HttpsOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The redirect listener's router: one fallback answering every method and path, with the
/// security headers every other response carries (no HSTS: browsers ignore it over plain HTTP).
pub fn router(origin: HttpsOrigin) -> Router {
    Router::new()
        .fallback(redirect)
        .layer(axum::middleware::from_fn(security::headers))
        .with_state(Arc::new(origin))
}

/// Any request: 308, which unlike 301 keeps the method and body, so a form posted to
/// `http://` is posted again to `https://` rather than turned into a GET.
async fn redirect(State(origin): State<Arc<HttpsOrigin>>, uri: Uri) -> Response {
    // Only the path and query are used: an absolute-form target (`GET http://elsewhere/x`)
    // keeps its path, and its authority is ignored like the Host header.
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let location = origin.location(target);
    // `security::headers` adds `Cache-Control: no-store`, which also keeps browsers from
    // caching the permanent redirect forever if the site ever moves.
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, location.clone())],
        format!("The dashboard is at {location}\n"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(port: u16) -> HttpsOrigin {
        HttpsOrigin::new("mail.example", port).unwrap()
    }

    #[test]
    fn the_standard_https_port_is_left_out() {
        assert_eq!(origin(443).as_str(), "https://mail.example");
        assert_eq!(origin(8443).as_str(), "https://mail.example:8443");
    }

    #[test]
    fn path_and_query_are_kept_as_they_came() {
        assert_eq!(
            origin(443).location("/login?next=%2Fdashboard&x=1"),
            "https://mail.example/login?next=%2Fdashboard&x=1"
        );
        assert_eq!(origin(8443).location("/"), "https://mail.example:8443/");
    }

    #[test]
    fn a_target_that_is_not_origin_form_goes_to_the_root() {
        for target in [
            "",
            "*",
            "mail.example:443",
            "evil.example/x",
            "/a b",
            "/a\r\nSet-Cookie: x",
            "/é",
        ] {
            assert_eq!(
                origin(443).location(target),
                "https://mail.example/",
                "{target:?}"
            );
        }
    }

    #[test]
    fn a_double_slash_path_stays_on_the_site() {
        // `//evil.example` would be protocol-relative on its own; after the origin it is a path.
        assert_eq!(
            origin(443).location("//evil.example/x"),
            "https://mail.example//evil.example/x"
        );
    }

    #[test]
    fn a_hostname_that_would_change_the_url_is_refused() {
        for hostname in [
            "",
            "evil.example@mail.example",
            "mail.example:80",
            "a/b",
            "a b",
            "a\r\n",
        ] {
            assert!(HttpsOrigin::new(hostname, 443).is_err(), "{hostname:?}");
        }
        assert!(HttpsOrigin::new("localhost", 443).is_ok());
    }
}
