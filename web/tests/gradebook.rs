//! The instructors' gradebook page in a course of several pages (SPEC §11), driven through the
//! router with `oneshot`: pages of 100 students with links between them, filters that survive
//! paging, a clear 404 past the last page, charts that count every student of the course
//! whichever page is shown, and a CSV export that stays complete.

use std::sync::Arc;

use accounts::{Accounts, Authenticator, NewUser, Role, Throttle, Username};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use denis::{AssignmentName, Component, CourseDb, GradeEntry, NewAssignment, Score};
use http_body_util::BodyExt;
use journal::DataRoot;
use tower::ServiceExt;
use web::{AppState, Site};

/// Students `s000`..`s249`: three pages of 100, the last one half full.
const STUDENTS: usize = 250;

struct App {
    _dir: tempfile::TempDir,
    router: Router,
    state: AppState,
    cookie: String,
    csrf: String,
}

struct Reply {
    status: StatusCode,
    location: String,
    body: String,
}

fn student(i: usize) -> String {
    format!("s{i:03}")
}

/// A course of [`STUDENTS`] students, assignments hw1 and hw2, every student graded 75 for
/// hw1's final (so that total is 75.0 for all) and nobody graded for hw2; the instructor
/// `teach` is logged in.
async fn app() -> App {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let accounts = Accounts::open(&dir.path().join("accounts/accounts.db")).unwrap();
    let course = CourseDb::open(&dir.path().join("course/course.db")).unwrap();
    let auth = Authenticator::new(Arc::new(accounts), Arc::new(Throttle::default()));
    let state = AppState::new(
        auth,
        course,
        &DataRoot::new(dir.path().to_path_buf()),
        Site::local("mail.example"),
    );
    let s = &state.0;
    let add = |name: &str, role, password: Option<&str>| {
        s.accounts
            .add_user(&NewUser {
                username: Username::parse(name).unwrap(),
                full_name: format!("Person {name}"),
                student_id: None,
                role,
                password: password.map(String::from),
            })
            .unwrap();
    };
    add("teach", Role::Instructor, Some("teach-password"));
    for i in 0..STUDENTS {
        add(&student(i), Role::Student, None);
    }
    for name in ["hw1", "hw2"] {
        s.course
            .create_assignment(
                &NewAssignment::dummy(AssignmentName::parse(name).unwrap()),
                &s.accounts,
                &[],
            )
            .unwrap();
    }
    for i in 0..STUDENTS {
        let entry = GradeEntry {
            assignment: AssignmentName::parse("hw1").unwrap(),
            component: Component::Final,
            username: Username::parse(&student(i)).unwrap(),
            score: Score::new(75).unwrap(),
            feedback: String::new(),
        };
        s.course.set_grade(&s.accounts, &entry, 1).unwrap();
    }
    let mut app = App {
        _dir: dir,
        router: web::router(state.clone()),
        state,
        cookie: String::new(),
        csrf: String::new(),
    };
    app.login().await;
    app
}

impl App {
    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            location,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        let request = Request::get(path)
            .header(header::COOKIE, &self.cookie)
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    async fn post(&self, path: &str, form: &str) -> Reply {
        let request = Request::post(path)
            .header(header::COOKIE, &self.cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_string()))
            .unwrap();
        self.send(request).await
    }

    /// Logs `teach` in through the login form.
    async fn login(&mut self) {
        let request = Request::get("/login").body(Body::empty()).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let anon = response.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let token = anon.trim_start_matches("cm_csrf=").to_string();
        let request = Request::post("/login")
            .header(header::COOKIE, &anon)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "username=teach&password=teach-password&csrf={token}"
            )))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let session = response.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let secret = session.trim_start_matches("cm_session=");
        self.csrf = self
            .state
            .0
            .accounts
            .session(secret)
            .unwrap()
            .unwrap()
            .csrf_token;
        self.cookie = session;
    }
}

/// The usernames of the gradebook table's rows, in order, once each.
fn row_students(body: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for piece in body.split("<tr><td>").skip(1) {
        let name = piece.split("</td>").next().unwrap().to_string();
        if out.last() != Some(&name) {
            out.push(name);
        }
    }
    out
}

fn names(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(student).collect()
}

#[tokio::test]
async fn page_two_shows_the_next_hundred_students() {
    let app = app().await;
    let first = app.get("/instructor/grades").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(row_students(&first.body), names(0..100));
    assert!(first.body.contains("Students 1–100 of 250, page 1 of 3."));
    assert!(
        first
            .body
            .contains("href=\"/instructor/grades?page=2\" rel=\"next\"")
    );
    // The grade form offers this page's students, not the whole roster.
    assert!(first.body.contains("<option>s099</option>"));
    assert!(!first.body.contains("s100"));

    let second = app.get("/instructor/grades?page=2").await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(row_students(&second.body), names(100..200));
    assert!(
        second
            .body
            .contains("Students 101–200 of 250, page 2 of 3.")
    );
    assert!(
        second
            .body
            .contains("href=\"/instructor/grades\" rel=\"prev\"")
    );
    assert!(
        second
            .body
            .contains("href=\"/instructor/grades?page=3\" rel=\"next\"")
    );

    let last = app.get("/instructor/grades?page=3").await;
    assert_eq!(row_students(&last.body), names(200..STUDENTS));
    assert!(!last.body.contains("rel=\"next\""));
}

#[tokio::test]
async fn a_page_past_the_last_is_a_404_that_says_so_and_links_to_the_last() {
    let app = app().await;
    let past = app.get("/instructor/grades?page=4").await;
    assert_eq!(past.status, StatusCode::NOT_FOUND);
    assert!(
        past.body
            .contains("there is no page 4 of the gradebook: it has 3 pages, numbered from 1"),
        "{}",
        past.body
    );
    assert!(past.body.contains("href=\"/instructor/grades?page=3\""));
    for bad in ["0", "two", "-1"] {
        let reply = app.get(&format!("/instructor/grades?page={bad}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(reply.body.contains("pages are numbered from 1"), "{bad}");
    }
}

#[tokio::test]
async fn filters_and_paging_combine() {
    let app = app().await;
    let hw2 = app.get("/instructor/grades?assignment=hw2&page=2").await;
    assert_eq!(hw2.status, StatusCode::OK);
    assert_eq!(row_students(&hw2.body), names(100..200));
    assert_eq!(hw2.body.matches("<td>hw2</td>").count(), 100);
    assert!(!hw2.body.contains("<td>hw1</td>"));
    // The page links keep the filter (askama writes `&` as `&#38;`).
    assert!(
        hw2.body
            .contains("href=\"/instructor/grades?assignment=hw2&#38;page=3\" rel=\"next\"")
    );
    assert!(
        hw2.body
            .contains("href=\"/instructor/grades?assignment=hw2\" rel=\"prev\"")
    );

    let one = app.get("/instructor/grades?user=s150").await;
    assert_eq!(row_students(&one.body), ["s150"]);
    assert!(one.body.contains("Students 1–1 of 1, page 1 of 1."));
    assert_eq!(
        app.get("/instructor/grades?user=s150&page=2").await.status,
        StatusCode::NOT_FOUND
    );
    let bad = app.get("/instructor/grades?user=Not%20A%20User").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_charts_count_every_student_whichever_page_is_shown() {
    let app = app().await;
    for path in [
        "/instructor/grades",
        "/instructor/grades?page=3",
        "/instructor/grades?user=s150",
        "/instructor/grades?assignment=hw1&page=2",
    ] {
        let page = app.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        // All 250 totals of hw1 are 75.0: one bar of 250 in the 70–79 bucket.
        assert!(
            page.body.contains(
                "Distribution of totals for hw1: 250 of 250 students have a total; 0 have none yet"
            ),
            "{path}"
        );
        assert!(page.body.contains("<title>70–79: 250</title>"), "{path}");
    }
    let all = app.get("/instructor/grades?page=2").await;
    assert!(all.body.contains(
        "Distribution of totals for hw2: 0 of 250 students have a total; 250 have none yet"
    ));
    let hw1 = app.get("/instructor/grades?assignment=hw1").await;
    assert!(!hw1.body.contains("Distribution of totals for hw2"));
}

#[tokio::test]
async fn saving_a_grade_comes_back_to_the_page_it_was_entered_on() {
    let app = app().await;
    let form = |user: &str, back: &str| {
        format!(
            "csrf={}&assignment=hw2&component=final&user={user}&score=90&back={back}",
            app.csrf
        )
    };
    let before = app.get("/instructor/grades?assignment=hw2&page=2").await;
    assert!(before.body.contains(
        "Distribution of totals for hw2: 0 of 250 students have a total; 250 have none yet"
    ));
    let saved = app
        .post(
            "/instructor/grades",
            &form("s150", "assignment%3Dhw2%26page%3D2"),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(saved.location, "/instructor/grades?assignment=hw2&page=2");
    let page = app.get(&saved.location).await;
    assert!(page.body.contains("<tr><td>s150</td><td>hw2</td>"));
    assert!(page.body.contains(
        "Distribution of totals for hw2: 1 of 250 students have a total; 249 have none yet"
    ));
    // Whatever else comes back is not followed: the redirect is rebuilt or the first page.
    for junk in ["page%3D%2F%2Fevil.example", "user%3D..%252F", "%ZZ"] {
        let reply = app.post("/instructor/grades", &form("s151", junk)).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{junk}");
        assert_eq!(reply.location, "/instructor/grades", "{junk}");
    }
}

#[tokio::test]
async fn the_csv_export_is_still_the_whole_gradebook() {
    let app = app().await;
    let csv = app.get("/instructor/gradebook.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines.len(), 1 + STUDENTS * 2);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("s249,") && l.contains(",hw1,"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("s000,") && l.contains(",hw2,"))
    );
}
