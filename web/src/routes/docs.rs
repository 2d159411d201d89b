//! The course site (SPEC §18): the Markdown in the base repository's `docs/` folder, at its
//! current `HEAD`, rendered as GitHub-flavoured Markdown. `/` shows `docs/index.md` (public, so
//! a syllabus can be linked); `/docs/PATH` the rest, and the images and files beside them.
//!
//! Files are read from the repository with git (`git cat-file` of `HEAD:docs/PATH`), never from
//! a path on disk, so no request names a file outside the repository's `docs/`. Raw HTML in the
//! Markdown is not rendered, and links to `javascript:` and the like are dropped (comrak's safe
//! mode). Pages are cached per base commit: a push shows at the next request.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use askama::Template;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::error::WebError;
use crate::session::CurrentUser;
use crate::state::AppState;
use crate::view::Nav;

/// Rendered pages of one base commit: a push changes the commit and empties it.
#[derive(Debug, Default)]
pub struct DocsCache {
    pages: Mutex<(String, HashMap<String, String>)>,
}

#[derive(Template)]
#[template(path = "docs.html")]
struct DocPage {
    nav: Nav,
    title: String,
    /// The rendered Markdown (safe: raw HTML is not rendered).
    body: String,
}

/// Where a link or image of a page in `docs/<folder>` points (pure): relative URLs are taken
/// from the page's folder under `/docs/`, so they work from `/` as from `/docs/...`; absolute
/// paths, fragments and URLs with a scheme are left as written.
pub fn resolve(folder: &str, url: &str) -> String {
    let has_scheme = url
        .split_once(':')
        .is_some_and(|(scheme, _)| !scheme.contains('/') && !scheme.is_empty());
    if has_scheme || url.starts_with('/') || url.starts_with('#') || url.starts_with('?') {
        return url.to_string();
    }
    if folder.is_empty() {
        format!("/docs/{url}")
    } else {
        format!("/docs/{folder}/{url}")
    }
}

/// A `docs/` path from a URL, if it is one: relative, no `.` or `..` segment, no empty
/// segment, nothing git would read as an option or a revision (pure).
pub fn doc_path(raw: &str) -> Option<String> {
    if raw.is_empty() || raw.len() > 512 {
        return None;
    }
    let ok = raw.split('/').all(|segment| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && !segment.starts_with('-')
            && segment
                .chars()
                .all(|c| c.is_alphanumeric() || "._-+ ".contains(c))
    });
    ok.then(|| raw.to_string())
}

/// `git` on the base repository with no configuration of the system's or the user's.
fn git(repo: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .arg("--git-dir")
        .arg(repo);
    cmd
}

/// The base's `HEAD` commit; `None` for a base without history (or without git here).
fn head(repo: &Path) -> Option<String> {
    let out = git(repo)
        .args(["rev-parse", "--verify", "-q", "HEAD^{commit}"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The bytes of `docs/<path>` at `commit`, if it is a file there.
fn read(repo: &Path, commit: &str, path: &str) -> Option<Vec<u8>> {
    let out = git(repo)
        .args(["cat-file", "blob", &format!("{commit}:docs/{path}")])
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

/// `markdown` of a page in `docs/<folder>` as HTML: GitHub-flavoured (tables, task lists,
/// strikethrough, autolinks), relative links resolved from its folder, raw HTML and dangerous
/// links left out (pure).
pub fn render(markdown: &str, folder: &str) -> String {
    let mut options = comrak::Options::default();
    options.extension.table = true;
    options.extension.strikethrough = true;
    options.extension.tasklist = true;
    options.extension.autolink = true;
    options.render.r#unsafe = false;
    let links = folder.to_string();
    let images = folder.to_string();
    options.extension.link_url_rewriter =
        Some(std::sync::Arc::new(move |url: &str| resolve(&links, url)));
    options.extension.image_url_rewriter =
        Some(std::sync::Arc::new(move |url: &str| resolve(&images, url)));
    comrak::markdown_to_html(markdown, &options)
}

/// The first `# heading` of `markdown`, as the page's title.
fn title_of(markdown: &str, fallback: &str) -> String {
    markdown
        .lines()
        .find_map(|l| l.strip_prefix("# "))
        .map(|t| t.trim().to_string())
        .unwrap_or_else(|| fallback.to_string())
}

/// A rendered `docs/<path>`, from the cache of the base's current commit.
fn page(state: &AppState, path: &str) -> Option<(String, String)> {
    let repo = &state.0.base_repo;
    let commit = head(repo)?;
    let cache = &state.0.docs;
    {
        let held = cache.pages.lock().unwrap_or_else(|p| p.into_inner());
        if held.0 == commit
            && let Some(html) = held.1.get(path)
        {
            let (title, body) = html.split_once('\n').unwrap_or(("", html));
            return Some((title.to_string(), body.to_string()));
        }
    }
    let bytes = read(repo, &commit, path)?;
    let markdown = String::from_utf8_lossy(&bytes);
    let title = title_of(&markdown, path);
    let folder = path.rsplit_once('/').map_or("", |(dir, _)| dir);
    let body = render(&markdown, folder);
    let mut held = cache.pages.lock().unwrap_or_else(|p| p.into_inner());
    if held.0 != commit {
        *held = (commit, HashMap::new());
    }
    held.1.insert(path.to_string(), format!("{title}\n{body}"));
    Some((title, body))
}

fn doc_response(user: Option<&CurrentUser>, title: String, body: String) -> Response {
    let page = DocPage {
        nav: user.map_or_else(Nav::anonymous, Nav::of),
        title,
        body,
    };
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => WebError::from(e).into_response(),
    }
}

/// `GET /`: the syllabus (`docs/index.md`) when the base has one, public; otherwise the
/// dashboard of whoever is logged in (or the login page).
pub async fn home(State(state): State<AppState>, user: Option<CurrentUser>) -> Response {
    let found = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || page(&state, "index.md"))
            .await
            .ok()
            .flatten()
    };
    if let Some((title, body)) = found {
        return doc_response(user.as_ref(), title, body);
    }
    match user {
        Some(user) if user.is_instructor() => Redirect::to("/instructor/").into_response(),
        Some(_) => Redirect::to("/dashboard").into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

/// `GET /docs/{*path}`: a Markdown page rendered, or a file beside it (an image) as it is.
pub async fn doc(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    UrlPath(raw): UrlPath<String>,
) -> Result<Response, WebError> {
    let path = doc_path(&raw).ok_or(WebError::NotFound)?;
    if path.ends_with(".md") {
        let found = {
            let (state, path) = (state.clone(), path.clone());
            tokio::task::spawn_blocking(move || page(&state, &path))
                .await
                .map_err(|e| WebError::Interrupted(e.to_string()))?
        };
        let (title, body) = found.ok_or(WebError::NotFound)?;
        return Ok(doc_response(user.as_ref(), title, body));
    }
    let repo = state.0.base_repo.clone();
    let bytes = tokio::task::spawn_blocking(move || {
        let commit = head(&repo)?;
        read(&repo, &commit, &path).map(|b| (path, b))
    })
    .await
    .map_err(|e| WebError::Interrupted(e.to_string()))?;
    let (path, bytes) = bytes.ok_or(WebError::NotFound)?;
    // Images shown as images; anything else downloaded, never rendered by the browser (an SVG
    // or HTML file could carry script).
    let kind = match path
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
    {
        Some(ext) if ext == "png" => Some("image/png"),
        Some(ext) if ext == "jpg" || ext == "jpeg" => Some("image/jpeg"),
        Some(ext) if ext == "gif" => Some("image/gif"),
        Some(ext) if ext == "webp" => Some("image/webp"),
        Some(ext) if ext == "txt" => Some("text/plain; charset=utf-8"),
        _ => None,
    };
    Ok(match kind {
        Some(kind) => (StatusCode::OK, [(header::CONTENT_TYPE, kind)], bytes).into_response(),
        None => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (header::CONTENT_DISPOSITION, "attachment"),
            ],
            bytes,
        )
            .into_response(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_docs_paths_are_read() {
        assert_eq!(doc_path("week1.md").as_deref(), Some("week1.md"));
        assert_eq!(
            doc_path("img/diagram.png").as_deref(),
            Some("img/diagram.png")
        );
        for bad in [
            "",
            "../x.md",
            "a/../b",
            "/etc/passwd",
            "a//b",
            "-x",
            "HEAD:x",
            "a\0b",
            "./a",
        ] {
            assert_eq!(doc_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn raw_html_and_script_links_are_not_rendered() {
        let html = render(
            "# Syllabus\n\n<script>alert(1)</script>\n\n[click](javascript:alert(1)) \
             [week 1](week1.md) ![map](img/map.png) [top](#top) [lore](https://lore.example/)\n\n\
             | a | b |\n|---|---|\n| 1 | 2 |\n",
            "",
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(
            html.contains("<a href=\"/docs/week1.md\">week 1</a>"),
            "{html}"
        );
        assert!(html.contains("src=\"/docs/img/map.png\""), "{html}");
        assert!(html.contains("href=\"#top\""), "{html}");
        assert!(html.contains("href=\"https://lore.example/\""), "{html}");
        assert!(html.contains("<table>"), "{html}");
        assert_eq!(resolve("week2", "notes.md"), "/docs/week2/notes.md");
    }
}
