//! Grades: entry, the paged gradebook with its filters, the distribution charts and the
//! CSV export.

use std::sync::Arc;

use accounts::Username;
use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use denis::grades::{Distribution, DistributionCache, GradebookPage};
use denis::{AssignmentName, Component, Filter, GradeEntry, Score};
use serde::Deserialize;

use crate::chart;
use crate::error::WebError;
use crate::extract::{Form, Query};
use crate::session::{CurrentUser, Instructor};
use crate::state::AppState;
use crate::view::{self, Nav};

use super::submissions::FilterQuery;

/// A gradebook row for the grades page.
#[derive(Debug, Clone)]
pub(super) struct GradeRow {
    user: String,
    assignment: String,
    initial: String,
    review1: String,
    review2: String,
    final_: String,
    total: String,
}

/// How many students one page of the gradebook shows (each with a row per assignment).
pub(super) const STUDENTS_PER_PAGE: usize = 100;

#[derive(Template)]
#[template(path = "instructor/grades.html")]
pub(super) struct GradesPage {
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
pub(super) struct Pager {
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
pub(super) struct MissingGradesPage {
    nav: Nav,
    message: String,
    last: String,
}

/// The grades page for `filter` at page `number` (page 1 has no `page` parameter).
pub(super) fn grades_url(filter: &Filter, number: usize) -> String {
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

/// A grade cell: score (with `*` for automatic zeros) or `-`.
pub(super) fn cell(grade: Option<&denis::Grade>) -> String {
    match grade {
        Some(g) if g.automatic => format!("{}*", g.score.get()),
        Some(g) => g.score.get().to_string(),
        None => "-".to_string(),
    }
}

/// Query of the grades page: the filters of [`FilterQuery`] and the page number.
#[derive(Debug, Default, Deserialize)]
pub(super) struct GradesQuery {
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
pub(super) async fn grades(
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
pub(super) struct GradeForm {
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
pub(super) async fn set_grade(
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
pub(super) async fn gradebook_csv(
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
