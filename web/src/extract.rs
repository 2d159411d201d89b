//! Form and query extractors whose rejections are [`WebError`]s: a missing or malformed field
//! answers with the site's readable 400 page, like every other mistake, instead of axum's
//! plain-text rejection (axum's `WithRejection` pattern, specialised to this app's error type).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::WebError;

/// A form body (`application/x-www-form-urlencoded`); see the module doc.
#[derive(Debug, Clone, Copy, Default)]
pub struct Form<T>(pub T);

impl<T, S> FromRequest<S> for Form<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request(request: Request, state: &S) -> Result<Self, WebError> {
        axum::Form::<T>::from_request(request, state)
            .await
            .map(|axum::Form(value)| Form(value))
            .map_err(|rejection| {
                WebError::BadRequest(format!(
                    "the form was incomplete or malformed ({}); go back, check every field and \
                     send it again",
                    rejection.body_text()
                ))
            })
    }
}

/// A query string; see the module doc.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, WebError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|rejection| {
                WebError::BadRequest(format!(
                    "this address has a malformed query ({})",
                    rejection.body_text()
                ))
            })
    }
}
