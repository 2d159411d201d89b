//! Typed errors and the one place they become HTTP responses.
//!
//! Internal failures (a broken database, a template bug) are logged in full and shown to the
//! browser as a short generic page: details of the server's state are not the visitor's business.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::view::Nav;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// No valid session: the visitor is sent to the login page, then back to `next`.
    #[error("log in to see this page")]
    LoginRequired {
        /// The local path to come back to.
        next: String,
    },
    /// Logged in, but the page is for instructors (or someone else's data).
    #[error("this page is not for your account")]
    Forbidden,
    /// No such page, submission or user.
    #[error("not found")]
    NotFound,
    /// The form's CSRF token is missing or does not belong to this session.
    #[error("the form expired or did not come from this site; reload the page and try again")]
    Csrf,
    /// The request was understood but cannot be carried out; the message says why.
    #[error("{0}")]
    BadRequest(String),
    /// The accounts database failed.
    #[error(transparent)]
    Accounts(#[from] accounts::AccountsError),
    /// The course database failed.
    #[error(transparent)]
    Course(#[from] denis::CourseDbError),
    /// Grades could not be read or written.
    #[error(transparent)]
    Grade(#[from] denis::GradeError),
    /// A stored message could not be read.
    #[error("cannot read a stored message: {0}")]
    Io(#[from] std::io::Error),
    /// A template failed to render (a bug).
    #[error("page rendering failed: {0}")]
    Template(#[from] askama::Error),
    /// A blocking task was cancelled or panicked.
    #[error("request interrupted: {0}")]
    Interrupted(String),
}

impl WebError {
    /// The status code this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::LoginRequired { .. } => StatusCode::SEE_OTHER,
            WebError::Forbidden | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Accounts(_)
            | WebError::Course(_)
            | WebError::Grade(_)
            | WebError::Io(_)
            | WebError::Template(_)
            | WebError::Interrupted(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: Nav,
    status: u16,
    /// What went wrong in words, as the page's heading.
    title: &'static str,
    message: String,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if let WebError::LoginRequired { next } = &self {
            return Redirect::to(&crate::redirect::login_url(next)).into_response();
        }
        let status = self.status();
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            "Something went wrong on the server. Try again in a minute; if it keeps happening, \
             tell your instructor."
                .to_string()
        } else {
            self.to_string()
        };
        let title = match status {
            StatusCode::BAD_REQUEST => "That did not work",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            _ => "Something went wrong",
        };
        let page = ErrorPage {
            nav: Nav::anonymous(),
            status: status.as_u16(),
            title,
            message,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "error page rendering failed");
                (status, [(header::CONTENT_TYPE, "text/plain")], "error").into_response()
            }
        }
    }
}
