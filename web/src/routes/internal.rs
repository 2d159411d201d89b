//! `POST /internal/check`: "are these credentials valid?" for submatrix's auth module.
//!
//! It answers for any account and is throttled like every login, but it is still a password
//! oracle: it must only be reachable from the submatrix container (bind the web to an internal
//! network, or block `/internal/` at the reverse proxy). Never expose it to the internet.

use accounts::AuthOutcome;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use crate::error::WebError;
use crate::routes::auth::ClientIp;
use crate::state::AppState;

/// The request body.
#[derive(Deserialize)]
pub struct CheckRequest {
    user: String,
    password: String,
}

/// 200 for valid credentials, 403 otherwise (429 while throttled).
pub async fn check(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    Json(request): Json<CheckRequest>,
) -> Result<StatusCode, WebError> {
    let outcome = state
        .0
        .auth
        .authenticate(client, request.user.trim(), &request.password)
        .await?;
    Ok(match outcome {
        AuthOutcome::Accepted(_) => StatusCode::OK,
        AuthOutcome::Rejected => StatusCode::FORBIDDEN,
        AuthOutcome::Throttled => StatusCode::TOO_MANY_REQUESTS,
    })
}
