//! `/instructor/`: the course at a glance for instructors: who is missing, who is frozen (and
//! lifting it, through denis), what instructors asked for and what the deadlines did.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use denis::{Filter, Request, RequestAction};

use crate::error::WebError;
use crate::extract::Form;
use crate::routes::auth::CsrfForm;
use crate::session::Instructor;
use crate::state::{AppState, Inner};
use crate::view::{self, Nav};

use super::roster::path_user;

#[derive(Template)]
#[template(path = "instructor/index.html")]
pub(super) struct IndexPage {
    nav: Nav,
    /// One row per assignment: where it stands.
    overview: Vec<OverviewRow>,
    missing: Vec<(String, String)>,
    /// Missing students left out of the list.
    missing_more: usize,
    restricted: Result<Vec<String>, String>,
    requests: Vec<RequestView>,
    runs: Vec<RunView>,
}

/// An instructor request as a row.
#[derive(Debug, Clone)]
pub(super) struct RequestView {
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
/// An assignment at a glance (SPEC §11): its next deadline and what it has received.
#[derive(Debug, Clone)]
pub(super) struct OverviewRow {
    name: String,
    /// The next deadline to run, in words, or that all have run.
    next: String,
    submitted: u64,
    missing: usize,
    /// Missing students whose view is frozen.
    frozen: usize,
    reviews: u64,
    finals: u64,
    graded: u64,
}

/// The overview rows of every assignment (pure but for the clock).
fn overview_rows(
    assignments: &[denis::Assignment],
    runs: &[denis::DeadlineRun],
    counts: &std::collections::HashMap<
        denis::AssignmentName,
        denis::db::overview::AssignmentCounts,
    >,
    students: usize,
    missing: &[(String, String)],
    frozen: &[String],
    now: i64,
) -> Vec<OverviewRow> {
    assignments
        .iter()
        .map(|a| {
            let ran = |d: denis::Deadline| {
                runs.iter()
                    .any(|r| r.assignment == a.name && r.deadline == d && r.finished_at.is_some())
            };
            let next = denis::Deadline::ALL.iter().find(|d| !ran(**d)).map_or(
                "all deadlines have run".to_string(),
                |d| match d.at(&a.deadlines) {
                    Some(at) => format!("{d}: {}", view::deadline(Some(at), now)),
                    None => format!("{d}: when you run it"),
                },
            );
            let name = a.name.to_string();
            let missing_here: Vec<&String> = missing
                .iter()
                .filter(|(m, _)| *m == name)
                .map(|(_, u)| u)
                .collect();
            let c = counts.get(&a.name).cloned().unwrap_or_default();
            OverviewRow {
                next,
                submitted: c.initial,
                // Counted for every assignment; named (and checked for a freeze) only where its
                // initial deadline has passed.
                missing: students.saturating_sub(usize::try_from(c.initial).unwrap_or(usize::MAX)),
                frozen: missing_here.iter().filter(|u| frozen.contains(u)).count(),
                reviews: c.reviews,
                finals: c.finals,
                graded: c.graded,
                name,
            }
        })
        .collect()
}

pub(super) fn restricted(s: &Inner) -> Result<Vec<String>, String> {
    journal::JournalWriter::open(&s.journal)
        .and_then(|j| j.caps())
        .map(|caps| caps.into_iter().map(|(u, _)| u.to_string()).collect())
        .map_err(|e| e.to_string())
}

/// A deadline run as a row.
#[derive(Debug, Clone)]
pub(super) struct RunView {
    assignment: String,
    deadline: String,
    started: String,
    finished: String,
    summary: String,
}

/// How many missing students the overview lists by name.
const MISSING_SHOWN: usize = 100;

/// `GET /instructor/`: who is missing, and what the deadlines did.
pub(super) async fn index(
    State(state): State<AppState>,
    Instructor(me): Instructor,
) -> Result<Html<String>, WebError> {
    let (overview, missing, restricted, requests, runs) = state
        .blocking(|s| {
            let assignments = s.course.list_assignments()?;
            let students = s
                .accounts
                .list_users()?
                .iter()
                .filter(|u| u.role == accounts::Role::Student)
                .count();
            // The students to chase: missing once an initial deadline has passed. Only those
            // assignments are asked (a query per student each); the others are counted.
            let now_us = view::now().saturating_mul(1_000_000);
            let mut missing: Vec<(String, String)> = Vec::new();
            for a in assignments
                .iter()
                .filter(|a| denis::Deadlines::passed(a.deadlines.initial, now_us))
            {
                let only = Filter {
                    assignment: Some(a.name.clone()),
                    user: None,
                };
                missing.extend(
                    s.course
                        .missing(&only, &s.accounts)?
                        .into_iter()
                        .map(|m| (m.assignment.to_string(), m.username.to_string())),
                );
            }
            let all_runs = s.course.deadline_runs(None)?;
            let frozen = restricted(s);
            let overview = overview_rows(
                &assignments,
                &all_runs,
                &s.course.assignment_counts()?,
                students,
                &missing,
                frozen.as_deref().unwrap_or_default(),
                view::now(),
            );
            let runs = all_runs
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
            // A page's worth of names; the overview counts everyone.
            let more = missing.len().saturating_sub(MISSING_SHOWN);
            missing.truncate(MISSING_SHOWN);
            Ok((overview, (missing, more), frozen, requests, runs))
        })
        .await?;
    let (missing, missing_more) = missing;
    let page = IndexPage {
        nav: Nav::of(&me),
        overview,
        missing,
        missing_more,
        restricted,
        requests,
        runs,
    };
    Ok(Html(page.render()?))
}

/// `POST /instructor/restrictions/{user}/lift`: asks denis to lift a restriction.
pub(super) async fn lift_restriction(
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
