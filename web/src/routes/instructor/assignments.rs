//! Assignments: create (scheduled or dummy), change deadlines (past ones only when confirmed),
//! run a deadline now and remove, each destructive action after a confirmation. The web never
//! writes the journal: a deadline run is a request denis carries out (SPEC §3).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use denis::{AssignmentName, Deadline, Deadlines, NewAssignment, RequestAction};
use serde::Deserialize;

use crate::error::WebError;
use crate::extract::{Form, Query};
use crate::routes::auth::CsrfForm;
use crate::session::Instructor;
use crate::state::AppState;
use crate::view::{self, Nav};

use super::ConfirmPage;

/// An assignment as a row.
#[derive(Debug, Clone)]
pub(super) struct AssignmentRow {
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
pub(super) struct AssignmentsPage {
    nav: Nav,
    assignments: Vec<AssignmentRow>,
    /// The course's time zone, in which the forms read times.
    zone: String,
    /// What the last change did.
    notice: Option<String>,
    /// The create form: empty, or as typed with its error.
    create: CreateForm,
}

/// `GET /instructor/assignments`.
pub(super) async fn assignments(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Query(query): Query<NoticeQuery>,
) -> Result<Html<String>, WebError> {
    let notice = query.notice();
    assignments_page(&state, &me, notice, CreateForm::default()).await
}

/// The create form as typed, with the error that sent it back (empty on a fresh page).
#[derive(Debug, Default)]
pub(super) struct CreateForm {
    name: String,
    initial: String,
    peer_review: String,
    final_: String,
    dummy: bool,
    confirm_past: bool,
    error: Option<String>,
}

/// The assignments page, with the create form as `create` says.
async fn assignments_page(
    state: &AppState,
    me: &crate::session::CurrentUser,
    notice: Option<String>,
    create: CreateForm,
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
        nav: Nav::of(me),
        assignments,
        zone: view::time_zone().iana_name().unwrap_or("UTC").to_string(),
        notice,
        create,
    };
    Ok(Html(page.render()?))
}

/// What a change that led to a page did, from its query (`?created=hw1`, ...): only names
/// of things that exist, formatted here, so the query cannot put text on the page.
#[derive(Deserialize, Default)]
pub(super) struct NoticeQuery {
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
pub(super) struct AssignmentForm {
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
pub(super) fn check_past(deadlines: &Deadlines, confirmed: bool) -> Result<(), WebError> {
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
pub(super) fn deadline_field(label: &str, text: &str) -> Result<Option<i64>, WebError> {
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
pub(super) async fn create_assignment(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Form(form): Form<AssignmentForm>,
) -> Result<Response, WebError> {
    me.check_csrf(&form.csrf)?;
    match create(&state, &form).await {
        Ok(created) => {
            Ok(Redirect::to(&format!("/instructor/assignments?created={created}")).into_response())
        }
        // A mistake comes back on the same page, with what was typed and the reason beside it.
        Err(WebError::BadRequest(error)) => {
            let typed = CreateForm {
                name: form.name,
                initial: form.initial,
                peer_review: form.peer_review,
                final_: form.final_,
                dummy: form.dummy.is_some(),
                confirm_past: form.confirm_past.is_some(),
                error: Some(error),
            };
            let page = assignments_page(&state, &me, None, typed).await?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(e) => Err(e),
    }
}

/// Creates the assignment `form` describes; returns its name.
async fn create(state: &AppState, form: &AssignmentForm) -> Result<String, WebError> {
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
    Ok(created)
}

/// `POST /instructor/assignments/{name}/alter`: change some deadlines of a scheduled assignment.
pub(super) async fn alter_assignment(
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
pub(super) struct TriggerForm {
    csrf: String,
    deadline: String,
}

/// `POST /instructor/assignments/{name}/trigger`: asks denis to run one deadline now. The web
/// may not write the journal (SPEC §3), so this only records the request.
pub(super) async fn trigger_deadline(
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
pub(super) struct DeadlineQuery {
    deadline: String,
}

/// `GET /instructor/assignments/{name}/trigger?deadline=D`: says what running the deadline
/// now does before it is asked for (SPEC §11: destructive actions ask first).
pub(super) async fn confirm_trigger(
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
pub(super) async fn confirm_remove_assignment(
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
pub(super) async fn remove_assignment(
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
