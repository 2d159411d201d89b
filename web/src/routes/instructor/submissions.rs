//! Every submission and gradeable with its findings, and a submission's raw messages.

use accounts::Username;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::Html;
use denis::{AssignmentName, Filter};
use journal::SubmissionId;
use serde::Deserialize;

use crate::error::WebError;
use crate::extract::Query;
use crate::routes::student::SubmissionView;
use crate::session::Instructor;
use crate::state::AppState;
use crate::view::{self, Nav};

/// A gradeable as an instructor row.
#[derive(Debug, Clone)]
pub(super) struct GradeableRowView {
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
pub(super) struct SubmissionsPage {
    nav: Nav,
    submissions: Vec<(String, SubmissionView)>,
    gradeables: Vec<GradeableRowView>,
}

#[derive(Template)]
#[template(path = "instructor/raw.html")]
pub(super) struct RawPage {
    nav: Nav,
    id: String,
    user: String,
    /// The student's full name.
    full_name: String,
    /// What it is: subject and version, kind, assignment, component, status.
    row: SubmissionView,
    /// Its automated findings, as (severity, message).
    findings: Vec<(String, String)>,
    /// Where its grade is entered: the grades page filtered to this student and assignment.
    grade_link: String,
    /// Each message: (id, subject, the message as stored).
    messages: Vec<(String, String, String)>,
}

/// Query of the submissions and grades pages.
#[derive(Debug, Default, Deserialize)]
pub(super) struct FilterQuery {
    pub(super) assignment: Option<String>,
    pub(super) user: Option<String>,
}

impl FilterQuery {
    /// The filter; empty fields mean "all", malformed ones are an error.
    pub(super) fn filter(&self) -> Result<Filter, WebError> {
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
pub(super) async fn submissions(
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
pub(super) async fn raw_submission(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Path(raw): Path<String>,
) -> Result<Html<String>, WebError> {
    let id = SubmissionId::parse(&raw).map_err(|_| WebError::NotFound)?;
    let (sub, full_name, findings, messages) = state
        .blocking(move |s| {
            let Some(sub) = s.course.submission(&id)? else {
                return Err(WebError::NotFound);
            };
            let full_name = s
                .accounts
                .get_user(&sub.username)?
                .map(|u| u.full_name)
                .unwrap_or_default();
            let findings = s
                .course
                .findings(&id)?
                .into_iter()
                .map(|f| (f.severity.to_string(), f.message))
                .collect();
            let mut messages = Vec::new();
            let count = u16::try_from(sub.message_count).unwrap_or(u16::MAX);
            for index in 1..=count {
                let Ok(mid) = id.message(index) else { break };
                let text = match std::fs::read(s.mail.path(&mid)) {
                    Ok(wire) => String::from_utf8_lossy(&denis::intake::message::unstuff(&wire))
                        .into_owned(),
                    Err(e) => format!("(cannot read this message: {e})"),
                };
                let subject = crate::routes::student::subject_of(&s.mail, &mid);
                messages.push((mid.as_str().to_string(), subject, text));
            }
            let row = SubmissionView::with_subject(&sub, &s.mail);
            Ok((sub, (full_name, row), findings, messages))
        })
        .await?;
    let (full_name, row) = full_name;
    let grade_link = view::url(
        "/instructor/grades",
        &[
            ("user", sub.username.as_str()),
            (
                "assignment",
                sub.assignment.as_ref().map_or("", |a| a.as_str()),
            ),
        ],
    );
    let page = RawPage {
        nav: Nav::of(&me),
        id: raw,
        user: sub.username.to_string(),
        full_name,
        row,
        findings,
        grade_link,
        messages,
    };
    Ok(Html(page.render()?))
}
