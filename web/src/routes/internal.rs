//! `POST /internal/check`: "are these credentials valid?" for submatrix's auth module (the course
//! chat, SPEC §1), which creates the chat user from the answer on first login.
//!
//! Every request carries the chat server's secret, `Authorization: Bearer <tls/check.secret>`
//! (made by `coursemail init`, copied to the chat beside the certificate); without it the answer
//! is 401 before any password is looked at.
//!
//! Request: `{"user": "alice", "password": "...", "client": "203.0.113.7"}`, where `client` is
//! optional: the address the end user reached the chat server from. Answers: 200 with
//! `{"user": "alice", "full_name": "Alice Liddell"}`, 403 for anything that is not a valid login
//! (wrong password, unknown user, no password yet), 429 while throttled, 400 for a `client`
//! that is not an IP address.
//!
//! It answers for any account, so it is a password oracle that only the chat server may reach.
//! Where it is served:
//! - With `[web] internal_listen` set, on that listener alone ([`check_on_internal_listener`]);
//!   the dashboard's listener answers 404 for `/internal/`. Bind it where only the chat server
//!   can connect (the containers' internal `chat` network, or loopback).
//! - Otherwise on the dashboard's listener ([`check`]), as `coursemail up` on one machine has
//!   it; then block `/internal/` wherever the dashboard is published.
//!
//! Throttling: every chat login reaches the web from the chat server's one address, so counting
//! failures per connecting address would let a few students' typos lock every student out of
//! chat. The chat server forwards the end user's address instead, and the check is throttled
//! on that address and on the username, with the same throttle as every other login of this
//! process. On the internal listener the forwarded address is always believed: reaching that
//! listener at all is the credential. On the dashboard's listener it is believed only from a
//! loopback caller (a chat server on the same machine, as beside `coursemail up`); from any
//! other address it could be anyone's lie (a student on the campus network is on a private
//! address too), so the caller's own address counts, as for a caller that sends none. The
//! caller is the client `ClientIp` resolves, so a reverse proxy on the same machine that is
//! listed in `[web] trusted_proxies` and sets `X-Forwarded-For` is not taken for a chat
//! server; one that is not listed is, which is why deployments should use the internal
//! listener.

use std::net::IpAddr;

use accounts::AuthOutcome;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::error::WebError;
use crate::routes::auth::ClientIp;
use crate::state::AppState;

/// The request body.
#[derive(Deserialize)]
pub struct CheckRequest {
    user: String,
    password: String,
    /// The end user's address as the chat server saw it.
    #[serde(default)]
    client: Option<String>,
}

/// The answer for valid credentials: what the chat needs to create the user.
#[derive(Serialize)]
struct Accepted<'a> {
    user: &'a str,
    full_name: &'a str,
}

/// The answer for everything else, so that a caller can log why.
#[derive(Serialize)]
struct Refused {
    error: &'static str,
}

/// Whose forwarded `client` address the throttle believes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forwarded {
    /// Only a loopback caller's: the check shares the dashboard's listener.
    FromLoopbackCallers,
    /// Any caller's: the check has a listener of its own that only the chat server reaches.
    FromAnyCaller,
}

/// The check on the dashboard's listener: 200 with the account's name for valid credentials,
/// 403 otherwise (429 while throttled); a forwarded address counts from loopback callers only.
pub async fn check(
    State(state): State<AppState>,
    ClientIp(caller): ClientIp,
    headers: HeaderMap,
    Json(request): Json<CheckRequest>,
) -> Result<Response, WebError> {
    if let Some(refused) = refuse_without_secret(&state, &headers) {
        return Ok(refused);
    }
    answer(&state, caller, request, Forwarded::FromLoopbackCallers).await
}

/// The check on the internal listener: the same answers, and the forwarded address counts
/// whoever the caller is.
pub async fn check_on_internal_listener(
    State(state): State<AppState>,
    ClientIp(caller): ClientIp,
    headers: HeaderMap,
    Json(request): Json<CheckRequest>,
) -> Result<Response, WebError> {
    if let Some(refused) = refuse_without_secret(&state, &headers) {
        return Ok(refused);
    }
    answer(&state, caller, request, Forwarded::FromAnyCaller).await
}

/// The answer to a caller that does not present the chat server's secret
/// (`Authorization: Bearer <tls/check.secret>`): 401, before any password is checked, so no
/// other process can use the check as a password oracle, whatever address it calls from.
fn refuse_without_secret(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let Some(secret) = state.0.site.check_secret.as_deref() else {
        let error =
            "the check has no shared secret; run `coursemail init` to make tls/check.secret";
        return Some((StatusCode::SERVICE_UNAVAILABLE, Json(Refused { error })).into_response());
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if crate::csrf::matches(secret, presented.trim()) {
        return None;
    }
    tracing::warn!("/internal/check called without the chat server's secret; refused");
    let error = "this check answers only the chat server: present its shared secret";
    Some((StatusCode::UNAUTHORIZED, Json(Refused { error })).into_response())
}

/// Checks the credentials, throttled under the address `forwarded` allows.
async fn answer(
    state: &AppState,
    caller: IpAddr,
    request: CheckRequest,
    forwarded: Forwarded,
) -> Result<Response, WebError> {
    let client = throttle_address(caller, request.client.as_deref(), forwarded)?;
    let outcome = state
        .0
        .auth
        .authenticate(client, request.user.trim(), &request.password)
        .await?;
    Ok(match outcome {
        AuthOutcome::Accepted(user) => {
            tracing::info!(user = %user.username, %client, "chat login checked");
            let body = Accepted {
                user: user.username.as_str(),
                full_name: &user.full_name,
            };
            (StatusCode::OK, Json(body)).into_response()
        }
        AuthOutcome::Rejected => {
            let error = "invalid username or password";
            (StatusCode::FORBIDDEN, Json(Refused { error })).into_response()
        }
        AuthOutcome::Throttled => {
            let error = "too many failed attempts; try again in a few minutes";
            (StatusCode::TOO_MANY_REQUESTS, Json(Refused { error })).into_response()
        }
    })
}

/// The address the throttle counts this check under: the forwarded end user's when given by a
/// caller `forwarded` believes, the caller's otherwise. A malformed `client` is an error rather
/// than a silent fallback, since falling back would put every chat user on the caller's one
/// counter.
fn throttle_address(
    caller: IpAddr,
    client: Option<&str>,
    forwarded: Forwarded,
) -> Result<IpAddr, WebError> {
    let Some(text) = client else {
        return Ok(caller);
    };
    let client = text.trim().parse().map_err(|_| {
        WebError::BadRequest(format!(
            "\"client\" must be the end user's IP address, not {:?}",
            text.chars().take(64).collect::<String>()
        ))
    })?;
    if forwarded == Forwarded::FromAnyCaller || caller.to_canonical().is_loopback() {
        return Ok(client);
    }
    tracing::warn!(
        %caller,
        "/internal/check called from another machine on the dashboard's listener: its \
         forwarded client address is ignored; give the chat server [web] internal_listen"
    );
    Ok(caller)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_loopback_callers_forwarded_address_replaces_its_own() {
        for caller in ["127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1"] {
            let caller = ip(caller);
            for forwarded in [Forwarded::FromLoopbackCallers, Forwarded::FromAnyCaller] {
                assert_eq!(throttle_address(caller, None, forwarded).unwrap(), caller);
                assert_eq!(
                    throttle_address(caller, Some("203.0.113.7"), forwarded).unwrap(),
                    ip("203.0.113.7")
                );
                assert_eq!(
                    throttle_address(caller, Some(" 2001:db8::1 "), forwarded).unwrap(),
                    ip("2001:db8::1")
                );
                for bad in ["", "-", "203.0.113.7:443", "example.org"] {
                    assert!(
                        throttle_address(caller, Some(bad), forwarded).is_err(),
                        "{bad:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn another_machine_cannot_choose_the_address_it_is_counted_under() {
        // Private addresses included: a student on the campus network has one. 0.0.0.0 is what
        // a caller of unknown address is taken for.
        for caller in [
            "198.51.100.1",
            "2001:db8::5",
            "::ffff:198.51.100.1",
            "10.89.0.4",
            "192.168.1.2",
            "fd00::4",
            "0.0.0.0",
        ] {
            let caller = ip(caller);
            let counted =
                throttle_address(caller, Some("10.0.0.1"), Forwarded::FromLoopbackCallers);
            assert_eq!(counted.unwrap(), caller);
        }
    }

    #[test]
    fn on_the_internal_listener_every_callers_forwarded_address_counts() {
        // A chat server reached through NAT or on a routed address is still the chat server.
        for caller in ["198.51.100.1", "2001:db8::5", "0.0.0.0"] {
            let counted = throttle_address(ip(caller), Some("10.0.0.1"), Forwarded::FromAnyCaller);
            assert_eq!(counted.unwrap(), ip("10.0.0.1"));
            let bad = throttle_address(ip(caller), Some("chat"), Forwarded::FromAnyCaller);
            assert!(bad.is_err());
        }
    }
}
