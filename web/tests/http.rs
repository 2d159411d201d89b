//! HTTP-level tests: the router with a temporary data root, driven with `oneshot`.

use std::sync::Arc;
use std::time::Duration;

use accounts::{Accounts, Authenticator, NewUser, Role, Throttle, ThrottleConfig, Username};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use denis::{AssignmentName, Component, CourseDb, GradeEntry, NewAssignment, Score};
use http_body_util::BodyExt;
use journal::DataRoot;
use tower::ServiceExt;
use web::{AppState, Site};

struct App {
    _dir: tempfile::TempDir,
    router: Router,
    state: AppState,
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Reply {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

fn app() -> App {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let accounts = Accounts::open(&dir.path().join("accounts/accounts.db")).unwrap();
    let course = CourseDb::open(&dir.path().join("course/course.db")).unwrap();
    net::ensure_certificate(&dir.path().join("tls"), "mail.example").unwrap();
    let throttle = Throttle::new(ThrottleConfig {
        base_delay: Duration::from_millis(1),
        ..ThrottleConfig::default()
    });
    let auth = Authenticator::new(Arc::new(accounts), Arc::new(throttle));
    // Fast register throttle: refuses after a handful of wrong ids (1+2+4+8+16 ms queued).
    let register_throttle = Throttle::new(ThrottleConfig {
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
        ..ThrottleConfig::default()
    });
    let state = AppState::with_register_throttle(
        auth,
        course,
        &DataRoot::new(dir.path().to_path_buf()),
        Site {
            check_secret: Some("http-test-secret".to_string()),
            ..Site::local("mail.example")
        },
        register_throttle,
    );
    let s = &state.0;
    for (name, full, sid, role, pw) in [
        (
            "alice",
            "Alice <script>alert(1)</script>",
            "s1",
            Role::Student,
            Some("alice-password"),
        ),
        ("bob", "Bob B", "s2", Role::Student, Some("bob-password")),
        ("carol", "Carol C", "s3", Role::Student, None),
        (
            "teach",
            "The Teacher",
            "t1",
            Role::Instructor,
            Some("teach-password"),
        ),
    ] {
        s.accounts
            .add_user(&NewUser {
                username: Username::parse(name).unwrap(),
                full_name: full.into(),
                student_id: Some(sid.into()),
                role,
                password: pw.map(String::from),
            })
            .unwrap();
    }
    s.course
        .create_assignment(
            &NewAssignment::dummy(AssignmentName::parse("hw1").unwrap()),
            &s.accounts,
            &[],
        )
        .unwrap();
    App {
        _dir: dir,
        router: web::router(state.clone()),
        state,
    }
}

impl App {
    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&self, path: &str, cookie: &str) -> Reply {
        let request = Request::get(path)
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    async fn post(&self, path: &str, cookie: &str, form: &str) -> Reply {
        let request = Request::post(path)
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_string()))
            .unwrap();
        self.send(request).await
    }

    /// The pre-login CSRF cookie and token.
    async fn anon(&self) -> (String, String) {
        let reply = self.get("/login", "").await;
        let set = reply.headers[header::SET_COOKIE].to_str().unwrap();
        let token = set
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("cm_csrf=")
            .to_string();
        (format!("cm_csrf={token}"), token)
    }

    async fn try_login(&self, user: &str, password: &str, next: &str) -> Reply {
        let (cookie, token) = self.anon().await;
        let form = format!("username={user}&password={password}&next={next}&csrf={token}");
        self.post("/login", &cookie, &form).await
    }

    /// Logs in and returns (cookie header, session CSRF token).
    async fn login(&self, user: &str, password: &str) -> (String, String) {
        let reply = self.try_login(user, password, "").await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let set = reply.headers[header::SET_COOKIE].to_str().unwrap();
        let pair = set.split(';').next().unwrap().to_string();
        let token = pair.trim_start_matches("cm_session=");
        let csrf = self
            .state
            .0
            .accounts
            .session(token)
            .unwrap()
            .unwrap()
            .csrf_token;
        (pair, csrf)
    }

    fn grade(&self, user: &str, score: u8, feedback: &str) {
        let s = &self.state.0;
        s.course
            .set_grade(
                &s.accounts,
                &GradeEntry {
                    assignment: AssignmentName::parse("hw1").unwrap(),
                    component: Component::Final,
                    username: Username::parse(user).unwrap(),
                    score: Score::new(score).unwrap(),
                    feedback: feedback.into(),
                },
                1,
            )
            .unwrap();
    }
}

#[tokio::test]
async fn protected_pages_redirect_to_login_with_next() {
    let app = app();
    for path in [
        "/dashboard",
        "/activity",
        "/setup",
        "/password",
        "/instructor/roster",
    ] {
        let reply = app.get(path, "").await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}");
        let expected = if path == "/dashboard" {
            "/login".to_string()
        } else {
            format!("/login?next={path}")
        };
        assert_eq!(reply.location(), expected);
    }
}

#[tokio::test]
async fn login_sets_a_locked_down_cookie_and_follows_a_local_next() {
    let app = app();
    let reply = app.try_login("alice", "alice-password", "/activity").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/activity");
    let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("cm_session="));
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"));
}

#[tokio::test]
async fn login_refuses_foreign_redirect_targets() {
    let app = app();
    for evil in ["//evil.example", "https://evil", "/%5Cevil.example"] {
        let reply = app.try_login("alice", "alice-password", evil).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        assert_eq!(reply.location(), "/dashboard", "{evil}");
    }
    let page = app.get("/login?next=//evil.example", "").await;
    assert!(!page.body.contains("evil.example"));
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let app = app();
    let wrong = app.try_login("alice", "not-her-password", "").await;
    let unknown = app.try_login("nobody", "whatever-password", "").await;
    let awaiting = app.try_login("carol", "whatever-password", "").await;
    for reply in [&wrong, &unknown, &awaiting] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(reply.body.contains("Wrong username or password."));
        assert!(reply.headers.get(header::SET_COOKIE).is_none());
    }
}

#[tokio::test]
async fn login_without_the_csrf_token_is_rejected() {
    let app = app();
    let (cookie, _) = app.anon().await;
    let reply = app
        .post(
            "/login",
            &cookie,
            "username=alice&password=alice-password&csrf=forged",
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = app
        .post("/login", "", "username=alice&password=alice-password&csrf=")
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn student_cannot_reach_instructor_pages() {
    let app = app();
    let (cookie, csrf) = app.login("alice", "alice-password").await;
    for path in [
        "/instructor/",
        "/instructor/roster",
        "/instructor/grades",
        "/instructor/submissions",
        "/instructor/gradebook.csv",
    ] {
        assert_eq!(
            app.get(path, &cookie).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let reply = app
        .post(
            "/instructor/grades",
            &cookie,
            &format!("csrf={csrf}&assignment=hw1&component=final&user=alice&score=100"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let grade = app
        .state
        .0
        .course
        .grades(&denis::Filter::default())
        .unwrap();
    assert!(grade.is_empty());
}

#[tokio::test]
async fn state_changing_posts_need_the_session_csrf_token() {
    let app = app();
    let (cookie, _) = app.login("teach", "teach-password").await;
    let reply = app
        .post(
            "/instructor/grades",
            &cookie,
            "csrf=wrong&assignment=hw1&component=final&user=alice&score=90",
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = app.post("/logout", &cookie, "csrf=wrong").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/instructor/", &cookie).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = app();
    let (cookie, csrf) = app.login("alice", "alice-password").await;
    let reply = app.post("/logout", &cookie, &format!("csrf={csrf}")).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(
        reply.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        app.get("/dashboard", &cookie).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn registration_shows_a_working_password_once() {
    let app = app();
    let (cookie, token) = app.anon().await;
    let reply = app
        .post("/register", &cookie, &format!("student_id=s3&csrf={token}"))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let start = reply.body.find("class=\"secret\">").unwrap() + "class=\"secret\">".len();
    let password: String = reply.body[start..].chars().take(16).collect();
    let again = app
        .post("/register", &cookie, &format!("student_id=s3&csrf={token}"))
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(!again.body.contains(&password));
    let login = app.try_login("carol", &password, "").await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    // A registered student's id gives nothing.
    let taken = app
        .post("/register", &cookie, &format!("student_id=s1&csrf={token}"))
        .await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn instructor_using_the_plain_login_form_lands_on_instructor_pages() {
    let app = app();
    let (cookie, token) = app.anon().await;
    let form = app.get("/login", &cookie).await.body;
    let next = form
        .split("name=\"next\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let reply = app
        .post(
            "/login",
            &cookie,
            &format!("username=teach&password=teach-password&next={next}&csrf={token}"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), "/instructor/");
}

#[tokio::test]
async fn guessing_student_ids_gets_the_address_refused() {
    let app = app();
    let (cookie, token) = app.anon().await;
    // Sequential wrong ids are slowed down (each waits its delay, up to max_delay)...
    for guess in 0..5 {
        let form = format!("student_id=x{guess}&csrf={token}");
        let reply = app.post("/register", &cookie, &form).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    }
    // ...and attempts queued beyond max_delay are refused without looking at the id, so even
    // the right one gets no password and a guesser learns nothing from a hit.
    let wrong = format!("student_id=x9&csrf={token}");
    let right = format!("student_id=s3&csrf={token}");
    let (first, second, third) = tokio::join!(
        app.post("/register", &cookie, &wrong),
        app.post("/register", &cookie, &wrong),
        app.post("/register", &cookie, &right),
    );
    assert_eq!(first.status, StatusCode::BAD_REQUEST);
    assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(third.body.contains("Too many unknown student ids"));
    assert!(!third.body.contains("class=\"secret\""));
    let carol = app
        .state
        .0
        .accounts
        .find_by_student_id("s3")
        .unwrap()
        .unwrap();
    assert!(!carol.has_password, "a refused attempt must not register");
}

/// Rotating addresses (issue: a student id was found in 243 tries from rotating addresses):
/// every address shares one registration budget, so the guesses of a thousand addresses are
/// refused like those of one.
#[tokio::test]
async fn guessing_student_ids_from_rotating_addresses_shares_one_budget() {
    let app = app();
    let (cookie, token) = app.anon().await;
    // 40 guesses at once, each from an address of its own.
    let guesses = (0..40u8).map(|guess| {
        let peer = std::net::SocketAddr::from(([10, 0, 0, guess], 5555));
        let mut request = Request::post("/register")
            .header(header::COOKIE, &cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("student_id=x{guess}&csrf={token}")))
            .unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        app.send(request)
    });
    let replies = futures_util::future::join_all(guesses).await;
    let refused = replies
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        refused >= 30,
        "only {refused} of 40 guesses from 40 addresses were refused"
    );
}

#[tokio::test]
async fn password_change_needs_the_current_password() {
    let app = app();
    let (cookie, csrf) = app.login("bob", "bob-password").await;
    let wrong = app
        .post(
            "/password",
            &cookie,
            &format!("csrf={csrf}&current=nope-nope&new=new-password-1&confirm=new-password-1"),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    let ok = app
        .post(
            "/password",
            &cookie,
            &format!("csrf={csrf}&current=bob-password&new=new-password-1&confirm=new-password-1"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(
        app.try_login("bob", "new-password-1", "").await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_but_not_this_one() {
    let app = app();
    let (mine, csrf) = app.login("bob", "bob-password").await;
    let (elsewhere, _) = app.login("bob", "bob-password").await;
    let ok = app
        .post(
            "/password",
            &mine,
            &format!("csrf={csrf}&current=bob-password&new=new-password-1&confirm=new-password-1"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(app.get("/dashboard", &mine).await.status, StatusCode::OK);
    assert_eq!(
        app.get("/dashboard", &elsewhere).await.status,
        StatusCode::SEE_OTHER,
        "a session opened with the old password is logged out"
    );
}

#[tokio::test]
async fn students_see_only_their_own_grades_and_feedback_is_escaped() {
    let app = app();
    app.grade("alice", 88, "<script>steal()</script> good work");
    let (alice, _) = app.login("alice", "alice-password").await;
    let page = app.get("/dashboard", &alice).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("&#60;script&#62;steal()&#60;/script&#62; good work")
    );
    assert!(!page.body.contains("<script>"));
    assert!(page.body.contains("total 88.0"), "{}", page.body);
    let (bob, _) = app.login("bob", "bob-password").await;
    let page = app.get("/dashboard", &bob).await;
    assert!(!page.body.contains("steal()"));
    assert!(page.body.contains("total -"));
}

#[tokio::test]
async fn hostile_names_are_escaped_on_the_roster() {
    let app = app();
    let (cookie, _) = app.login("teach", "teach-password").await;
    let page = app.get("/instructor/roster", &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    // askama escapes with numeric character references.
    assert!(
        page.body
            .contains("Alice &#60;script&#62;alert(1)&#60;/script&#62;")
    );
    assert!(!page.body.contains("<script>"));
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = app();
    for path in ["/login", "/dashboard", "/nowhere"] {
        let reply = app.get(path, "").await;
        let csp = reply.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(reply.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(reply.headers.contains_key(header::REFERRER_POLICY));
    }
    assert_eq!(app.get("/nowhere", "").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn stylesheet_and_autoconfig_are_public() {
    let app = app();
    let css = app.get("/static/style.css", "").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    for path in [
        "/.well-known/autoconfig/mail/config-v1.1.xml",
        "/mail/config-v1.1.xml",
    ] {
        let xml = app.get(path, "").await;
        assert_eq!(xml.status, StatusCode::OK);
        assert!(xml.body.contains("<hostname>mail.example</hostname>"));
        assert!(xml.body.contains("<port>1995</port>") && xml.body.contains("<port>1465</port>"));
    }
}

#[tokio::test]
async fn setup_page_names_this_server_and_the_student() {
    let app = app();
    let (cookie, _) = app.login("bob", "bob-password").await;
    let page = app.get("/setup", &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("smtpServer = mail.example"));
    assert!(page.body.contains("smtpServerPort = 1465"));
    assert!(page.body.contains("bob@mail.example"));
    // git send-email never asks to accept a certificate: the page must hand it over.
    assert!(
        page.body
            .contains("smtpSSLCertPath = ~/.config/coursemail/cert.pem"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("sslcertfile"),
        "fetchmail is given the certificate"
    );
    assert!(
        page.body.contains("set certificate_file"),
        "mutt is given the certificate"
    );
    assert!(
        page.body
            .contains("git format-patch --rfc -v1 --cover-letter")
    );
    assert!(
        page.body
            .contains("git send-email --to=ASSIGNMENT@mail.example outgoing/*")
    );
    let fingerprint = net::certificate_fingerprint(&app._dir.path().join("tls")).unwrap();
    assert!(page.body.contains(&fingerprint), "the fingerprint is shown");

    // The certificate itself is public, byte for byte the servers' file.
    let cert = app.get("/setup/cert.pem", "").await;
    assert_eq!(cert.status, StatusCode::OK);
    let on_disk = std::fs::read_to_string(app._dir.path().join("tls/cert.pem")).unwrap();
    assert_eq!(cert.body, on_disk);
    // The gitconfig download is the student's own.
    let gitconfig = app.get("/setup/gitconfig", &cookie).await;
    assert!(
        gitconfig.body.contains("\temail = bob@mail.example\n"),
        "{}",
        gitconfig.body
    );
    assert!(
        gitconfig.body.contains("\tname = \"Bob B\"\n"),
        "{}",
        gitconfig.body
    );
    assert_eq!(
        app.get("/setup/gitconfig", "").await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn activity_lists_nothing_for_a_new_student() {
    let app = app();
    let (cookie, _) = app.login("bob", "bob-password").await;
    let page = app.get("/activity", &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("You have not sent anything yet."));
}

#[tokio::test]
async fn oopsie_needs_confirmation_and_is_used_once() {
    let app = app();
    let (cookie, csrf) = app.login("bob", "bob-password").await;
    let dashboard = app.get("/dashboard", &cookie).await;
    assert!(dashboard.body.contains("href=\"/oopsie/hw1\""));
    let confirm = app.get("/oopsie/hw1", &cookie).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("Yes, use my oopsie"));
    let bob = Username::parse("bob").unwrap();
    assert_eq!(app.state.0.course.oopsies_used(&bob).unwrap(), 0);
    let used = app
        .post("/oopsie/hw1", &cookie, &format!("csrf={csrf}"))
        .await;
    assert_eq!(used.status, StatusCode::SEE_OTHER);
    assert_eq!(app.state.0.course.oopsies_used(&bob).unwrap(), 1);
    let again = app
        .post("/oopsie/hw1", &cookie, &format!("csrf={csrf}"))
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get("/oopsie/nothere", &cookie).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn instructor_adds_and_imports_students_and_withdraws_one() {
    let app = app();
    let (cookie, csrf) = app.login("teach", "teach-password").await;
    let add = app
        .post(
            "/instructor/roster",
            &cookie,
            &format!("csrf={csrf}&username=dave&full_name=Dave+D&student_id=s4"),
        )
        .await;
    assert_eq!(add.status, StatusCode::SEE_OTHER);
    let import = app
        .post(
            "/instructor/roster/import",
            &cookie,
            &format!("csrf={csrf}&csv=username%2Cname%2Cid%0Aerin%2CErin+E%2Cs5%0A"),
        )
        .await;
    assert_eq!(import.status, StatusCode::SEE_OTHER, "{}", import.body);
    let clash = app
        .post(
            "/instructor/roster",
            &cookie,
            &format!("csrf={csrf}&username=hw1"),
        )
        .await;
    assert_eq!(clash.status, StatusCode::BAD_REQUEST);
    let s = &app.state.0;
    assert!(s.accounts.find_by_student_id("s5").unwrap().is_some());
    let remove = app
        .post(
            "/instructor/roster/dave/remove",
            &cookie,
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(remove.status, StatusCode::SEE_OTHER);
    assert!(
        s.accounts
            .get_user(&Username::parse("dave").unwrap())
            .unwrap()
            .is_none()
    );
}

/// A roster import is RFC 4180 CSV and all-or-nothing (issue: `"Liddell, Alice"` was split).
#[tokio::test]
async fn roster_import_reads_quoted_commas_and_adds_everyone_or_nobody() {
    let app = app();
    let (cookie, csrf) = app.login("teach", "teach-password").await;
    let s = &app.state.0;
    // Two good lines and one whose username is taken: nothing may be added.
    let csv = "frank,\"Liddell, Frank\",S10\ngina,Gina G,S11\nbob,Bob Again,S12\n";
    let refused = app
        .post(
            "/instructor/roster/import",
            &cookie,
            &format!("csrf={csrf}&csv={}", form_encode(csv)),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body.contains("nothing was imported"),
        "{}",
        refused.body
    );
    assert!(s.accounts.find_by_student_id("S10").unwrap().is_none());
    let csv = "username,full name,student id\nfrank,\"Liddell, Frank\",S10\ngina,Gina G,S11\n";
    let ok = app
        .post(
            "/instructor/roster/import",
            &cookie,
            &format!("csrf={csrf}&csv={}", form_encode(csv)),
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(ok.location(), "/instructor/roster?imported=2");
    let frank = s.accounts.find_by_student_id("S10").unwrap().unwrap();
    assert_eq!(frank.full_name, "Liddell, Frank");
    let page = app.get("/instructor/roster?imported=2", &cookie).await;
    assert!(page.body.contains("Imported 2 students"), "{}", page.body);
}

/// An instructor cannot lock themselves out, and destructive actions ask first.
#[tokio::test]
async fn instructors_cannot_reset_or_withdraw_themselves_and_are_asked_first() {
    let app = app();
    let (cookie, csrf) = app.login("teach", "teach-password").await;
    for action in ["reset", "remove"] {
        let own = app
            .post(
                &format!("/instructor/roster/teach/{action}"),
                &cookie,
                &format!("csrf={csrf}"),
            )
            .await;
        assert_eq!(own.status, StatusCode::BAD_REQUEST, "{action}");
        assert!(own.body.contains("lock yourself out"), "{}", own.body);
    }
    assert_eq!(
        app.try_login("teach", "teach-password", "").await.status,
        StatusCode::SEE_OTHER,
        "still able to log in"
    );
    let confirm = app.get("/instructor/roster/bob/remove", &cookie).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("Withdraw bob?"), "{}", confirm.body);
    let roster = app.get("/instructor/roster", &cookie).await;
    assert!(
        !roster.body.contains("/instructor/roster/teach/reset"),
        "no reset on one's own row"
    );
}

/// The pre-login CSRF cookie must be one this server issued (issue: any 32-character value
/// was accepted): a planted one is replaced and its token refused.
#[tokio::test]
async fn a_planted_csrf_cookie_is_not_believed() {
    let app = app();
    let planted = "0123456789abcdef0123456789abcdef";
    let reply = app
        .post(
            "/login",
            &format!("cm_csrf={planted}"),
            &format!("username=bob&password=bob-password&csrf={planted}"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    let page = app.get("/login", &format!("cm_csrf={planted}")).await;
    let set = page.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set.starts_with("cm_csrf=") && !set.contains(planted),
        "{set}"
    );
}

/// A form with a field missing was answered with axum's plain-text rejection; it is the
/// site's readable page now, which says what to do.
#[tokio::test]
async fn a_malformed_form_gets_a_readable_page() {
    let app = app();
    let (cookie, csrf) = app.login("teach", "teach-password").await;
    let reply = app
        .post(
            "/instructor/roster/import",
            &cookie,
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.body.contains("<h1>That did not work</h1>"),
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains("the form was incomplete"),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("Back button"), "{}", reply.body);
}

/// The instructors' overview: per assignment where it stands, linking to what to act on.
#[tokio::test]
async fn the_overview_shows_each_assignment_at_a_glance() {
    let app = app();
    let (cookie, _) = app.login("teach", "teach-password").await;
    app.grade("bob", 80, "good");
    let page = app.get("/instructor/", &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Assignments at a glance"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("initial: when you run it"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<a href=\"/instructor/grades?assignment=hw1\">1</a>"),
        "one grade entered: {}",
        page.body
    );
}

/// A student sees where they are logged in and can end the other sessions; an instructor can
/// log a student out everywhere.
#[tokio::test]
async fn sessions_are_listed_and_ended_by_their_student_and_by_instructors() {
    let app = app();
    let (laptop, csrf) = app.login("bob", "bob-password").await;
    let (phone, _) = app.login("bob", "bob-password").await;
    let page = app.get("/password", &laptop).await;
    assert!(
        page.body.contains("Where you are logged in"),
        "{}",
        page.body
    );
    assert_eq!(page.body.matches("<tr><td>").count(), 2, "{}", page.body);
    assert!(page.body.contains("this browser"));
    let ended = app
        .post("/password/sessions", &laptop, &format!("csrf={csrf}"))
        .await;
    assert_eq!(ended.status, StatusCode::OK);
    assert!(
        ended.body.contains("Logged out 1 other session."),
        "{}",
        ended.body
    );
    assert_eq!(
        app.get("/dashboard", &phone).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(app.get("/dashboard", &laptop).await.status, StatusCode::OK);

    let (teach, teach_csrf) = app.login("teach", "teach-password").await;
    let out = app
        .post(
            "/instructor/roster/bob/logout",
            &teach,
            &format!("csrf={teach_csrf}"),
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/dashboard", &laptop).await.status,
        StatusCode::SEE_OTHER
    );
    let roster = app.get(out.location(), &teach).await;
    assert!(
        roster.body.contains("Logged bob out everywhere."),
        "{}",
        roster.body
    );
}

/// The course chat is announced on the course's domain when configured, and not otherwise.
#[tokio::test]
async fn the_chat_is_announced_at_well_known_when_configured() {
    let app = app();
    assert_eq!(
        app.get("/.well-known/matrix/client", "").await.status,
        StatusCode::NOT_FOUND
    );
    let mut site = Site::local("course.example.org");
    site.matrix_client_url = Some("https://chat.example.org".into());
    site.matrix_server = Some("chat.example.org:443".into());
    let state = AppState::new(
        app.state.0.auth.clone(),
        CourseDb::open(&app._dir.path().join("course/course.db")).unwrap(),
        &DataRoot::new(app._dir.path().to_path_buf()),
        site,
    );
    let router = web::router(state);
    let get = |path: &'static str| {
        router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
    };
    let client = get("/.well-known/matrix/client").await.unwrap();
    assert_eq!(client.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let body = client.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["m.homeserver"]["base_url"], "https://chat.example.org");
    let server = get("/.well-known/matrix/server").await.unwrap();
    let body = server.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["m.server"], "chat.example.org:443");
}

/// `text` as an `application/x-www-form-urlencoded` value.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn instructor_reset_sends_the_student_back_to_registration() {
    let app = app();
    let (cookie, csrf) = app.login("teach", "teach-password").await;
    let reply = app
        .post(
            "/instructor/roster/bob/reset",
            &cookie,
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.try_login("bob", "bob-password", "").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn instructor_creates_and_alters_assignments() {
    let app = app();
    let (cookie, csrf) = app.login("teach", "teach-password").await;
    let form = format!(
        "csrf={csrf}&name=hw2&initial=2030-01-01T10%3A00&peer_review=2030-01-08T10%3A00&final_=2030-01-15T10%3A00"
    );
    assert_eq!(
        app.post("/instructor/assignments", &cookie, &form)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let bad = format!(
        "csrf={csrf}&name=hw3&initial=2030-01-08T10%3A00&peer_review=2030-01-01T10%3A00&final_=2030-01-15T10%3A00"
    );
    assert_eq!(
        app.post("/instructor/assignments", &cookie, &bad)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let alter = format!("csrf={csrf}&final_=2030-02-01T10%3A00");
    let reply = app
        .post("/instructor/assignments/hw2/alter", &cookie, &alter)
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let page = app.get("/instructor/assignments", &cookie).await;
    assert!(page.body.contains("2030-02-01 10:00 +00:00"));
    let dummy = app
        .post("/instructor/assignments/hw1/alter", &cookie, &alter)
        .await;
    assert_eq!(dummy.status, StatusCode::BAD_REQUEST);
}

/// A typo in a year must not freeze a class in seconds; running a deadline early and removing
/// an assignment ask first; every change says what it did.
#[tokio::test]
async fn past_deadlines_need_confirming_and_destructive_actions_ask_first() {
    let app = app();
    let (cookie, csrf) = app.login("teach", "teach-password").await;
    let past = format!(
        "csrf={csrf}&name=hw5&initial=2016-01-01T10%3A00&peer_review=2030-01-08T10%3A00&final_=2030-01-15T10%3A00"
    );
    let refused = app.post("/instructor/assignments", &cookie, &past).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("in the past"), "{}", refused.body);
    // The form comes back with what was typed, the reason beside it.
    assert!(
        refused
            .body
            .contains("name=\"name\" required value=\"hw5\""),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("value=\"2016-01-01T10:00\""),
        "{}",
        refused.body
    );
    assert!(app.state.0.course.get_assignment("hw5").unwrap().is_none());
    let confirmed = app
        .post(
            "/instructor/assignments",
            &cookie,
            &format!("{past}&confirm_past=1"),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::SEE_OTHER);
    assert_eq!(confirmed.location(), "/instructor/assignments?created=hw5");
    let page = app.get(confirmed.location(), &cookie).await;
    assert!(page.body.contains("Created hw5."), "{}", page.body);

    // Running a deadline now: a confirmation page first, which posts the request.
    let confirm = app
        .get(
            "/instructor/assignments/hw1/trigger?deadline=initial",
            &cookie,
        )
        .await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(
        confirm.body.contains("cannot be undone"),
        "{}",
        confirm.body
    );
    assert!(
        confirm.body.contains("name=\"deadline\" value=\"initial\""),
        "{}",
        confirm.body
    );
    assert!(
        app.state.0.course.pending_requests().unwrap().is_empty(),
        "asking requests nothing"
    );

    // Removing: asked first, then done, and said.
    let ask = app.get("/instructor/assignments/hw5/remove", &cookie).await;
    assert!(ask.body.contains("Remove hw5?"), "{}", ask.body);
    let removed = app
        .post(
            "/instructor/assignments/hw5/remove",
            &cookie,
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert!(app.state.0.course.get_assignment("hw5").unwrap().is_none());
}

#[tokio::test]
async fn instructor_enters_grades_and_exports_the_gradebook() {
    let app = app();
    let (cookie, csrf) = app.login("teach", "teach-password").await;
    let reply = app
        .post(
            "/instructor/grades",
            &cookie,
            &format!("csrf={csrf}&assignment=hw1&component=final&user=bob&score=75&feedback=ok"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let over = app
        .post(
            "/instructor/grades",
            &cookie,
            &format!("csrf={csrf}&assignment=hw1&component=final&user=bob&score=101"),
        )
        .await;
    assert_eq!(over.status, StatusCode::BAD_REQUEST);
    let page = app.get("/instructor/grades", &cookie).await;
    assert!(page.body.contains("<svg class=\"chart\""));
    assert!(page.body.contains("75.0"));
    let csv = app.get("/instructor/gradebook.csv", &cookie).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        csv.body
            .lines()
            .any(|l| l.starts_with("bob,") && l.contains("75")),
        "{}",
        csv.body
    );
}

#[tokio::test]
async fn instructor_pages_render() {
    let app = app();
    let (cookie, _) = app.login("teach", "teach-password").await;
    for path in [
        "/instructor/",
        "/instructor/submissions",
        "/instructor/submissions?user=alice",
    ] {
        let page = app.get(path, &cookie).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
    }
    let index = app.get("/instructor/", &cookie).await;
    // hw1's initial deadline has not run: nobody is chased yet, and the overview counts them.
    assert!(index.body.contains("hw1") && index.body.contains("Nobody is missing."));
    let missing = app
        .get(
            "/instructor/submissions/0123456789abcdef01234567890000",
            &cookie,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn internal_check_answers_for_credentials() {
    let app = app();
    let check = |body: &'static str| {
        Request::post("/internal/check")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, "Bearer http-test-secret")
            .body(Body::from(body))
            .unwrap()
    };
    let ok = app
        .send(check(r#"{"user":"alice","password":"alice-password"}"#))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let bad = app
        .send(check(r#"{"user":"alice","password":"wrong-one"}"#))
        .await;
    assert_eq!(bad.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn lift_and_trigger_are_recorded_as_requests_for_denis() {
    let app = app();
    let (cookie, csrf) = app.login("teach", "teach-password").await;
    let trigger = app
        .post(
            "/instructor/assignments/hw1/trigger",
            &cookie,
            &format!("csrf={csrf}&deadline=initial"),
        )
        .await;
    assert_eq!(trigger.status, StatusCode::SEE_OTHER);
    let lift = app
        .post(
            "/instructor/restrictions/bob/lift",
            &cookie,
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(lift.status, StatusCode::SEE_OTHER);
    let unknown = app
        .post(
            "/instructor/assignments/nope/trigger",
            &cookie,
            &format!("csrf={csrf}&deadline=initial"),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let pending = app.state.0.course.pending_requests().unwrap();
    assert_eq!(
        pending.iter().map(|r| r.action.clone()).collect::<Vec<_>>(),
        [
            denis::RequestAction::Trigger(
                AssignmentName::parse("hw1").unwrap(),
                denis::Deadline::Initial
            ),
            denis::RequestAction::Lift(Username::parse("bob").unwrap()),
        ]
    );
    let index = app.get("/instructor/", &cookie).await;
    assert!(index.body.contains("run the initial deadline of hw1"));
    assert!(index.body.contains("pending"));
    // No journal in this data root: the page says so instead of failing.
    assert!(index.body.contains("Cannot read the journal here"));
}
