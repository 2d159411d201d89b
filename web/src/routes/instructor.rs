//! The instructor's pages under `/instructor/` (SPEC §11): roster, assignments, submissions
//! with raw messages, missing students, grades with the distribution chart, CSV export.
//!
//! Every handler takes the [`Instructor`] extractor, so students get 403 before any work is
//! done. State changes are POSTs with the session's CSRF token and redirect back (so a reload
//! does not repeat them).

use std::sync::Arc;

use accounts::{NewUser, Role, Username};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use denis::grades::{Distribution, DistributionCache, GradebookPage};
use denis::{
    AssignmentName, Component, Deadline, Deadlines, Filter, GradeEntry, NewAssignment, Request,
    RequestAction, Score,
};
use journal::SubmissionId;
use serde::Deserialize;

use crate::chart;
use crate::error::WebError;
use crate::extract::{Form, Query};
use crate::routes::auth::CsrfForm;
use crate::routes::student::SubmissionView;
use crate::session::{CurrentUser, Instructor};
use crate::state::{AppState, Inner};
use crate::view::{self, Nav};

/// The routes below `/instructor/` (full paths, merged into the main router), with the
/// grade distribution this router's grades page keeps between views.
pub fn router() -> Router<AppState> {
    let charts = Arc::new(DistributionCache::default());
    Router::new()
        .route("/instructor", get(index))
        .route("/instructor/", get(index))
        .route("/instructor/roster", get(roster).post(add_user))
        .route("/instructor/roster/import", post(import_roster))
        .route(
            "/instructor/roster/{user}/reset",
            get(confirm_reset).post(reset_password),
        )
        .route(
            "/instructor/roster/{user}/remove",
            get(confirm_withdraw).post(withdraw),
        )
        .route(
            "/instructor/assignments",
            get(assignments).post(create_assignment),
        )
        .route(
            "/instructor/assignments/{name}/alter",
            post(alter_assignment),
        )
        .route(
            "/instructor/assignments/{name}/trigger",
            get(confirm_trigger).post(trigger_deadline),
        )
        .route(
            "/instructor/assignments/{name}/remove",
            get(confirm_remove_assignment).post(remove_assignment),
        )
        .route(
            "/instructor/restrictions/{user}/lift",
            post(lift_restriction),
        )
        .route("/instructor/submissions", get(submissions))
        .route("/instructor/submissions/{id}", get(raw_submission))
        .route("/instructor/grades", get(grades).post(set_grade))
        .route("/instructor/gradebook.csv", get(gradebook_csv))
        .layer(Extension(charts))
}

/// One roster line of a CSV import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterLine {
    /// Username.
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// Student id.
    pub student_id: String,
}

/// A spreadsheet guard the gradebook export puts before text that starts like a formula
/// (`'=...`, see [`denis::grades::csv::text_cell`]), taken off again (pure).
fn undo_formula_guard(field: &str) -> &str {
    match field.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => field,
    }
}

/// Parses a roster as RFC 4180 CSV, `username,full name,student id` per record (pure): quoted
/// fields may hold commas, quotes and line breaks; a first record starting with `username` is
/// a header; further columns are ignored, so the gradebook export (one row per student and
/// assignment) reads back, its repeated rows counted once. Every student needs a student id,
/// which is how they register. Errors name the line.
pub fn parse_roster_csv(text: &str) -> Result<Vec<RosterLine>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut lines: Vec<(u64, RosterLine)> = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            format!("line {line}: not valid CSV ({e}); quote fields that hold commas or quotes")
        })?;
        let line = record.position().map_or(0, csv::Position::line);
        if record.iter().all(str::is_empty) {
            continue;
        }
        if index == 0
            && record
                .get(0)
                .is_some_and(|f| f.eq_ignore_ascii_case("username"))
        {
            continue;
        }
        if record.len() < 3 {
            return Err(format!(
                "line {line}: expected 3 fields (username,full name,student id), found {}",
                record.len()
            ));
        }
        let field = |i: usize| undo_formula_guard(record.get(i).unwrap_or("")).to_string();
        let entry = RosterLine {
            username: field(0),
            full_name: field(1),
            student_id: field(2),
        };
        if entry.student_id.is_empty() {
            return Err(format!(
                "line {line}: {} has no student id, which students register with; add one, or \
                 add them with a password from the command line",
                entry.username
            ));
        }
        match lines.iter().find(|(_, l)| l.username == entry.username) {
            Some((_, same)) if *same == entry => continue,
            Some((first, _)) => {
                return Err(format!(
                    "line {line}: {} appears on line {first} too, with another name or student id",
                    entry.username
                ));
            }
            None => lines.push((line, entry)),
        }
    }
    Ok(lines.into_iter().map(|(_, l)| l).collect())
}

/// A user as a roster row.
#[derive(Debug, Clone)]
pub struct UserView {
    username: String,
    full_name: String,
    student_id: String,
    role: String,
    registered: bool,
}

#[derive(Template)]
#[template(path = "instructor/index.html")]
struct IndexPage {
    nav: Nav,
    missing: Vec<(String, String)>,
    restricted: Result<Vec<String>, String>,
    requests: Vec<RequestView>,
    runs: Vec<RunView>,
}

/// An instructor request as a row.
#[derive(Debug, Clone)]
struct RequestView {
    what: String,
    by: String,
    at: String,
    outcome: String,
}

impl RequestView {
    fn of(r: &Request) -> RequestView {
        RequestView {
            what: match &r.action {
                RequestAction::Lift(user) => format!("lift the restriction of {user}"),
                RequestAction::Trigger(a, d) => format!("run the {d} deadline of {a}"),
            },
            by: r.requested_by.to_string(),
            at: view::seconds(Some(r.requested_at)),
            outcome: match (&r.outcome, r.done_at) {
                (Some(outcome), Some(at)) => format!("{outcome} ({})", view::seconds(Some(at))),
                _ => "pending: the grader carries it out within seconds".to_string(),
            },
        }
    }
}

/// The users whose journal view is frozen, or why that cannot be read (the journal is not
/// mounted in this container, say).
fn restricted(s: &Inner) -> Result<Vec<String>, String> {
    journal::JournalWriter::open(&s.journal)
        .and_then(|j| j.caps())
        .map(|caps| caps.into_iter().map(|(u, _)| u.to_string()).collect())
        .map_err(|e| e.to_string())
}

/// A deadline run as a row.
#[derive(Debug, Clone)]
struct RunView {
    assignment: String,
    deadline: String,
    started: String,
    finished: String,
    summary: String,
}

#[derive(Template)]
#[template(path = "instructor/roster.html")]
struct RosterPage {
    nav: Nav,
    /// The instructor looking: their own row offers no reset or withdraw.
    me: String,
    /// How many students the import that led here added.
    imported: Option<u32>,
    users: Vec<UserView>,
}

/// An assignment as a row.
#[derive(Debug, Clone)]
struct AssignmentRow {
    name: String,
    initial: String,
    peer_review: String,
    final_: String,
    dummy: bool,
    /// The current deadlines as `datetime-local` values, so the alter form shows them.
    initial_value: String,
    peer_review_value: String,
    final_value: String,
}

#[derive(Template)]
#[template(path = "instructor/assignments.html")]
struct AssignmentsPage {
    nav: Nav,
    assignments: Vec<AssignmentRow>,
    /// The course's time zone, in which the forms read times.
    zone: String,
    /// What the last change did.
    notice: Option<String>,
}

/// A gradeable as an instructor row.
#[derive(Debug, Clone)]
struct GradeableRowView {
    id: String,
    user: String,
    assignment: String,
    component: String,
    at: String,
    severity: String,
    findings: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "instructor/submissions.html")]
struct SubmissionsPage {
    nav: Nav,
    submissions: Vec<(String, SubmissionView)>,
    gradeables: Vec<GradeableRowView>,
}

#[derive(Template)]
#[template(path = "instructor/raw.html")]
struct RawPage {
    nav: Nav,
    id: String,
    user: String,
    messages: Vec<(String, String)>,
}

/// A gradebook row for the grades page.
#[derive(Debug, Clone)]
struct GradeRow {
    user: String,
    assignment: String,
    initial: String,
    review1: String,
    review2: String,
    final_: String,
    total: String,
}

/// How many students one page of the gradebook shows (each with a row per assignment).
const STUDENTS_PER_PAGE: usize = 100;

#[derive(Template)]
#[template(path = "instructor/grades.html")]
struct GradesPage {
    nav: Nav,
    rows: Vec<GradeRow>,
    /// (title, SVG) per assignment shown: the whole course's distribution, not this page's.
    charts: Vec<(String, String)>,
    /// Every assignment, for the filter and the grade form.
    assignments: Vec<String>,
    /// This page's students, for the grade form.
    students: Vec<String>,
    /// The filter in force, to fill in the filter form.
    filter_assignment: String,
    filter_user: String,
    pager: Pager,
    /// This page's query, so that saving a grade comes back here.
    back: String,
}

/// Where a gradebook page is and the links to the others.
#[derive(Debug, Clone)]
struct Pager {
    /// Which students this page shows, in words.
    summary: String,
    previous: Option<String>,
    next: Option<String>,
    /// (label, link) per page number; no link for the current page and the gaps (`…`).
    numbers: Vec<(String, Option<String>)>,
}

impl Pager {
    fn of(page: &GradebookPage, filter: &Filter) -> Pager {
        let paging = &page.paging;
        let link = |number: usize| grades_url(filter, number);
        let summary = if page.matching == 0 {
            "No student matches.".to_string()
        } else {
            format!(
                "Students {}–{} of {}, page {} of {}.",
                paging.students.start + 1,
                paging.students.end,
                page.matching,
                paging.number,
                paging.pages
            )
        };
        Pager {
            summary,
            previous: (paging.number > 1).then(|| link(paging.number - 1)),
            next: (paging.number < paging.pages).then(|| link(paging.number + 1)),
            numbers: view::page_numbers(paging.number, paging.pages)
                .into_iter()
                .map(|n| match n {
                    Some(n) if n == paging.number => (n.to_string(), None),
                    Some(n) => (n.to_string(), Some(link(n))),
                    None => ("…".to_string(), None),
                })
                .collect(),
        }
    }
}

/// The answer to a gradebook page that does not exist, with a way back.
#[derive(Template)]
#[template(path = "instructor/grades_missing.html")]
struct MissingGradesPage {
    nav: Nav,
    message: String,
    last: String,
}

/// The grades page for `filter` at page `number` (page 1 has no `page` parameter).
fn grades_url(filter: &Filter, number: usize) -> String {
    let assignment = filter
        .assignment
        .as_ref()
        .map_or("", AssignmentName::as_str);
    let user = filter.user.as_ref().map_or("", Username::as_str);
    let page = if number > 1 {
        number.to_string()
    } else {
        String::new()
    };
    view::url(
        "/instructor/grades",
        &[("assignment", assignment), ("user", user), ("page", &page)],
    )
}

/// `GET /instructor/`: who is missing, and what the deadlines did.
async fn index(
    State(state): State<AppState>,
    Instructor(me): Instructor,
) -> Result<Html<String>, WebError> {
    let (missing, restricted, requests, runs) = state
        .blocking(|s| {
            let missing = s
                .course
                .missing(&Filter::default(), &s.accounts)?
                .into_iter()
                .map(|m| (m.assignment.to_string(), m.username.to_string()))
                .collect();
            let runs = s
                .course
                .deadline_runs(None)?
                .into_iter()
                .rev()
                .map(|r| RunView {
                    assignment: r.assignment.to_string(),
                    deadline: r.deadline.to_string(),
                    started: view::seconds(Some(r.started_at)),
                    finished: view::seconds(r.finished_at),
                    summary: r.summary.map_or("unfinished".to_string(), |s| {
                        format!(
                            "{} delinquent, {} released, {} re-allowed, {} auto-zeroed",
                            s.delinquent, s.released, s.allowed, s.auto_zeroed
                        )
                    }),
                })
                .collect();
            let requests = s
                .course
                .recent_requests(20)?
                .iter()
                .map(RequestView::of)
                .collect();
            Ok((missing, restricted(s), requests, runs))
        })
        .await?;
    let page = IndexPage {
        nav: Nav::of(&me),
        missing,
        restricted,
        requests,
        runs,
    };
    Ok(Html(page.render()?))
}

/// Query of `GET /instructor/roster`: what the last import added.
#[derive(Deserialize)]
struct RosterQuery {
    imported: Option<u32>,
}

/// The confirmation step every destructive roster action takes (SPEC §11).
#[derive(Template)]
#[template(path = "instructor/confirm.html")]
struct ConfirmPage {
    nav: Nav,
    title: String,
    consequence: String,
    action: String,
    /// Hidden fields the action needs besides the CSRF token.
    hidden: Vec<(&'static str, String)>,
    button: String,
    back: &'static str,
}

/// Refuses an action on the instructor's own account: reset or withdrawn, they would be
/// locked out of the course they run.
fn not_yourself(
    me: &crate::session::CurrentUser,
    user: &Username,
    what: &str,
) -> Result<(), WebError> {
    if me.username() == user {
        return Err(WebError::BadRequest(format!(
            "you cannot {what} your own account: you would lock yourself out; change your \
             password on the Password page, or ask another instructor"
        )));
    }
    Ok(())
}

/// `GET /instructor/roster/{user}/reset`: asks before clearing a password.
async fn confirm_reset(
    Instructor(me): Instructor,
    Path(raw): Path<String>,
) -> Result<Html<String>, WebError> {
    let user = path_user(&raw)?;
    not_yourself(&me, &user, "reset the password of")?;
    let page = ConfirmPage {
        nav: Nav::of(&me),
        title: format!("Reset {user}'s password?"),
        consequence: format!(
            "{user} can no longer log in with their password, anywhere (web, SMTP, POP3), until \
             they register again with their student id and get a new one-time password."
        ),
        action: format!("/instructor/roster/{user}/reset"),
        button: format!("Yes, reset {user}'s password"),
        hidden: Vec::new(),
        back: "/instructor/roster",
    };
    Ok(Html(page.render()?))
}

/// `GET /instructor/roster/{user}/remove`: asks before withdrawing a user.
async fn confirm_withdraw(
    Instructor(me): Instructor,
    Path(raw): Path<String>,
) -> Result<Html<String>, WebError> {
    let user = path_user(&raw)?;
    not_yourself(&me, &user, "withdraw")?;
    let page = ConfirmPage {
        nav: Nav::of(&me),
        title: format!("Withdraw {user}?"),
        consequence: format!(
            "{user}'s account is removed: they can no longer log in or send mail. Their \
             submissions and grades stay in the course's records."
        ),
        action: format!("/instructor/roster/{user}/remove"),
        button: format!("Yes, withdraw {user}"),
        hidden: Vec::new(),
        back: "/instructor/roster",
    };
    Ok(Html(page.render()?))
}

/// `GET /instructor/roster`.
async fn roster(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Query(query): Query<RosterQuery>,
) -> Result<Html<String>, WebError> {
    let users = state
        .blocking(|s| Ok(s.accounts.list_users()?))
        .await?
        .into_iter()
        .map(|u| UserView {
            username: u.username.to_string(),
            full_name: u.full_name,
            student_id: u.student_id.unwrap_or_default(),
            role: u.role.to_string(),
            registered: u.has_password,
        })
        .collect();
    let page = RosterPage {
        nav: Nav::of(&me),
        me: me.username().to_string(),
        imported: query.imported,
        users,
    };
    Ok(Html(page.render()?))
}

/// Form of `POST /instructor/roster`.
#[derive(Deserialize)]
struct AddUserForm {
    csrf: String,
    username: String,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    student_id: String,
    #[serde(default)]
    instructor: Option<String>,
}

/// Adds one user (without a password: they register with their student id). Usernames share
/// one namespace of local parts with assignments and lists, as smtp routes by it.
/// The account a roster line asks for, checked against the course's other addresses.
fn new_user(s: &Inner, line: &RosterLine, role: Role) -> Result<NewUser, WebError> {
    let username = Username::parse(line.username.trim())
        .map_err(|e| WebError::BadRequest(format!("{}: {e}", line.username)))?;
    if s.site.lists.iter().any(|l| l == username.as_str())
        || s.course.is_assignment(username.as_str())?
    {
        return Err(WebError::BadRequest(format!(
            "{username} is already an assignment or list address; pick another username"
        )));
    }
    let full_name = match line.full_name.trim() {
        "" => username.to_string(),
        name => name.to_string(),
    };
    let student_id = Some(line.student_id.trim().to_string()).filter(|id| !id.is_empty());
    Ok(NewUser {
        username,
        full_name,
        student_id,
        role,
        password: None,
    })
}

/// Adds the account of one roster line.
fn add_one(s: &Inner, line: &RosterLine, role: Role) -> Result<(), WebError> {
    let new = new_user(s, line, role)?;
    s.accounts.add_user(&new).map_err(|e| match e {
        accounts::AccountsError::Sqlite(_) | accounts::AccountsError::Database(_) => e.into(),
        other => WebError::BadRequest(other.to_string()),
    })?;
    Ok(())
}

/// `POST /instructor/roster`: add one user.
async fn add_user(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Form(form): Form<AddUserForm>,
) -> Result<Response, WebError> {
    me.check_csrf(&form.csrf)?;
    let role = if form.instructor.is_some() {
        Role::Instructor
    } else {
        Role::Student
    };
    let line = RosterLine {
        username: form.username,
        full_name: form.full_name,
        student_id: form.student_id,
    };
    state.blocking(move |s| add_one(s, &line, role)).await?;
    Ok(Redirect::to("/instructor/roster").into_response())
}

/// Form of `POST /instructor/roster/import`.
#[derive(Deserialize)]
struct ImportForm {
    csrf: String,
    csv: String,
}

/// `POST /instructor/roster/import`: every line is checked before any user is added.
async fn import_roster(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Form(form): Form<ImportForm>,
) -> Result<Response, WebError> {
    me.check_csrf(&form.csrf)?;
    let lines = parse_roster_csv(&form.csv).map_err(WebError::BadRequest)?;
    if lines.is_empty() {
        return Err(WebError::BadRequest(
            "the CSV holds no student: paste lines such as alice,\"Liddell, Alice\",S002".into(),
        ));
    }
    let added = state
        .blocking(move |s| {
            let news = lines
                .iter()
                .map(|line| new_user(s, line, Role::Student))
                .collect::<Result<Vec<_>, _>>()?;
            // One transaction: a roster is imported whole or not at all.
            s.accounts.add_users(&news).map_err(|e| match e {
                accounts::AccountsError::Sqlite(_) | accounts::AccountsError::Database(_) => {
                    e.into()
                }
                other => WebError::BadRequest(format!("nothing was imported: {other}")),
            })
        })
        .await?;
    tracing::info!(count = added.len(), "roster imported");
    Ok(Redirect::to(&format!("/instructor/roster?imported={}", added.len())).into_response())
}

/// The user named in a path.
fn path_user(raw: &str) -> Result<Username, WebError> {
    Username::parse(raw).map_err(|_| WebError::NotFound)
}

/// `POST /instructor/roster/{user}/reset`: clears the password, so the student registers
/// again with their student id (and gets a fresh one-time password).
async fn reset_password(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Path(raw): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    me.check_csrf(&form.csrf)?;
    let user = path_user(&raw)?;
    not_yourself(&me, &user, "reset the password of")?;
    state
        .blocking(move |s| Ok(s.accounts.clear_password(&user)?))
        .await?;
    Ok(Redirect::to("/instructor/roster").into_response())
}

/// `POST /instructor/roster/{user}/remove`: withdraws a user.
async fn withdraw(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Path(raw): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    me.check_csrf(&form.csrf)?;
    let user = path_user(&raw)?;
    not_yourself(&me, &user, "withdraw")?;
    state
        .blocking(move |s| Ok(s.accounts.remove_user(&user)?))
        .await?;
    Ok(Redirect::to("/instructor/roster").into_response())
}

/// `GET /instructor/assignments`.
async fn assignments(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Query(query): Query<NoticeQuery>,
) -> Result<Html<String>, WebError> {
    let now = view::now();
    let assignments = state
        .blocking(|s| Ok(s.course.list_assignments()?))
        .await?
        .into_iter()
        .map(|a| AssignmentRow {
            name: a.name.to_string(),
            initial: view::deadline(a.deadlines.initial, now),
            peer_review: view::deadline(a.deadlines.peer_review, now),
            final_: view::deadline(a.deadlines.final_, now),
            dummy: a.dummy,
            initial_value: view::form_value(a.deadlines.initial),
            peer_review_value: view::form_value(a.deadlines.peer_review),
            final_value: view::form_value(a.deadlines.final_),
        })
        .collect();
    let page = AssignmentsPage {
        nav: Nav::of(&me),
        assignments,
        zone: view::time_zone().iana_name().unwrap_or("UTC").to_string(),
        notice: query.notice(),
    };
    Ok(Html(page.render()?))
}

/// What a change that led to a page did, from its query (`?created=hw1`, ...): only names
/// of things that exist, formatted here, so the query cannot put text on the page.
#[derive(Deserialize, Default)]
struct NoticeQuery {
    created: Option<String>,
    altered: Option<String>,
    removed: Option<String>,
    requested: Option<String>,
}

impl NoticeQuery {
    fn notice(&self) -> Option<String> {
        let name = |raw: &Option<String>| {
            raw.as_deref()
                .and_then(|n| AssignmentName::parse(n).ok())
                .map(|n| n.to_string())
        };
        if let Some(n) = name(&self.created) {
            Some(format!("Created {n}."))
        } else if let Some(n) = name(&self.altered) {
            Some(format!("Changed the deadlines of {n}."))
        } else if let Some(n) = name(&self.removed) {
            Some(format!("Removed {n}."))
        } else {
            name(&self.requested).map(|n| {
                format!("Asked the grader to run the deadline of {n}; it does within seconds.")
            })
        }
    }
}

/// Form of the assignment create and alter forms.
#[derive(Deserialize)]
struct AssignmentForm {
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    initial: String,
    #[serde(default)]
    peer_review: String,
    #[serde(default)]
    final_: String,
    #[serde(default)]
    dummy: Option<String>,
    /// Ticked to confirm deadlines in the past, which run at once.
    #[serde(default)]
    confirm_past: Option<String>,
}

/// Refuses deadlines in the past unless the form confirms them: such a deadline runs at once
/// (freezing and zeroing students), so a typo in a year must not pass silently.
fn check_past(deadlines: &Deadlines, confirmed: bool) -> Result<(), WebError> {
    match deadlines.first_past(view::now()) {
        Some(which) if !confirmed => Err(WebError::BadRequest(format!(
            "the {which} deadline is in the past: it would run at once, freezing and zeroing \
             students who have not submitted. Check the date, or tick \"run deadlines in the \
             past at once\" to confirm"
        ))),
        _ => Ok(()),
    }
}

/// An optional deadline field: empty is `None`, anything else must parse.
fn deadline_field(label: &str, text: &str) -> Result<Option<i64>, WebError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    view::parse_time(text).map(Some).ok_or_else(|| {
        WebError::BadRequest(format!(
            "the {label} deadline {text:?} is not a date and time (YYYY-MM-DDTHH:MM, in {})",
            view::time_zone().iana_name().unwrap_or("UTC")
        ))
    })
}

/// `POST /instructor/assignments`: create a scheduled or dummy assignment.
async fn create_assignment(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Form(form): Form<AssignmentForm>,
) -> Result<Response, WebError> {
    me.check_csrf(&form.csrf)?;
    let name =
        AssignmentName::parse(form.name.trim()).map_err(|e| WebError::BadRequest(e.to_string()))?;
    let new = if form.dummy.is_some() {
        NewAssignment::dummy(name)
    } else {
        let need = |label, text: &str| {
            deadline_field(label, text)?.ok_or_else(|| {
                WebError::BadRequest(format!(
                    "the {label} deadline is missing (or tick \"dummy\")"
                ))
            })
        };
        NewAssignment::scheduled(
            name,
            need("initial", &form.initial)?,
            need("peer review", &form.peer_review)?,
            need("final", &form.final_)?,
        )
    };
    check_past(&new.deadlines, form.confirm_past.is_some())?;
    let created = new.name.to_string();
    state
        .blocking(move |s| {
            s.course
                .create_assignment(&new, &s.accounts, &s.site.lists)
                .map_err(|e| WebError::BadRequest(e.to_string()))
        })
        .await?;
    Ok(Redirect::to(&format!("/instructor/assignments?created={created}")).into_response())
}

/// `POST /instructor/assignments/{name}/alter`: change some deadlines of a scheduled assignment.
async fn alter_assignment(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Path(raw): Path<String>,
    Form(form): Form<AssignmentForm>,
) -> Result<Response, WebError> {
    me.check_csrf(&form.csrf)?;
    let name = AssignmentName::parse(&raw).map_err(|_| WebError::NotFound)?;
    let changes = Deadlines {
        initial: deadline_field("initial", &form.initial)?,
        peer_review: deadline_field("peer review", &form.peer_review)?,
        final_: deadline_field("final", &form.final_)?,
    };
    check_past(&changes, form.confirm_past.is_some())?;
    let altered = name.to_string();
    state
        .blocking(move |s| {
            let Some(current) = s.course.get_assignment(name.as_str())? else {
                return Err(WebError::NotFound);
            };
            if current.dummy {
                return Err(WebError::BadRequest(
                    "a dummy assignment has no schedule to alter; trigger its deadlines instead"
                        .into(),
                ));
            }
            s.course
                .alter_assignment(&name, &changes)
                .map_err(|e| WebError::BadRequest(e.to_string()))?;
            Ok(())
        })
        .await?;
    Ok(Redirect::to(&format!("/instructor/assignments?altered={altered}")).into_response())
}

/// Form of the trigger button.
#[derive(Deserialize)]
struct TriggerForm {
    csrf: String,
    deadline: String,
}

/// `POST /instructor/assignments/{name}/trigger`: asks denis to run one deadline now. The web
/// may not write the journal (SPEC §3), so this only records the request.
async fn trigger_deadline(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Path(raw): Path<String>,
    Form(form): Form<TriggerForm>,
) -> Result<Response, WebError> {
    me.check_csrf(&form.csrf)?;
    let name = AssignmentName::parse(&raw).map_err(|_| WebError::NotFound)?;
    let deadline = form
        .deadline
        .parse::<Deadline>()
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    let by = me.username().clone();
    let requested = name.to_string();
    state
        .blocking(move |s| {
            if !s.course.is_assignment(name.as_str())? {
                return Err(WebError::NotFound);
            }
            s.course
                .add_request(&RequestAction::Trigger(name, deadline), &by, view::now())?;
            Ok(())
        })
        .await?;
    Ok(Redirect::to(&format!("/instructor/assignments?requested={requested}")).into_response())
}

/// Query of the trigger confirmation: which deadline.
#[derive(Deserialize)]
struct DeadlineQuery {
    deadline: String,
}

/// `GET /instructor/assignments/{name}/trigger?deadline=D`: says what running the deadline
/// now does before it is asked for (SPEC §11: destructive actions ask first).
async fn confirm_trigger(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Path(raw): Path<String>,
    Query(query): Query<DeadlineQuery>,
) -> Result<Html<String>, WebError> {
    let name = AssignmentName::parse(&raw).map_err(|_| WebError::NotFound)?;
    let deadline = query
        .deadline
        .parse::<Deadline>()
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    let lookup = name.clone();
    let assignment = state
        .blocking(move |s| Ok(s.course.get_assignment(lookup.as_str())?))
        .await?
        .ok_or(WebError::NotFound)?;
    let at = deadline.at(&assignment.deadlines);
    let what = match deadline {
        Deadline::Initial => {
            "students without an initial submission are frozen and get an automatic zero, the \
             others are put in the review cycle and their series are released to everyone"
        }
        Deadline::PeerReview => {
            "the reviews are released, and missing reviews get an automatic zero"
        }
        Deadline::Final => {
            "the finals are released, missing or fatal finals get an automatic zero, and \
             oopsie users who sent a final are re-allowed"
        }
    };
    let when = match at {
        Some(at) if at > view::now() => format!(
            "It is scheduled for {}; run now, it counts as passed from this moment everywhere \
             (dashboards, oopsies, how later mail is classified).",
            view::deadline(Some(at), view::now())
        ),
        Some(_) => "Its date has passed.".to_string(),
        None => "It has no date: it runs when you run it.".to_string(),
    };
    let page = ConfirmPage {
        nav: Nav::of(&me),
        title: format!("Run the {deadline} deadline of {name} now?"),
        consequence: format!("Running it cannot be undone: {what}. {when}"),
        action: format!("/instructor/assignments/{name}/trigger"),
        hidden: vec![("deadline", deadline.to_string())],
        button: format!("Yes, run the {deadline} deadline now"),
        back: "/instructor/assignments",
    };
    Ok(Html(page.render()?))
}

/// `GET /instructor/assignments/{name}/remove`: asks before removing an assignment.
async fn confirm_remove_assignment(
    Instructor(me): Instructor,
    Path(raw): Path<String>,
) -> Result<Html<String>, WebError> {
    let name = AssignmentName::parse(&raw).map_err(|_| WebError::NotFound)?;
    let page = ConfirmPage {
        nav: Nav::of(&me),
        title: format!("Remove {name}?"),
        consequence: format!(
            "{name} and its schedule are removed, and mail to {name}@… is no longer accepted. An \
             assignment that has submissions or grades is kept."
        ),
        action: format!("/instructor/assignments/{name}/remove"),
        hidden: Vec::new(),
        button: format!("Yes, remove {name}"),
        back: "/instructor/assignments",
    };
    Ok(Html(page.render()?))
}

/// `POST /instructor/assignments/{name}/remove`.
async fn remove_assignment(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Path(raw): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    me.check_csrf(&form.csrf)?;
    let name = AssignmentName::parse(&raw).map_err(|_| WebError::NotFound)?;
    let removed = name.to_string();
    state
        .blocking(move |s| match s.course.remove_assignment(&name)? {
            denis::Removal::Removed => Ok(()),
            denis::Removal::NotFound => Err(WebError::NotFound),
            denis::Removal::InUse {
                submissions,
                grades,
            } => Err(WebError::BadRequest(format!(
                "{name} has {submissions} submission(s) and {grades} grade(s): it stays, so that \
                 they keep counting"
            ))),
        })
        .await?;
    Ok(Redirect::to(&format!("/instructor/assignments?removed={removed}")).into_response())
}

/// `POST /instructor/restrictions/{user}/lift`: asks denis to lift a restriction.
async fn lift_restriction(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Path(raw): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    me.check_csrf(&form.csrf)?;
    let user = path_user(&raw)?;
    let by = me.username().clone();
    state
        .blocking(move |s| {
            s.course
                .add_request(&RequestAction::Lift(user), &by, view::now())?;
            Ok(())
        })
        .await?;
    Ok(Redirect::to("/instructor/").into_response())
}

/// Query of the submissions and grades pages.
#[derive(Debug, Default, Deserialize)]
struct FilterQuery {
    assignment: Option<String>,
    user: Option<String>,
}

impl FilterQuery {
    /// The filter; empty fields mean "all", malformed ones are an error.
    fn filter(&self) -> Result<Filter, WebError> {
        let assignment = match self.assignment.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(a) => {
                Some(AssignmentName::parse(a).map_err(|e| WebError::BadRequest(e.to_string()))?)
            }
        };
        let user = match self.user.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(u) => Some(Username::parse(u).map_err(|e| WebError::BadRequest(e.to_string()))?),
        };
        Ok(Filter { assignment, user })
    }
}

/// `GET /instructor/submissions`: everyone's submissions and gradeables with full findings.
async fn submissions(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Query(query): Query<FilterQuery>,
) -> Result<Html<String>, WebError> {
    let filter = query.filter()?;
    let (subs, gradeables) = state
        .blocking(move |s| {
            Ok((
                s.course.inspect_submissions(&filter)?,
                s.course.inspect_gradeables(&filter)?,
            ))
        })
        .await?;
    let page = SubmissionsPage {
        nav: Nav::of(&me),
        submissions: subs
            .iter()
            .rev()
            .map(|x| {
                (
                    x.username.to_string(),
                    SubmissionView::with_subject(x, &state.0.mail),
                )
            })
            .collect(),
        gradeables: gradeables
            .iter()
            .rev()
            .map(|g| GradeableRowView {
                id: g.gradeable.submission_id.as_str().to_string(),
                user: g.gradeable.username.to_string(),
                assignment: g.gradeable.assignment.to_string(),
                component: g.gradeable.component.to_string(),
                at: view::micros(g.gradeable.submitted_at_us),
                severity: g.gradeable.severity.to_string(),
                findings: g
                    .findings
                    .iter()
                    .map(|f| (f.severity.to_string(), f.message.clone()))
                    .collect(),
            })
            .collect(),
    };
    Ok(Html(page.render()?))
}

/// `GET /instructor/submissions/{id}`: the raw messages of one submission, as stored.
async fn raw_submission(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Path(raw): Path<String>,
) -> Result<Html<String>, WebError> {
    let id = SubmissionId::parse(&raw).map_err(|_| WebError::NotFound)?;
    let (user, messages) = state
        .blocking(move |s| {
            let Some(sub) = s.course.submission(&id)? else {
                return Err(WebError::NotFound);
            };
            let mut messages = Vec::new();
            let count = u16::try_from(sub.message_count).unwrap_or(u16::MAX);
            for index in 1..=count {
                let Ok(mid) = id.message(index) else { break };
                let text = match std::fs::read(s.mail.path(&mid)) {
                    Ok(wire) => String::from_utf8_lossy(&denis::intake::message::unstuff(&wire))
                        .into_owned(),
                    Err(e) => format!("(cannot read this message: {e})"),
                };
                messages.push((mid.as_str().to_string(), text));
            }
            Ok((sub.username.to_string(), messages))
        })
        .await?;
    let page = RawPage {
        nav: Nav::of(&me),
        id: raw,
        user,
        messages,
    };
    Ok(Html(page.render()?))
}

/// A grade cell: score (with `*` for automatic zeros) or `-`.
fn cell(grade: Option<&denis::Grade>) -> String {
    match grade {
        Some(g) if g.automatic => format!("{}*", g.score.get()),
        Some(g) => g.score.get().to_string(),
        None => "-".to_string(),
    }
}

/// Query of the grades page: the filters of [`FilterQuery`] and the page number.
#[derive(Debug, Default, Deserialize)]
struct GradesQuery {
    assignment: Option<String>,
    user: Option<String>,
    page: Option<String>,
}

impl GradesQuery {
    fn filter(&self) -> Result<Filter, WebError> {
        FilterQuery {
            assignment: self.assignment.clone(),
            user: self.user.clone(),
        }
        .filter()
    }

    /// The page number; absent or empty is the first.
    fn page(&self) -> Result<usize, WebError> {
        match self.page.as_deref().map(str::trim) {
            None | Some("") => Ok(1),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| {
                    WebError::BadRequest(format!(
                        "{text:?} is not a page number; pages are numbered from 1"
                    ))
                }),
        }
    }

    /// The canonical page of a query the grade form carried back, if it is a valid one.
    fn url_of(back: &str) -> Option<String> {
        let uri: Uri = format!("/instructor/grades?{back}").parse().ok()?;
        let axum::extract::Query(query) =
            axum::extract::Query::<GradesQuery>::try_from_uri(&uri).ok()?;
        Some(grades_url(&query.filter().ok()?, query.page().ok()?))
    }
}

/// `GET /instructor/grades`: one page of the gradebook, the grade distribution of the whole
/// course per assignment, and the grade entry form. A page past the last is a 404 that links
/// to the last one.
async fn grades(
    State(state): State<AppState>,
    Extension(charts): Extension<Arc<DistributionCache>>,
    Instructor(me): Instructor,
    Query(query): Query<GradesQuery>,
) -> Result<Response, WebError> {
    let filter = query.filter()?;
    let number = query.page()?;
    let wanted = filter.clone();
    let found = state
        .blocking(move |s| {
            let roster = denis::grades::roster(&s.accounts)?;
            let page = denis::grades::gradebook_page(
                &s.course,
                &roster,
                &wanted,
                number,
                STUDENTS_PER_PAGE,
            )?;
            let assignments = s.course.list_assignments()?;
            let distribution = charts.get(&s.course, &roster)?;
            Ok((page, assignments, (distribution, roster.len())))
        })
        .await;
    let (page, assignments, (distribution, students)) = match found {
        Err(WebError::Grade(denis::GradeError::NoSuchPage { page, pages })) => {
            let missing = MissingGradesPage {
                nav: Nav::of(&me),
                message: denis::GradeError::NoSuchPage { page, pages }.to_string(),
                last: grades_url(&filter, pages),
            };
            return Ok((StatusCode::NOT_FOUND, Html(missing.render()?)).into_response());
        }
        found => found?,
    };
    let html =
        GradesPage::new(&me, &filter, &page, &assignments, &distribution, students).render()?;
    Ok(Html(html).into_response())
}

impl GradesPage {
    /// The page showing `page` of the gradebook under `filter`, with the charts of
    /// `distribution` for the assignments the filter shows.
    fn new(
        me: &CurrentUser,
        filter: &Filter,
        page: &GradebookPage,
        assignments: &[denis::Assignment],
        distribution: &Distribution,
        students: usize,
    ) -> GradesPage {
        let charts = assignments
            .iter()
            .filter(|a| {
                filter
                    .assignment
                    .as_ref()
                    .is_none_or(|only| *only == a.name)
            })
            .map(|a| {
                let counted = distribution.students(&a.name);
                let without = students.saturating_sub(counted as usize);
                let title = format!(
                    "Distribution of totals for {}: {counted} of {students} {} have a total; \
                     {without} have none yet (a grade is missing)",
                    a.name,
                    if students == 1 { "student" } else { "students" }
                );
                (
                    a.name.to_string(),
                    chart::svg(&title, &distribution.values(&a.name)),
                )
            })
            .collect();
        let here = grades_url(filter, page.paging.number);
        GradesPage {
            nav: Nav::of(me),
            rows: page
                .rows
                .iter()
                .map(|r| GradeRow {
                    user: r.username.to_string(),
                    assignment: r.assignment.to_string(),
                    initial: cell(r.initial.as_ref()),
                    review1: cell(r.review1.as_ref()),
                    review2: cell(r.review2.as_ref()),
                    final_: cell(r.final_.as_ref()),
                    total: r.total.to_string(),
                })
                .collect(),
            charts,
            assignments: assignments.iter().map(|a| a.name.to_string()).collect(),
            students: page
                .students
                .iter()
                .map(|u| u.username.to_string())
                .collect(),
            filter_assignment: filter
                .assignment
                .as_ref()
                .map_or(String::new(), ToString::to_string),
            filter_user: filter
                .user
                .as_ref()
                .map_or(String::new(), ToString::to_string),
            pager: Pager::of(page, filter),
            back: here.split_once('?').map_or("", |(_, q)| q).to_string(),
        }
    }
}

/// Form of `POST /instructor/grades`.
#[derive(Deserialize)]
struct GradeForm {
    csrf: String,
    assignment: String,
    component: String,
    user: String,
    score: String,
    #[serde(default)]
    feedback: String,
    /// The query of the gradebook page the form was on, to go back to it.
    #[serde(default)]
    back: String,
}

/// `POST /instructor/grades`: record (or override) one grade, then back to the page the form
/// was on.
async fn set_grade(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Form(form): Form<GradeForm>,
) -> Result<Response, WebError> {
    me.check_csrf(&form.csrf)?;
    let bad = |e: &dyn std::fmt::Display| WebError::BadRequest(e.to_string());
    let entry = GradeEntry {
        assignment: AssignmentName::parse(form.assignment.trim()).map_err(|e| bad(&e))?,
        component: form
            .component
            .trim()
            .parse::<Component>()
            .map_err(|e| bad(&e))?,
        username: Username::parse(form.user.trim()).map_err(|e| bad(&e))?,
        score: form
            .score
            .trim()
            .parse::<u8>()
            .map_err(|_| bad(&"the score must be a whole number from 0 to 100"))
            .and_then(|n| Score::new(n).map_err(|e| bad(&e)))?,
        feedback: form.feedback,
    };
    // Rebuilt from the parsed query, so the redirect stays on this page whatever was sent.
    let back = GradesQuery::url_of(&form.back).unwrap_or_else(|| "/instructor/grades".into());
    state
        .blocking(move |s| {
            s.course
                .set_grade(&s.accounts, &entry, view::now())
                .map_err(|e| match e {
                    denis::GradeError::UnknownAssignment(_) | denis::GradeError::NotAStudent(_) => {
                        WebError::BadRequest(e.to_string())
                    }
                    other => WebError::Grade(other),
                })
        })
        .await?;
    Ok(Redirect::to(&back).into_response())
}

/// `GET /instructor/gradebook.csv`: one row per student and assignment, with the total.
async fn gradebook_csv(
    State(state): State<AppState>,
    Instructor(_me): Instructor,
) -> Result<Response, WebError> {
    let csv = state
        .blocking(|s| {
            let rows = denis::grades::gradebook(&s.course, &s.accounts, &Filter::default())?;
            let mut out = Vec::new();
            denis::grades::write_csv(&rows, &mut out)?;
            Ok(out)
        })
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"gradebook.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roster_csv_skips_the_header_and_unquotes_fields() {
        let lines =
            parse_roster_csv("username,full name,student id\nalice,\"Alice A\",s1\n\nbob,Bob,s2\n")
                .unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].full_name, "Alice A");
        assert_eq!(lines[1].student_id, "s2");
    }

    #[test]
    fn roster_csv_names_the_bad_line() {
        let err = parse_roster_csv("alice,Alice\n").unwrap_err();
        assert!(err.contains("line 1"), "{err}");
        let err = parse_roster_csv("alice,Alice,S1\nbob,Bob,\n").unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("no student id"),
            "{err}"
        );
        let err = parse_roster_csv("alice,Alice,S1\nalice,Other,S9\n").unwrap_err();
        assert!(err.contains("line 2") && err.contains("line 1"), "{err}");
    }

    #[test]
    fn roster_csv_follows_rfc_4180_and_reads_the_gradebook_export_back() {
        let lines = parse_roster_csv("alice,\"Liddell, Alice\",S002\n").unwrap();
        assert_eq!(lines[0].full_name, "Liddell, Alice");
        // What the gradebook export writes: a header, one row per student and assignment,
        // quoting, and a guard before text a spreadsheet would run.
        let rows = [
            denis::grades::csv::line(&[
                "username",
                "full name",
                "student id",
                "assignment",
                "initial",
                "review1",
                "review2",
                "final",
                "total",
            ]),
            denis::grades::csv::line(&[
                "alice",
                "Liddell, Alice",
                "S002",
                "hw1",
                "",
                "",
                "",
                "",
                "-",
            ]),
            denis::grades::csv::line(&[
                "alice",
                "Liddell, Alice",
                "S002",
                "hw2",
                "",
                "",
                "",
                "",
                "-",
            ]),
            denis::grades::csv::line(&[
                "mallory",
                &denis::grades::csv::text_cell("=1+1"),
                "S003",
                "hw1",
                "",
                "",
                "",
                "",
                "-",
            ]),
        ]
        .concat();
        let lines = parse_roster_csv(&rows).unwrap();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].full_name, "Liddell, Alice");
        assert_eq!(lines[1].full_name, "=1+1");
    }
}
