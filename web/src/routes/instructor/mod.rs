//! The instructor's pages under `/instructor/` (SPEC §11): roster, assignments, submissions
//! with raw messages, missing students, grades with the distribution chart, CSV export.
//!
//! Every handler takes the [`Instructor`] extractor, so students get 403 before any work is
//! done. State changes are POSTs with the session's CSRF token and redirect back (so a reload
//! does not repeat them).
//!
//! # Layout
//! - [`overview`]: `/instructor/`, the course at a glance.
//! - [`roster`]: users, CSV import, password resets, withdrawals.
//! - [`assignments`]: assignments and their deadlines.
//! - [`submissions`]: every submission with its findings and raw messages.
//! - [`grades`]: grade entry, the gradebook, charts, CSV export.

mod assignments;
mod grades;
mod overview;
mod roster;
mod submissions;

use std::sync::Arc;

use askama::Template;
use axum::routing::{get, post};
use axum::{Extension, Router};
use denis::grades::DistributionCache;

use crate::state::AppState;
use crate::view::Nav;

use assignments::*;
use grades::*;
use overview::*;
use roster::*;
pub use roster::{RosterLine, parse_roster_csv};
use submissions::*;

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
        .route("/instructor/roster/{user}/logout", post(logout_everywhere))
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
