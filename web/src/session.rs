//! The session cookie and the extractors that turn it into a logged-in user.
//!
//! The cookie holds the random token only; the accounts database keeps its hash, the user and
//! the session's CSRF secret. `HttpOnly` keeps scripts away from it, `SameSite=Lax` keeps other
//! sites' POSTs from carrying it, `Secure` (behind HTTPS) keeps it off plain HTTP.

use accounts::{Role, WebSession};
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use crate::csrf;
use crate::error::WebError;
use crate::state::{AppState, Site};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "cm_session";

/// The value of cookie `name` in `headers`, if present.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value for `name=value` with the site's security attributes; `max_age`
/// `Some(0)` deletes the cookie.
pub fn set_cookie(site: &Site, name: &str, value: &str, max_age: Option<u64>) -> String {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    if site.secure_cookies {
        cookie.push_str("; Secure");
    }
    cookie
}

/// A logged-in user (any role). Rejects with a redirect to the login page.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// The session and its user.
    pub session: WebSession,
    /// The cookie token (needed to log out).
    pub token: String,
}

impl CurrentUser {
    /// Checks a submitted form's CSRF field against this session's secret.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), WebError> {
        if csrf::matches(&self.session.csrf_token, submitted) {
            Ok(())
        } else {
            Err(WebError::Csrf)
        }
    }

    /// The user's name.
    pub fn username(&self) -> &accounts::Username {
        &self.session.user.username
    }

    /// Whether the user is an instructor.
    pub fn is_instructor(&self) -> bool {
        self.session.user.role == Role::Instructor
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        // The original URI: inside a nested router `parts.uri` has lost its prefix.
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(&parts.uri, |o| &o.0);
        let next = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).map(str::to_string) else {
            return Err(WebError::LoginRequired { next });
        };
        let lookup = token.clone();
        let session = state
            .blocking(move |s| Ok(s.accounts.session(&lookup)?))
            .await?;
        match session {
            Some(session) => Ok(CurrentUser { session, token }),
            None => Err(WebError::LoginRequired { next }),
        }
    }
}

/// Pages anyone may see (the course site) know who is logged in, if anyone.
impl axum::extract::OptionalFromRequestParts<AppState> for CurrentUser {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, WebError> {
        match <CurrentUser as FromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(user) => Ok(Some(user)),
            Err(WebError::LoginRequired { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A logged-in instructor; a student gets 403.
#[derive(Debug, Clone)]
pub struct Instructor(pub CurrentUser);

impl FromRequestParts<AppState> for Instructor {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if user.is_instructor() {
            Ok(Instructor(user))
        } else {
            Err(WebError::Forbidden)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; cm_session=tok; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn secure_attribute_only_behind_https() {
        let mut site = Site::local("localhost");
        assert!(!set_cookie(&site, "n", "v", None).contains("Secure"));
        site.secure_cookies = true;
        let cookie = set_cookie(&site, "n", "v", Some(0));
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        assert!(cookie.ends_with("Max-Age=0; Secure"));
    }
}
