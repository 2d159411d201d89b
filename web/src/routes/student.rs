//! The student's pages: dashboard (SPEC §10), activity log, oopsie with confirmation.
//!
//! Every query here is filtered by the logged-in user's name, never by a request parameter, so
//! one student cannot ask for another's data.

use std::collections::HashMap;

use accounts::Role;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use denis::db::student::StudentRecord;
use denis::grades::gradebook::{GradebookInputs, build_rows};
use denis::{
    AssignmentName, Component, Deadline, Deadlines, Filter, GradeableRow, Severity, Submission,
};

use crate::error::WebError;
use crate::routes::auth::CsrfForm;
use crate::session::CurrentUser;
use crate::state::{AppState, Inner};
use crate::view::{self, Nav};

/// One submission as a row.
#[derive(Debug, Clone)]
pub struct SubmissionView {
    /// The submission id.
    pub id: String,
    /// When it was sent (AUTH time).
    pub at: String,
    /// Patchset, review, discussion, other.
    pub kind: String,
    /// The assignment, if any.
    pub assignment: String,
    /// The component, if any.
    pub component: String,
    /// The recorded status.
    pub status: String,
    /// Messages in the session.
    pub messages: i64,
}

impl SubmissionView {
    /// The row of `s`.
    pub fn of(s: &Submission) -> SubmissionView {
        SubmissionView {
            id: s.submission_id.as_str().to_string(),
            at: view::micros(s.auth_time_us),
            kind: s.kind.to_string(),
            assignment: s
                .assignment
                .as_ref()
                .map_or("-", |a| a.as_str())
                .to_string(),
            component: s.component.map_or("-", |c| c.as_str()).to_string(),
            status: s.status.to_string(),
            messages: s.message_count,
        }
    }
}

/// A gradeable with its findings, full or summarised.
#[derive(Debug, Clone)]
pub struct GradeableView {
    /// The submission id.
    pub id: String,
    /// The component it counts for.
    pub component: String,
    /// When it was sent.
    pub at: String,
    /// The overall severity (`ok`, `warning`, `fatal`: also the CSS class).
    pub severity: String,
    /// The one-line summary shown before the deadline.
    pub summary: String,
    /// Every finding as (severity, message); empty before the deadline.
    pub findings: Vec<(String, String)>,
}

/// One grade.
#[derive(Debug, Clone)]
pub struct GradeView {
    /// The component.
    pub component: String,
    /// 0–100.
    pub score: u8,
    /// The instructor's feedback.
    pub feedback: String,
    /// An automatic zero.
    pub automatic: bool,
}

/// Everything the dashboard shows about one assignment.
#[derive(Debug, Clone)]
pub struct AssignmentView {
    /// Its name (also its address).
    pub name: String,
    /// The three deadlines, formatted.
    pub initial: String,
    /// Peer review deadline.
    pub peer_review: String,
    /// Final deadline.
    pub final_: String,
    /// No scheduled deadlines.
    pub dummy: bool,
    /// The student's submissions to it.
    pub submissions: Vec<SubmissionView>,
    /// The gradeables and their findings.
    pub gradeables: Vec<GradeableView>,
    /// Whom the student reviews.
    pub reviewees: Vec<String>,
    /// Recorded grades.
    pub grades: Vec<GradeView>,
    /// The SPEC §10 total (`-` while pending).
    pub total: String,
    /// The student used an oopsie here.
    pub oopsie_used: bool,
    /// The student may still use one here.
    pub oopsie_available: bool,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    nav: Nav,
    full_name: String,
    address: String,
    assignments: Vec<AssignmentView>,
    oopsies_left: u32,
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage {
    nav: Nav,
    submissions: Vec<SubmissionView>,
}

#[derive(Template)]
#[template(path = "oopsie.html")]
struct OopsiePage {
    nav: Nav,
    assignment: String,
    final_: String,
}

/// The deadline from which a component's full findings are shown.
fn deadline_of(component: Component) -> Deadline {
    match component {
        Component::Initial => Deadline::Initial,
        Component::Review1 | Component::Review2 => Deadline::PeerReview,
        Component::Final => Deadline::Final,
    }
}

/// One line for a set of findings, as shown before the deadline (pure).
pub fn summary(row: &GradeableRow) -> String {
    let count = |sev| row.findings.iter().filter(|f| f.severity == sev).count();
    match row.gradeable.severity {
        Severity::Ok => "all checks passed".to_string(),
        Severity::Warning => format!("{} warning(s)", count(Severity::Warning)),
        Severity::Fatal => format!(
            "{} fatal problem(s), {} warning(s): this cannot be graded as sent",
            count(Severity::Fatal),
            count(Severity::Warning)
        ),
    }
}

/// A gradeable as the student sees it at `now_us`.
pub fn gradeable_view(row: &GradeableRow, deadlines: &Deadlines, now_us: i64) -> GradeableView {
    let g = &row.gradeable;
    let full = Deadlines::passed(deadline_of(g.component).at(deadlines), now_us);
    GradeableView {
        id: g.submission_id.as_str().to_string(),
        component: g.component.to_string(),
        at: view::micros(g.submitted_at_us),
        severity: g.severity.to_string(),
        summary: summary(row),
        findings: if full {
            row.findings
                .iter()
                .map(|f| (f.severity.to_string(), f.message.clone()))
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// Gathers the dashboard of the logged-in student.
///
/// Two reads whatever the size of the course: the assignments, and this student's own rows
/// (one index search by username per table, see [`denis::db::student`]). The totals come from
/// denis's gradebook rules fed with this student alone, so the page and the gradebook agree.
fn dashboard_data(s: &Inner, user: &CurrentUser) -> Result<(Vec<AssignmentView>, u32), WebError> {
    let me = user.username().clone();
    let now_us = view::now().saturating_mul(1_000_000);
    let assignments = s.course.list_assignments()?;
    let StudentRecord {
        submissions,
        gradeables,
        grades,
        reviews,
        oopsies,
    } = s.course.student_record(&me)?;
    let used = u32::try_from(oopsies.len()).unwrap_or(u32::MAX);
    let oopsies_left = s.site.oopsies_per_term.saturating_sub(used);
    let mut my_reviewees: HashMap<AssignmentName, Vec<String>> = HashMap::new();
    for r in reviews {
        my_reviewees
            .entry(r.assignment)
            .or_default()
            .push(r.reviewee.to_string());
    }
    let inputs = GradebookInputs {
        students: vec![user.session.user.clone()],
        assignments: assignments.iter().map(|a| a.name.clone()).collect(),
        grades: grades.clone(),
        reviewees: my_reviewees
            .iter()
            .map(|(a, names)| ((a.clone(), me.clone()), names.len()))
            .collect(),
        oopsies: oopsies.into_iter().map(|a| (a, me.clone())).collect(),
    };
    let totals: HashMap<AssignmentName, (String, bool)> = build_rows(inputs)
        .into_iter()
        .map(|row| (row.assignment, (row.total.to_string(), row.oopsie)))
        .collect();
    let mut views = Vec::new();
    for a in assignments {
        let mine = |name: &Option<AssignmentName>| name.as_ref() == Some(&a.name);
        let reviewees = my_reviewees.remove(&a.name).unwrap_or_default();
        let (total, oopsie_used) = totals
            .get(&a.name)
            .cloned()
            .unwrap_or_else(|| ("-".to_string(), false));
        let initial_passed = Deadlines::passed(a.deadlines.initial, now_us);
        views.push(AssignmentView {
            name: a.name.to_string(),
            initial: view::seconds(a.deadlines.initial),
            peer_review: view::seconds(a.deadlines.peer_review),
            final_: view::seconds(a.deadlines.final_),
            dummy: a.dummy,
            submissions: submissions
                .iter()
                .filter(|x| mine(&x.assignment))
                .map(SubmissionView::of)
                .collect(),
            gradeables: gradeables
                .iter()
                .filter(|g| g.gradeable.assignment == a.name)
                .map(|g| gradeable_view(g, &a.deadlines, now_us))
                .collect(),
            reviewees,
            grades: grades
                .iter()
                .filter(|g| g.assignment == a.name)
                .map(|g| GradeView {
                    component: g.component.to_string(),
                    score: g.score.get(),
                    feedback: g.feedback.clone(),
                    automatic: g.automatic,
                })
                .collect(),
            total,
            oopsie_used,
            oopsie_available: user.session.user.role == Role::Student
                && !oopsie_used
                && !initial_passed
                && oopsies_left > 0,
        });
    }
    Ok((views, oopsies_left))
}

/// `GET /dashboard`.
pub async fn dashboard(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Html<String>, WebError> {
    let who = user.clone();
    let (assignments, oopsies_left) = state.blocking(move |s| dashboard_data(s, &who)).await?;
    let page = DashboardPage {
        nav: Nav::of(&user),
        full_name: user.session.user.full_name.clone(),
        address: format!("{}@{}", user.username(), state.0.site.hostname),
        assignments,
        oopsies_left,
    };
    Ok(Html(page.render()?))
}

/// `GET /activity`: every submission of the logged-in user.
pub async fn activity(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Html<String>, WebError> {
    let me = user.username().clone();
    let submissions = state
        .blocking(move |s| {
            let filter = Filter {
                assignment: None,
                user: Some(me),
            };
            Ok(s.course.inspect_submissions(&filter)?)
        })
        .await?;
    let page = ActivityPage {
        nav: Nav::of(&user),
        submissions: submissions.iter().rev().map(SubmissionView::of).collect(),
    };
    Ok(Html(page.render()?))
}

/// Parses an assignment name from the path; unknown or malformed names are 404.
fn assignment_name(raw: &str) -> Result<AssignmentName, WebError> {
    AssignmentName::parse(raw).map_err(|_| WebError::NotFound)
}

/// `GET /oopsie/{assignment}`: the confirmation step.
pub async fn oopsie_confirm(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
) -> Result<Html<String>, WebError> {
    let name = assignment_name(&raw)?;
    let assignment = state
        .blocking(move |s| Ok(s.course.get_assignment(name.as_str())?))
        .await?
        .ok_or(WebError::NotFound)?;
    let page = OopsiePage {
        nav: Nav::of(&user),
        assignment: assignment.name.to_string(),
        final_: view::seconds(assignment.deadlines.final_),
    };
    Ok(Html(page.render()?))
}

/// `POST /oopsie/{assignment}`: uses the oopsie (denis checks the rules in one transaction).
pub async fn oopsie_use(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(raw): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    if user.session.user.role != Role::Student {
        return Err(WebError::BadRequest(
            "oopsies are for students; use `coursemail oopsie USER ASSIGNMENT`".into(),
        ));
    }
    let name = assignment_name(&raw)?;
    let me = user.username().clone();
    state
        .blocking(move |s| {
            s.course
                .use_oopsie(&me, &name, view::now(), s.site.oopsies_per_term)
                .map_err(|e| match e {
                    // A database failure is the server's problem: the generic error page, and
                    // nothing internal shown to the student.
                    denis::OopsieError::Db(e) => WebError::Course(e),
                    rule => WebError::BadRequest(rule.to_string()),
                })?;
            tracing::info!(user = %me, assignment = %name, "oopsie used on the web");
            Ok(())
        })
        .await?;
    Ok(Redirect::to("/dashboard").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use denis::{Finding, Gradeable};
    use journal::{SubmissionId, Username};

    fn row(component: Component, findings: Vec<Finding>) -> GradeableRow {
        GradeableRow {
            gradeable: Gradeable {
                submission_id: SubmissionId::parse("0123456789abcdef01234567890000").unwrap(),
                username: Username::parse("alice").unwrap(),
                assignment: AssignmentName::parse("hw1").unwrap(),
                component,
                submitted_at_us: 0,
                severity: denis::model::overall_severity(&findings),
            },
            findings,
        }
    }

    #[test]
    fn findings_are_summarised_before_the_deadline_and_full_from_it() {
        let r = row(
            Component::Initial,
            vec![Finding::ok("applies"), Finding::warning("whitespace in 2")],
        );
        let deadlines = Deadlines {
            initial: Some(100),
            peer_review: Some(200),
            final_: Some(300),
        };
        let before = gradeable_view(&r, &deadlines, 99_000_000);
        assert!(before.findings.is_empty());
        assert_eq!(before.summary, "1 warning(s)");
        let after = gradeable_view(&r, &deadlines, 100_000_000);
        assert_eq!(after.findings.len(), 2);
        assert_eq!(after.findings[1].1, "whitespace in 2");
    }
}
