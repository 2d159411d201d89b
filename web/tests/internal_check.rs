//! `POST /internal/check`, the credentials check submatrix's auth module calls: what it answers,
//! and that chat logins, which all arrive from the chat server's one address, are throttled per
//! end user rather than all together, without letting a public caller pick its address. With an
//! internal listener (`[web] internal_listen`), the check is served there alone, believes every
//! caller's forwarded address, and the dashboard's listener no longer serves it.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use accounts::{Accounts, Authenticator, NewUser, Role, Throttle, ThrottleConfig, Username};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use denis::CourseDb;
use http_body_util::BodyExt;
use journal::DataRoot;
use net::CancellationToken;
use serde_json::{Value, json};
use tower::ServiceExt;
use web::{AppState, Site, WebServer};

struct App {
    _dir: tempfile::TempDir,
    state: AppState,
    /// The dashboard of a web without an internal listener: the check included.
    router: Router,
    /// The dashboard of a web with an internal listener.
    dashboard: Router,
    /// The internal listener's.
    internal: Router,
}

/// alice and bob can log in; carol has not registered yet (no password).
///
/// The throttle is fast but its slots are wide: a failure delays the next attempt on the same
/// key by 50 ms, then 100 ms (the cap), and an attempt that would queue past 100 ms is refused.
/// Two attempts started together on a key at the cap therefore always end in one refusal,
/// however slowly this machine runs the test.
fn app() -> App {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let accounts = Accounts::open(&dir.path().join("accounts/accounts.db")).unwrap();
    let course = CourseDb::open(&dir.path().join("course/course.db")).unwrap();
    let throttle = Throttle::new(ThrottleConfig {
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(100),
        ..ThrottleConfig::default()
    });
    for (name, full_name, password) in [
        ("alice", "Alice Liddell", Some("alice-password")),
        ("bob", "Bob Builder", Some("bob-password")),
        ("carol", "Carol Cat", None),
    ] {
        accounts
            .add_user(&NewUser {
                username: Username::parse(name).unwrap(),
                full_name: full_name.into(),
                student_id: None,
                role: Role::Student,
                password: password.map(String::from),
            })
            .unwrap();
    }
    let auth = Authenticator::new(Arc::new(accounts), Arc::new(throttle));
    let root = DataRoot::new(dir.path().to_path_buf());
    let mut site = Site::local("mail.example");
    site.check_secret = Some(SECRET.to_string());
    let state = AppState::new(auth, course, &root, site);
    App {
        _dir: dir,
        router: web::router(state.clone()),
        dashboard: web::dashboard_router(state.clone()),
        internal: web::internal_router(state.clone()),
        state,
    }
}

/// The secret the chat server shares with the check (its copy of `tls/check.secret`).
const SECRET: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// Where the chat server connects from when the check shares the dashboard's listener: the
/// same machine (beside `coursemail up`).
const CHAT_SERVER: &str = "127.0.0.1";

impl App {
    /// Posts `body` to the endpoint from the chat server; the status and the body, parsed as
    /// JSON when it is.
    async fn check(&self, body: Value) -> (StatusCode, Value) {
        check_via(&self.router, CHAT_SERVER, body).await
    }
}

/// Posts `body` to the endpoint of `router` from `caller`.
async fn check_via(router: &Router, caller: &str, body: Value) -> (StatusCode, Value) {
    let (status, bytes) = request_via(router, "POST", "/internal/check", caller, body).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Sends `method path` with a JSON body to `router` from `caller`; the status and the body.
async fn request_via(
    router: &Router,
    method: &str,
    path: &str,
    caller: &str,
    body: Value,
) -> (StatusCode, Vec<u8>) {
    request_with(router, method, path, caller, body, Some(SECRET)).await
}

/// Like [`request_via`], presenting `secret` (or none).
async fn request_with(
    router: &Router,
    method: &str,
    path: &str,
    caller: &str,
    body: Value,
    secret: Option<&str>,
) -> (StatusCode, Vec<u8>) {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(secret) = secret {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {secret}"));
    }
    let mut request = builder.body(Body::from(body.to_string())).unwrap();
    let caller = SocketAddr::new(caller.parse().unwrap(), 40000);
    request.extensions_mut().insert(ConnectInfo(caller));
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, bytes.to_vec())
}

fn login(user: &str, password: &str, client: Option<&str>) -> Value {
    match client {
        Some(client) => json!({"user": user, "password": password, "client": client}),
        None => json!({"user": user, "password": password}),
    }
}

#[tokio::test]
async fn valid_credentials_answer_with_the_account_name() {
    let app = app();
    let (status, body) = app.check(login("alice", "alice-password", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"user": "alice", "full_name": "Alice Liddell"}));
    let (status, body) = app
        .check(login("bob", "bob-password", Some("2001:db8::7")))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"], "bob");
}

#[tokio::test]
async fn every_invalid_login_gets_the_same_refusal() {
    let app = app();
    for (user, password) in [
        ("alice", "wrong-password"),
        ("nobody", "alice-password"),
        ("carol", ""),
        ("Alice", "alice-password"),
        ("@alice:mail.example", "alice-password"),
    ] {
        // Each from its own address, so the throttle stays out of this test.
        let client = format!("198.51.100.{}", user.len());
        let (status, body) = app.check(login(user, password, Some(&client))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{user}");
        assert_eq!(body, json!({"error": "invalid username or password"}));
    }
}

#[tokio::test]
async fn a_client_that_is_not_an_address_is_a_bad_request() {
    let app = app();
    let (status, _) = app
        .check(login("alice", "alice-password", Some("chat.example")))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.check(json!({"user": "alice"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Through `router`, from `caller`, drives the failures of bob (forwarded as from `mistyper`) to
/// the throttle's cap, then starts two more of his guesses together with alice's valid login
/// (forwarded as from `alice_from`). Returns the statuses of the two guesses and of alice's
/// login.
async fn alice_logs_in_while_bob_mistypes(
    router: &Router,
    caller: &str,
    mistyper: Option<&str>,
    alice_from: Option<&str>,
) -> ([StatusCode; 2], StatusCode) {
    for _ in 0..2 {
        let (status, _) = check_via(router, caller, login("bob", "typo", mistyper)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let ((a, _), (b, _), (alice, _)) = tokio::join!(
        check_via(router, caller, login("bob", "typo", mistyper)),
        check_via(router, caller, login("bob", "typo", mistyper)),
        check_via(router, caller, login("alice", "alice-password", alice_from)),
    );
    let mut guesses = [a, b];
    guesses.sort();
    (guesses, alice)
}

#[tokio::test]
async fn mistakes_in_chat_do_not_lock_other_students_out() {
    // The chat server forwards each end user's address: bob's typos count against his address
    // and his username only.
    let app = app();
    let (guesses, alice) = alice_logs_in_while_bob_mistypes(
        &app.router,
        CHAT_SERVER,
        Some("203.0.113.5"),
        Some("198.51.100.9"),
    )
    .await;
    assert_eq!(
        guesses,
        [StatusCode::FORBIDDEN, StatusCode::TOO_MANY_REQUESTS],
        "bob's guesses are throttled"
    );
    assert_eq!(alice, StatusCode::OK, "alice is not held up by bob's typos");
}

#[tokio::test]
async fn without_a_forwarded_address_the_callers_address_is_counted() {
    // A caller that does not forward addresses puts every login on its own address: alice is
    // refused behind bob's guesses. This is what the chat server's `client` field avoids.
    let app = app();
    let (guesses, alice) =
        alice_logs_in_while_bob_mistypes(&app.router, CHAT_SERVER, None, None).await;
    assert_eq!(guesses[0], StatusCode::FORBIDDEN);
    assert_eq!(alice, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn another_machine_cannot_escape_the_throttle_by_forwarding_addresses() {
    // Someone on the internet, or a student on the campus network (a private address), who
    // reaches the dashboard's check and claims a fresh address per attempt is still counted
    // under their own.
    for caller in ["198.51.100.66", "10.1.2.3"] {
        let app = app();
        let (guesses, alice) = alice_logs_in_while_bob_mistypes(
            &app.router,
            caller,
            Some("203.0.113.5"),
            Some("203.0.113.6"),
        )
        .await;
        assert_eq!(guesses[0], StatusCode::FORBIDDEN, "{caller}");
        assert_eq!(alice, StatusCode::TOO_MANY_REQUESTS, "{caller}");
    }
}

#[tokio::test]
async fn the_internal_listener_believes_any_callers_forwarded_address() {
    // Only the chat server can reach the internal listener, wherever it connects from (through
    // NAT, from a routed address): its forwarded addresses count, so bob's typos stay his.
    let app = app();
    let (guesses, alice) = alice_logs_in_while_bob_mistypes(
        &app.internal,
        "198.51.100.66",
        Some("203.0.113.5"),
        Some("203.0.113.6"),
    )
    .await;
    assert_eq!(
        guesses,
        [StatusCode::FORBIDDEN, StatusCode::TOO_MANY_REQUESTS],
        "bob's guesses are throttled"
    );
    assert_eq!(alice, StatusCode::OK, "alice is not held up by bob's typos");
}

#[tokio::test]
async fn the_internal_listener_answers_like_the_dashboard_did() {
    let app = app();
    let valid = login("alice", "alice-password", Some("203.0.113.7"));
    let (status, body) = check_via(&app.internal, "198.51.100.66", valid).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"user": "alice", "full_name": "Alice Liddell"}));
    let wrong = login("alice", "wrong-password", Some("203.0.113.8"));
    let (status, body) = check_via(&app.internal, CHAT_SERVER, wrong).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, json!({"error": "invalid username or password"}));
    let not_an_address = login("alice", "alice-password", Some("chat.example"));
    let (status, _) = check_via(&app.internal, CHAT_SERVER, not_an_address).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn with_an_internal_listener_the_dashboard_does_not_serve_the_check() {
    // Valid credentials from the chat server's own address: still nothing there to answer.
    let app = app();
    let valid = login("alice", "alice-password", Some("203.0.113.7"));
    let (status, body) = check_via(&app.dashboard, CHAT_SERVER, valid).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, Value::Null, "no JSON answer: {body}");
    for path in ["/internal/", "/internal/check/"] {
        let (status, _) = request_via(&app.dashboard, "GET", path, CHAT_SERVER, json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    // The pages are all still there.
    let (status, _) = request_via(&app.dashboard, "GET", "/login", CHAT_SERVER, json!({})).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_internal_listener_serves_nothing_but_the_check() {
    let app = app();
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/login"),
        ("POST", "/login"),
        ("GET", "/register"),
        ("GET", "/dashboard"),
        ("GET", "/instructor/"),
        ("GET", "/setup"),
        ("GET", "/mail/config-v1.1.xml"),
        ("GET", "/static/style.css"),
    ] {
        let (status, _) = request_via(&app.internal, method, path, CHAT_SERVER, json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
    }
}

/// Sends one HTTP/1.1 request with a JSON body to `addr` over a real socket; the status code.
async fn http_status(addr: SocketAddr, method: &str, path: &str, body: &Value) -> u16 {
    let body = body.to_string();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {SECRET}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    common::raw_status(addr, &request).await
}

#[tokio::test]
async fn a_web_server_with_an_internal_listener_serves_the_check_there_only() {
    let app = app();
    let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let server = WebServer::bind(any_port, app.state.clone())
        .await
        .unwrap()
        .with_internal_listener(any_port)
        .await
        .unwrap();
    let pages = server.local_addr().unwrap();
    let internal = server
        .internal_addr()
        .unwrap()
        .expect("an internal listener");
    assert_ne!(pages, internal);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(server.run(shutdown.clone()));

    let valid = login("alice", "alice-password", Some("203.0.113.7"));
    assert_eq!(
        http_status(pages, "POST", "/internal/check", &valid).await,
        404
    );
    assert_eq!(
        http_status(internal, "POST", "/internal/check", &valid).await,
        200
    );
    assert_eq!(http_status(pages, "GET", "/login", &json!({})).await, 200);
    assert_eq!(
        http_status(internal, "GET", "/login", &json!({})).await,
        404
    );

    shutdown.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_web_server_without_an_internal_listener_serves_the_check_with_the_pages() {
    let app = app();
    let server = WebServer::bind(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        app.state.clone(),
    )
    .await
    .unwrap();
    assert_eq!(server.internal_addr().unwrap(), None);
    let pages = server.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(server.run(shutdown.clone()));

    let valid = login("alice", "alice-password", None);
    assert_eq!(
        http_status(pages, "POST", "/internal/check", &valid).await,
        200
    );
    assert_eq!(http_status(pages, "GET", "/login", &json!({})).await, 200);

    shutdown.cancel();
    running.await.unwrap().unwrap();
}

/// Issue: any process on the machine called the check from a loopback address, with invented
/// client addresses, and got 1,160 password checks in 30 s. Without the chat server's secret
/// the check answers 401 before looking at the password, whatever the caller claims.
#[tokio::test]
async fn without_the_chat_servers_secret_the_check_answers_nobody() {
    let app = app();
    for (caller, secret) in [
        (CHAT_SERVER, None),
        ("127.0.0.15", None),
        (CHAT_SERVER, Some("a-guess")),
        (CHAT_SERVER, Some("")),
    ] {
        for i in 0..20 {
            let body = login("alice", "alice-password", Some(&format!("203.0.113.{i}")));
            let (status, bytes) =
                request_with(&app.router, "POST", "/internal/check", caller, body, secret).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{caller} {secret:?}");
            let answer: Value = serde_json::from_slice(&bytes).unwrap();
            assert!(
                answer["error"].as_str().unwrap().contains("shared secret"),
                "{answer}"
            );
        }
    }
    // The chat server, with it, is answered as before.
    let (status, _) = app.check(login("alice", "alice-password", None)).await;
    assert_eq!(status, StatusCode::OK);
}
