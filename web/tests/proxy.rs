//! The dashboard behind a reverse proxy (`[web] trusted_proxies`): login, registration and the
//! chat's credentials check count each client under the address a trusted proxy forwards in
//! `X-Forwarded-For`, so one student's failures do not hold up another's login, while an
//! untrusted peer's header, entries a client wrote in front of the proxy's, and anything past
//! a malformed entry are ignored.
//!
//! Every scenario is the same race: a guesser fails once, then sends two more guesses together
//! with a student's valid attempt. The throttle's first delay is also its cap, so of the two
//! guesses one waits and is rejected and the other is refused (429), and the student is refused
//! too exactly when counted under the guesser's address. Each guess uses a username (or id) of
//! its own, so only the address can link them: guesses that all get through mean the guesser
//! chose a fresh address each time.

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
use journal::DataRoot;
use net::CancellationToken;
use serde_json::json;
use tower::ServiceExt;
use web::{AppState, Site, TrustedProxies, WebServer};

/// The pre-login CSRF token, sent as both the cookie and the form field: issued by the server
/// (this process), as a browser would have received it from the login page.
fn csrf() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(web::csrf::issue_anon_token)
}

/// A reverse proxy on the same machine.
const PROXY: &str = "127.0.0.1";

/// A throttle whose first delay is already its cap: after one failure, the next attempt on the
/// key waits `delay` and any attempt queued behind it is refused. The race of every scenario
/// therefore ends the same way whenever its three requests reach the throttle within `delay`
/// of each other; sent together, in-process requests reach it within microseconds.
fn throttle(delay: Duration) -> Throttle {
    Throttle::new(ThrottleConfig {
        base_delay: delay,
        max_delay: delay,
        ..ThrottleConfig::default()
    })
}

struct App {
    _dir: tempfile::TempDir,
    state: AppState,
    router: Router,
}

/// alice can log in; carol (student id s3) awaits registration. The web trusts `proxies`.
fn app(proxies: &[&str], delay: Duration) -> App {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let accounts = Accounts::open(&dir.path().join("accounts/accounts.db")).unwrap();
    let course = CourseDb::open(&dir.path().join("course/course.db")).unwrap();
    for (name, student_id, password) in [
        ("alice", "s1", Some("alice-password")),
        ("carol", "s3", None),
    ] {
        accounts
            .add_user(&NewUser {
                username: Username::parse(name).unwrap(),
                full_name: name.into(),
                student_id: Some(student_id.into()),
                role: Role::Student,
                password: password.map(String::from),
            })
            .unwrap();
    }
    let auth = Authenticator::new(Arc::new(accounts), Arc::new(throttle(delay)));
    let mut site = Site::local("mail.example");
    site.trusted_proxies = TrustedProxies::parse(proxies).unwrap();
    site.check_secret = Some("chat-secret".to_string());
    let root = DataRoot::new(dir.path().to_path_buf());
    let state = AppState::with_register_throttle(auth, course, &root, site, throttle(delay));
    App {
        _dir: dir,
        router: web::router(state.clone()),
        state,
    }
}

/// A request from TCP peer `peer`, with one `X-Forwarded-For` line per entry of `forwarded`.
fn request(
    peer: &str,
    forwarded: &[String],
    path: &str,
    content_type: &str,
    body: String,
) -> Request<Body> {
    let mut builder = Request::post(path)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::COOKIE, format!("cm_csrf={}", csrf()))
        .header(header::AUTHORIZATION, "Bearer chat-secret");
    for line in forwarded {
        builder = builder.header("x-forwarded-for", line);
    }
    let mut request = builder.body(Body::from(body)).unwrap();
    let peer = SocketAddr::new(peer.parse().unwrap(), 40000);
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

/// `POST /login`.
fn login(peer: &str, forwarded: &[String], user: &str, password: &str) -> Request<Body> {
    let form = format!("username={user}&password={password}&csrf={}", csrf());
    let form_type = "application/x-www-form-urlencoded";
    request(peer, forwarded, "/login", form_type, form)
}

/// `POST /register`.
fn register(peer: &str, forwarded: &[String], student_id: &str) -> Request<Body> {
    let form = format!("student_id={student_id}&csrf={}", csrf());
    let form_type = "application/x-www-form-urlencoded";
    request(peer, forwarded, "/register", form_type, form)
}

/// `POST /internal/check`, with the end user's address in `client`.
fn check(
    peer: &str,
    forwarded: &[String],
    user: &str,
    password: &str,
    client: &str,
) -> Request<Body> {
    let body = json!({"user": user, "password": password, "client": client}).to_string();
    request(peer, forwarded, "/internal/check", "application/json", body)
}

/// `X-Forwarded-For` lines.
fn lines(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|line| line.to_string()).collect()
}

/// How the race of one scenario ended.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// The statuses of the two guesses sent together, in ascending order.
    guesses: [StatusCode; 2],
    /// The status of the student's attempt, sent with them.
    student: StatusCode,
}

impl Outcome {
    /// The guesser was counted under one address, and the student under another.
    fn apart(rejected: StatusCode, accepted: StatusCode) -> Outcome {
        Outcome {
            guesses: [rejected, StatusCode::TOO_MANY_REQUESTS],
            student: accepted,
        }
    }

    /// The guesser and the student were counted under one address.
    fn together(rejected: StatusCode) -> Outcome {
        Outcome {
            guesses: [rejected, StatusCode::TOO_MANY_REQUESTS],
            student: StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

/// Sends guess 0 and checks it was `rejected`, then guesses 1 and 2 together with `student`.
async fn race(
    router: &Router,
    guess: impl Fn(usize) -> Request<Body>,
    rejected: StatusCode,
    student: Request<Body>,
) -> Outcome {
    let send = |request| router.clone().oneshot(request);
    let first = send(guess(0)).await.unwrap();
    assert_eq!(first.status(), rejected, "the first guess is simply wrong");
    let (a, b, student) = tokio::join!(send(guess(1)), send(guess(2)), send(student));
    let mut guesses = [a.unwrap().status(), b.unwrap().status()];
    guesses.sort();
    Outcome {
        guesses,
        student: student.unwrap().status(),
    }
}

/// A login race: the guesser's i-th guess, on username `guess<i>`, is forwarded as
/// `guesser(i)`; alice's valid login as `alice_from`.
async fn login_race(
    app: &App,
    peer: &str,
    guesser: impl Fn(usize) -> Vec<String>,
    alice_from: Vec<String>,
) -> Outcome {
    let guess = |i| login(peer, &guesser(i), &format!("guess{i}"), "wrong");
    let alice = login(peer, &alice_from, "alice", "alice-password");
    race(&app.router, guess, StatusCode::UNAUTHORIZED, alice).await
}

const MS_100: Duration = Duration::from_millis(100);

#[tokio::test]
async fn clients_behind_a_trusted_proxy_are_throttled_apart() {
    let app = app(&[PROXY], MS_100);
    let outcome = login_race(
        &app,
        PROXY,
        |_| lines(&["203.0.113.5"]),
        lines(&["198.51.100.9"]),
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::apart(StatusCode::UNAUTHORIZED, StatusCode::SEE_OTHER),
        "the guesser is throttled and alice is not"
    );
}

#[tokio::test]
async fn by_default_every_client_of_a_proxy_is_the_proxy() {
    // What trusted_proxies is for: trusting no one, the header is ignored and alice waits in
    // the guesser's queue.
    let app = app(&[], MS_100);
    let outcome = login_race(
        &app,
        PROXY,
        |_| lines(&["203.0.113.5"]),
        lines(&["198.51.100.9"]),
    )
    .await;
    assert_eq!(outcome, Outcome::together(StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn an_untrusted_peers_header_is_ignored() {
    // Someone connecting directly, from outside the trusted prefix, claims a fresh address per
    // guess: still counted under their own.
    let app = app(&[PROXY, "10.89.0.0/16"], MS_100);
    let outcome = login_race(
        &app,
        "198.51.100.66",
        |i| lines(&[&format!("203.0.113.{i}")]),
        lines(&["198.51.100.9"]),
    )
    .await;
    assert_eq!(outcome, Outcome::together(StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn spoofed_entries_left_of_the_proxys_are_ignored() {
    // The guesser sends its own X-Forwarded-For, a fresh address each time (one of them the
    // proxy's own), and the proxy appends the address it really connected from.
    let app = app(&[PROXY, "10.89.0.0/16"], MS_100);
    let outcome = login_race(
        &app,
        PROXY,
        |i| match i {
            0 => lines(&["127.0.0.1, 203.0.113.5"]),
            i => lines(&[&format!("192.0.2.{i}"), "203.0.113.5, 10.89.0.4"]),
        },
        lines(&["198.51.100.9, 10.89.0.4"]),
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::apart(StatusCode::UNAUTHORIZED, StatusCode::SEE_OTHER)
    );
}

#[tokio::test]
async fn a_malformed_entry_counts_the_proxy_right_of_it() {
    // Each request has passed two proxies, and something left of the inner one is not an
    // address. Past it nothing is believed, so the guesser cannot spread its guesses by
    // varying what stands further left; nor does everyone fall back to the outer proxy: the
    // inner proxy nearest the bad entry is who counts.
    let app = app(&[PROXY, "10.89.0.0/16"], MS_100);
    let outcome = login_race(
        &app,
        PROXY,
        |i| lines(&[&format!("203.0.113.{i}, unknown, 10.89.0.7")]),
        lines(&["_obfuscated, 10.89.0.8"]),
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::apart(StatusCode::UNAUTHORIZED, StatusCode::SEE_OTHER)
    );
}

#[tokio::test(start_paused = true)]
async fn registration_behind_a_trusted_proxy_counts_the_client_and_one_shared_budget() {
    // Guessing student ids is counted per client behind the proxy, and on one budget that every
    // address shares (rotating addresses must not multiply the guesses): the guesser is
    // refused, and carol, racing it, is held back too, then registers once the delay is over.
    let app = app(&[PROXY], MS_100);
    let guess = |i| register(PROXY, &lines(&["203.0.113.5"]), &format!("x{i}"));
    let carol = register(PROXY, &lines(&["198.51.100.9"]), "s3");
    let outcome = race(&app.router, guess, StatusCode::BAD_REQUEST, carol).await;
    assert_eq!(
        outcome.guesses,
        [StatusCode::BAD_REQUEST, StatusCode::TOO_MANY_REQUESTS]
    );
    tokio::time::sleep(MS_100 * 3).await;
    let carol = register(PROXY, &lines(&["198.51.100.9"]), "s3");
    let reply = app.router.clone().oneshot(carol).await.unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let carol = app.state.0.accounts.find_by_student_id("s3").unwrap();
    assert!(carol.unwrap().has_password, "carol registered");
}

#[tokio::test]
async fn the_check_relayed_by_a_trusted_proxy_does_not_believe_its_client_field() {
    // With the check on the dashboard's listener, a loopback caller's `client` field is
    // believed: that is the chat server beside `coursemail up`. A request the proxy on the
    // same machine relays from the internet is the internet client's, so the guesser cannot
    // choose the address its guesses count under, while the chat server still can.
    let app = app(&[PROXY], MS_100);
    let guesser = lines(&["198.51.100.66"]);
    let guess = |i| {
        let client = format!("203.0.113.{i}");
        check(PROXY, &guesser, &format!("guess{i}"), "wrong", &client)
    };
    let alice = check(PROXY, &[], "alice", "alice-password", "198.51.100.9");
    let outcome = race(&app.router, guess, StatusCode::FORBIDDEN, alice).await;
    assert_eq!(
        outcome,
        Outcome::apart(StatusCode::FORBIDDEN, StatusCode::OK)
    );
}

/// Sends `POST /login` to `addr` over a real socket with `X-Forwarded-For: forwarded`; the
/// status code.
async fn login_over_tcp(addr: SocketAddr, forwarded: &str, user: &str, password: &str) -> u16 {
    let body = format!("username={user}&password={password}&csrf={}", csrf());
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: localhost\r\nCookie: cm_csrf={}\r\n\
         X-Forwarded-For: {forwarded}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        csrf(),
        body.len()
    );
    common::raw_status(addr, &request).await
}

#[tokio::test]
async fn a_served_dashboard_takes_the_client_from_its_trusted_peer() {
    // The same race through WebServer and real connections from 127.0.0.1, the address a
    // proxy on this machine connects from. Real requests reach the throttle less promptly
    // than in-process ones, hence the longer delay.
    let app = app(&[PROXY], Duration::from_secs(1));
    let server = WebServer::bind(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        app.state.clone(),
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(server.run(shutdown.clone()));

    assert_eq!(
        login_over_tcp(addr, "203.0.113.5", "guess0", "wrong").await,
        401
    );
    let (a, b, alice) = tokio::join!(
        login_over_tcp(addr, "203.0.113.5", "guess1", "wrong"),
        login_over_tcp(addr, "203.0.113.5", "guess2", "wrong"),
        login_over_tcp(addr, "198.51.100.9", "alice", "alice-password"),
    );
    let mut guesses = [a, b];
    guesses.sort();
    assert_eq!(guesses, [401, 429], "the guesser is throttled");
    assert_eq!(alice, 303, "alice is not held up");

    shutdown.cancel();
    running.await.unwrap().unwrap();
}
