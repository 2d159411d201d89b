//! The student's pages: dashboard (SPEC §10), activity log, oopsie with confirmation.
//!
//! Every query here is filtered by the logged-in user's name, never by a request parameter, so
//! one student cannot ask for another's data.

use std::collections::HashMap;

use accounts::Role;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use denis::db::student::StudentRecord;
use denis::grades::gradebook::{GradebookInputs, build_rows};
use denis::{
    AssignmentName, Component, Deadline, DeadlineRun, Deadlines, Filter, GradeableRow, Severity,
    Submission,
};
use journal::Username;

use crate::error::WebError;
use crate::extract::Form;
use crate::routes::auth::CsrfForm;
use crate::session::CurrentUser;
use crate::state::{AppState, FindingsPolicy, Inner};
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
    /// The subject of its first message (the cover letter of a series), if it can be read.
    pub subject: String,
    /// The series version from the subject's tag (`v2` of `[PATCH v2 0/3]`), if any.
    pub version: String,
    /// The stored message its first message replies to (a review's series), or empty.
    pub in_reply_to: String,
}

/// The `Subject` of a stored message, decoded; empty when it has none or cannot be read.
pub fn subject_of(mail: &journal::store::MailStore, id: &journal::MessageId) -> String {
    use std::io::Read as _;
    let mut header = Vec::with_capacity(4096);
    let read =
        std::fs::File::open(mail.path(id)).and_then(|f| f.take(64 * 1024).read_to_end(&mut header));
    if read.is_err() {
        return String::new();
    }
    mail_parser::MessageParser::default()
        .parse_headers(&header)
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_default()
}

/// The version of a series from its subject tag: `v2` of `[RFC PATCH v2 1/3]`; `v1` when the
/// tag has none, as git format-patch writes a first version (pure).
pub fn series_version(subject: &str) -> String {
    let Some(tag) = subject
        .trim_start()
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .map(|(tag, _)| tag)
    else {
        return String::new();
    };
    if !tag.contains("PATCH") {
        return String::new();
    }
    tag.split_whitespace()
        .find(|w| w.len() > 1 && w.starts_with('v') && w[1..].bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or("v1")
        .to_string()
}

impl SubmissionView {
    /// The row of `s`, with the subject of its first message read from `mail`.
    pub fn with_subject(s: &Submission, mail: &journal::store::MailStore) -> SubmissionView {
        let mut view = SubmissionView::of(s);
        if let Ok(first) = s.submission_id.message(1) {
            view.subject = subject_of(mail, &first);
            view.version = series_version(&view.subject);
        }
        view
    }

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
            subject: String::new(),
            version: String::new(),
            in_reply_to: s
                .in_reply_to
                .as_ref()
                .map(|id| id.as_str().to_string())
                .unwrap_or_default(),
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
    /// Every finding as (severity, message split into text and `code` spans); empty before
    /// the deadline unless the course shows them at once.
    pub findings: Vec<(String, Vec<Span>)>,
}

/// A piece of a finding's message: plain text, or code (what the grader quoted in backticks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Shown in a `<code>` element.
    pub code: bool,
    /// The text (escaped by the template).
    pub text: String,
}

/// Splits `text` at backticks into plain and code spans; an unpaired backtick stays text
/// (pure). The grader writes paths and commands in backticks, which pages show as code.
pub fn spans(text: &str) -> Vec<Span> {
    let parts: Vec<&str> = text.split('`').collect();
    let paired = parts.len() % 2 == 1;
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let code = i % 2 == 1 && (paired || !last);
        if part.is_empty() {
            continue;
        }
        if !paired && last && i % 2 == 1 {
            out.push(Span {
                code: false,
                text: format!("`{part}"),
            });
        } else {
            out.push(Span {
                code,
                text: (*part).to_string(),
            });
        }
    }
    out
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
    /// Whom the student reviews: (username, Message-ID of their cover letter, to reply to).
    pub reviewees: Vec<(String, String)>,
    /// Where series for it go: `name@domain`.
    pub address: String,
    /// What the student should do next, in one sentence.
    pub next_step: String,
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
    /// Only students have oopsies.
    student: bool,
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

/// One line for a set of findings, as shown before the deadline (pure): which checks failed,
/// not their details (students learn to check their own work, SPEC §10), and what it means.
pub fn summary(row: &GradeableRow) -> String {
    let names = denis::summarize(&row.findings);
    match row.gradeable.severity {
        Severity::Ok => names,
        Severity::Warning => {
            format!("{names}; it can be graded, but fix them in your next version")
        }
        Severity::Fatal => {
            format!("{names}; this cannot be graded as sent: send a corrected version")
        }
    }
}

/// A gradeable as the student sees it at `now_us`: every finding from its deadline on, or
/// at once when the course shows them before the deadline.
pub fn gradeable_view(
    row: &GradeableRow,
    deadlines: &Deadlines,
    now_us: i64,
    policy: FindingsPolicy,
) -> GradeableView {
    let g = &row.gradeable;
    let full = policy == FindingsPolicy::Full
        || Deadlines::passed(deadline_of(g.component).at(deadlines), now_us);
    GradeableView {
        id: g.submission_id.as_str().to_string(),
        component: g.component.to_string(),
        at: view::micros(g.submitted_at_us),
        severity: g.severity.to_string(),
        summary: summary(row),
        findings: if full {
            row.findings
                .iter()
                .map(|f| (f.severity.to_string(), spans(&f.message)))
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// A deadline as the dashboard shows it: its time in the course's zone and how far away it
/// is, and, for one an instructor ran early, the date it had been scheduled for.
fn deadline_text(at: Option<i64>, run: Option<&DeadlineRun>, now: i64) -> String {
    match run.and_then(|r| r.scheduled_at) {
        Some(scheduled) => format!(
            "{} (run early; it was scheduled for {})",
            view::deadline(at, now),
            view::seconds(Some(scheduled))
        ),
        None => view::deadline(at, now),
    }
}

/// What a student should do next for an assignment with `deadlines` at `now` (pure).
pub fn next_step(
    deadlines: &Deadlines,
    now: i64,
    submitted_initial: bool,
    reviewees: usize,
    oopsie: bool,
) -> String {
    let us = now.saturating_mul(1_000_000);
    let passed = |at| Deadlines::passed(at, us);
    // A dummy assignment's deadlines have no date until an instructor runs them.
    let by = |at: Option<i64>, which: &str| match at {
        Some(_) => format!("before {}", view::deadline(at, now)),
        None => format!("before your instructor runs the {which} deadline"),
    };
    if !passed(deadlines.initial) {
        if oopsie {
            return format!(
                "You used an oopsie: send only your final [PATCH] series, {}.",
                by(deadlines.final_, "final")
            );
        }
        let again = if submitted_initial {
            " (you sent one; a new version replaces it)"
        } else {
            ""
        };
        return format!(
            "Send your [RFC PATCH v1] series {}{again}.",
            by(deadlines.initial, "initial")
        );
    }
    if !passed(deadlines.peer_review) && reviewees > 0 {
        return format!(
            "Review your classmates' series: reply to their cover letters, {}.",
            by(deadlines.peer_review, "peer-review")
        );
    }
    if !passed(deadlines.final_) {
        return format!(
            "Send your final [PATCH vN] series (count up from your last version), {}.",
            by(deadlines.final_, "final")
        );
    }
    "All deadlines have passed.".to_string()
}

/// Gathers the dashboard of the logged-in student.
///
/// Two reads whatever the size of the course: the assignments, and this student's own rows
/// (one index search by username per table, see [`denis::db::student`]). The totals come from
/// denis's gradebook rules fed with this student alone, so the page and the gradebook agree.
fn dashboard_data(s: &Inner, user: &CurrentUser) -> Result<(Vec<AssignmentView>, u32), WebError> {
    let me = user.username().clone();
    let now = view::now();
    let now_us = now.saturating_mul(1_000_000);
    let assignments = s.course.list_assignments()?;
    let runs = s.course.deadline_runs(None)?;
    let StudentRecord {
        submissions,
        gradeables,
        grades,
        reviews,
        oopsies,
    } = s.course.student_record(&me)?;
    let used = u32::try_from(oopsies.len()).unwrap_or(u32::MAX);
    let oopsies_left = s.site.oopsies_per_term.saturating_sub(used);
    let mut my_reviewees: HashMap<AssignmentName, Vec<Username>> = HashMap::new();
    for r in reviews {
        my_reviewees
            .entry(r.assignment)
            .or_default()
            .push(r.reviewee);
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
        // Each reviewee's latest initial: its cover letter is what a review replies to.
        let mut reviewees = Vec::new();
        for name in my_reviewees.remove(&a.name).unwrap_or_default() {
            let cover = s
                .course
                .latest_gradeable(&a.name, Component::Initial, &name)?
                .and_then(|g| g.submission_id.message(1).ok())
                .map(|id| format!("<{id}@{}>", s.site.hostname))
                .unwrap_or_default();
            reviewees.push((name.to_string(), cover));
        }
        let (total, oopsie_used) = totals
            .get(&a.name)
            .cloned()
            .unwrap_or_else(|| ("-".to_string(), false));
        let initial_passed = Deadlines::passed(a.deadlines.initial, now_us);
        let run = |deadline: Deadline| {
            runs.iter()
                .find(|r| r.assignment == a.name && r.deadline == deadline)
        };
        let submitted_initial = gradeables.iter().any(|g| {
            g.gradeable.assignment == a.name && g.gradeable.component == Component::Initial
        });
        views.push(AssignmentView {
            name: a.name.to_string(),
            address: format!("{}@{}", a.name, s.site.hostname),
            next_step: next_step(
                &a.deadlines,
                now,
                submitted_initial,
                reviewees.len(),
                oopsie_used,
            ),
            initial: deadline_text(a.deadlines.initial, run(Deadline::Initial), now),
            peer_review: deadline_text(a.deadlines.peer_review, run(Deadline::PeerReview), now),
            final_: deadline_text(a.deadlines.final_, run(Deadline::Final), now),
            dummy: a.dummy,
            submissions: submissions
                .iter()
                .filter(|x| mine(&x.assignment))
                .map(|x| SubmissionView::with_subject(x, &s.mail))
                .collect(),
            gradeables: gradeables
                .iter()
                .filter(|g| g.gradeable.assignment == a.name)
                .map(|g| gradeable_view(g, &a.deadlines, now_us, s.site.findings_before_deadline))
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
        student: user.session.user.role == Role::Student,
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
        submissions: submissions
            .iter()
            .rev()
            .map(|x| SubmissionView::with_subject(x, &state.0.mail))
            .collect(),
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
            vec![
                Finding::ok("applies").of(denis::Check::Applies),
                Finding::warning("whitespace in 2").of(denis::Check::Whitespace),
            ],
        );
        let deadlines = Deadlines {
            initial: Some(100),
            peer_review: Some(200),
            final_: Some(300),
        };
        let before = gradeable_view(&r, &deadlines, 99_000_000, FindingsPolicy::Summary);
        assert!(before.findings.is_empty());
        assert_eq!(
            before.summary,
            "1 check failed: whitespace (warning); it can be graded, but fix them in your next \
             version"
        );
        let after = gradeable_view(&r, &deadlines, 100_000_000, FindingsPolicy::Summary);
        assert_eq!(after.findings.len(), 2);
        assert_eq!(after.findings[1].1, spans("whitespace in 2"));
        let full = gradeable_view(&r, &deadlines, 99_000_000, FindingsPolicy::Full);
        assert_eq!(
            full.findings.len(),
            2,
            "the course shows every finding at once"
        );
    }

    #[test]
    fn backticks_become_code_spans_and_an_unpaired_one_stays_text() {
        let code = |t: &str| Span {
            code: true,
            text: t.into(),
        };
        let text = |t: &str| Span {
            code: false,
            text: t.into(),
        };
        assert_eq!(
            spans("touches `bob/x.c`, outside `alice/`"),
            [
                text("touches "),
                code("bob/x.c"),
                text(", outside "),
                code("alice/")
            ]
        );
        assert_eq!(spans("a ` b"), [text("a "), text("` b")]);
        assert_eq!(spans("`<script>`"), [code("<script>")]);
    }

    #[test]
    fn series_versions_come_from_the_subject_tag() {
        assert_eq!(series_version("[RFC PATCH v2 0/3] fix"), "v2");
        assert_eq!(series_version("[PATCH 1/2] first"), "v1");
        assert_eq!(series_version("Re: [PATCH v3 0/1] x"), "");
        assert_eq!(series_version("hello v2"), "");
    }

    #[test]
    fn the_next_step_follows_the_deadlines() {
        let d = Deadlines {
            initial: Some(100),
            peer_review: Some(200),
            final_: Some(300),
        };
        assert!(
            next_step(&d, 50, false, 0, false)
                .starts_with("Send your [RFC PATCH v1] series before")
        );
        assert!(next_step(&d, 150, true, 2, false).starts_with("Review your classmates"));
        assert!(next_step(&d, 150, true, 0, false).starts_with("Send your final"));
        let dummy = Deadlines {
            initial: Some(100),
            peer_review: None,
            final_: None,
        };
        assert_eq!(
            next_step(&dummy, 150, true, 1, false),
            "Review your classmates' series: reply to their cover letters, before your \
             instructor runs the peer-review deadline."
        );
        assert_eq!(
            next_step(&d, 400, true, 2, false),
            "All deadlines have passed."
        );
    }
}
