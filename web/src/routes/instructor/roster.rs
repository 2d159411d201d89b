//! The roster: add one user, import a CSV (RFC 4180, all-or-nothing), reset a password and
//! withdraw a user, each destructive action after a confirmation, never on one's own account.

use accounts::{NewUser, Role, Username};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::error::WebError;
use crate::extract::{Form, Query};
use crate::routes::auth::CsrfForm;
use crate::session::Instructor;
use crate::state::{AppState, Inner};
use crate::view::{self, Nav};

use super::ConfirmPage;

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
pub(super) fn undo_formula_guard(field: &str) -> &str {
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
#[template(path = "instructor/roster.html")]
pub(super) struct RosterPage {
    nav: Nav,
    /// The instructor looking: their own row offers no reset or withdraw.
    me: String,
    /// What the change that led here did.
    notice: Option<String>,
    /// The forms as typed, when one came back with an error.
    typed: Typed,
    users: Vec<UserView>,
}

/// Query of `GET /instructor/roster`: what the last import added.
#[derive(Deserialize)]
pub(super) struct RosterQuery {
    imported: Option<u32>,
    added: Option<String>,
    logged_out: Option<String>,
}

impl RosterQuery {
    /// What the change that led here did; only a valid username or a number reaches the page.
    fn notice(&self) -> Option<String> {
        if let Some(count) = self.imported {
            let s = if count == 1 { "" } else { "s" };
            return Some(format!(
                "Imported {count} student{s}; each registers with their student id."
            ));
        }
        if let Some(user) = self
            .logged_out
            .as_deref()
            .and_then(|u| Username::parse(u).ok())
        {
            return Some(format!("Logged {user} out everywhere."));
        }
        self.added
            .as_deref()
            .and_then(|u| Username::parse(u).ok())
            .map(|u| format!("Added {u}."))
    }
}

/// Refuses an action on the instructor's own account: reset or withdrawn, they would be
/// locked out of the course they run.
pub(super) fn not_yourself(
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
pub(super) async fn confirm_reset(
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
pub(super) async fn confirm_withdraw(
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
pub(super) async fn roster(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Query(query): Query<RosterQuery>,
) -> Result<Html<String>, WebError> {
    let notice = query.notice();
    roster_page(&state, &me, notice, Typed::default()).await
}

/// The roster's forms as typed, with the error that sent one back (empty on a fresh page).
#[derive(Debug, Default)]
pub(super) struct Typed {
    username: String,
    full_name: String,
    student_id: String,
    instructor: bool,
    add_error: Option<String>,
    csv: String,
    import_error: Option<String>,
}

/// The roster page, its forms as `typed` says.
async fn roster_page(
    state: &AppState,
    me: &crate::session::CurrentUser,
    notice: Option<String>,
    typed: Typed,
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
        nav: Nav::of(me),
        me: me.username().to_string(),
        notice,
        typed,
        users,
    };
    Ok(Html(page.render()?))
}

/// Form of `POST /instructor/roster`.
#[derive(Deserialize)]
pub(super) struct AddUserForm {
    csrf: String,
    username: String,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    student_id: String,
    #[serde(default)]
    instructor: Option<String>,
}

/// The account a roster line asks for, without a password (they register with their student
/// id). Usernames share one namespace of local parts with assignments and lists, as smtp
/// routes by it, so a name that is one of those is refused.
pub(super) fn new_user(s: &Inner, line: &RosterLine, role: Role) -> Result<NewUser, WebError> {
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
pub(super) fn add_one(s: &Inner, line: &RosterLine, role: Role) -> Result<(), WebError> {
    let new = new_user(s, line, role)?;
    s.accounts.add_user(&new).map_err(|e| match e {
        accounts::AccountsError::Sqlite(_) | accounts::AccountsError::Database(_) => e.into(),
        other => WebError::BadRequest(other.to_string()),
    })?;
    Ok(())
}

/// `POST /instructor/roster`: add one user.
pub(super) async fn add_user(
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
        username: form.username.clone(),
        full_name: form.full_name.clone(),
        student_id: form.student_id.clone(),
    };
    let added = line.username.trim().to_string();
    match state.blocking(move |s| add_one(s, &line, role)).await {
        Ok(()) => Ok(
            Redirect::to(&view::url("/instructor/roster", &[("added", &added)])).into_response(),
        ),
        Err(WebError::BadRequest(error)) => {
            let typed = Typed {
                username: form.username,
                full_name: form.full_name,
                student_id: form.student_id,
                instructor: form.instructor.is_some(),
                add_error: Some(error),
                ..Typed::default()
            };
            let page = roster_page(&state, &me, None, typed).await?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(e) => Err(e),
    }
}

/// Form of `POST /instructor/roster/import`.
#[derive(Deserialize)]
pub(super) struct ImportForm {
    csrf: String,
    csv: String,
}

/// `POST /instructor/roster/import`: every line is checked before any user is added.
pub(super) async fn import_roster(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Form(form): Form<ImportForm>,
) -> Result<Response, WebError> {
    me.check_csrf(&form.csrf)?;
    match import(&state, &form.csv).await {
        Ok(added) => {
            Ok(Redirect::to(&format!("/instructor/roster?imported={added}")).into_response())
        }
        // The pasted roster comes back with the reason beside it, to fix the line and retry.
        Err(WebError::BadRequest(error)) => {
            let typed = Typed {
                csv: form.csv,
                import_error: Some(error),
                ..Typed::default()
            };
            let page = roster_page(&state, &me, None, typed).await?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(e) => Err(e),
    }
}

/// Imports the students of `csv`, all or none; returns how many were added.
async fn import(state: &AppState, csv: &str) -> Result<usize, WebError> {
    let lines = parse_roster_csv(csv).map_err(WebError::BadRequest)?;
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
    Ok(added.len())
}

/// The user named in a path.
pub(super) fn path_user(raw: &str) -> Result<Username, WebError> {
    Username::parse(raw).map_err(|_| WebError::NotFound)
}

/// `POST /instructor/roster/{user}/reset`: clears the password, so the student registers
/// again with their student id (and gets a fresh one-time password).
pub(super) async fn reset_password(
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

/// `POST /instructor/roster/{user}/logout`: ends every web session of a user ("log out
/// everywhere": a shared lab computer, a stolen laptop). Their password stays.
pub(super) async fn logout_everywhere(
    State(state): State<AppState>,
    Instructor(me): Instructor,
    Path(raw): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    me.check_csrf(&form.csrf)?;
    let user = path_user(&raw)?;
    let who = user.clone();
    let ended = state
        .blocking(move |s| Ok(s.accounts.end_sessions(&who, None)?))
        .await?;
    tracing::info!(%user, ended, by = %me.username(), "logged out everywhere");
    Ok(Redirect::to(&view::url(
        "/instructor/roster",
        &[("logged_out", user.as_str())],
    ))
    .into_response())
}

/// `POST /instructor/roster/{user}/remove`: withdraws a user.
pub(super) async fn withdraw(
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
