//! The pure rules of the patchset checks (SPEC §8 steps 1, 2 and 5): is this message a patch,
//! which paths may it touch, is it signed off, is its subject tag right. No git, no I/O.

use std::fmt;

use journal::Username;

use crate::model::{Component, Finding};

/// Whether a message body carries a diff, i.e. is a patch and not a cover letter.
///
/// `git format-patch` starts every file's diff with `diff --git`; a plain unified diff (`--- `
/// directly followed by `+++ `) counts too, since `git am` would apply it. A cover letter's
/// diffstat (` file | 2 +-`) does not.
pub fn has_diff(body: &str) -> bool {
    let mut previous_was_minus = false;
    for line in body.lines() {
        if line.starts_with("diff --git ") || (previous_was_minus && line.starts_with("+++ ")) {
            return true;
        }
        previous_was_minus = line.starts_with("--- ");
    }
    false
}

/// The commit message part of a patch body: everything before the line where `git mailinfo`
/// starts the patch (`---`, `diff -` or `Index: `).
pub fn commit_message(body: &str) -> &str {
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        let text = line.trim_end_matches(['\n', '\r']);
        if text.trim_end() == "---" || text.starts_with("diff -") || text.starts_with("Index: ") {
            return &body[..offset];
        }
        offset += line.len();
    }
    body
}

/// Whether a patch does nothing but create one `.patch` file: a student submitting a patch as
/// content. Its added lines are a diff whose own whitespace (context lines of blank lines
/// become `+ `) is the content's business, so only whether it applies is judged.
pub fn creates_single_patch_file(body: &str) -> bool {
    let mut headers = 0;
    let mut new_file = false;
    let mut target_is_patch = false;
    for line in body.lines() {
        if line.starts_with("diff --git ") {
            headers += 1;
        } else if headers == 1 && line.starts_with("new file mode ") {
            new_file = true;
        } else if headers == 1 && line.starts_with("+++ b/") {
            target_is_patch = line.ends_with(".patch");
        }
    }
    headers == 1 && new_file && target_is_patch
}

/// Whether `path` (relative, as `git apply --numstat -z` prints it) lies under `<user>/`.
///
/// Every component is checked, not just the prefix: `alice/../bob/x` starts with `alice/` but
/// is bob's file.
pub fn is_owned_path(user: &Username, path: &[u8]) -> bool {
    let mut parts = path.split(|&b| b == b'/');
    if parts.next() != Some(user.as_str().as_bytes()) {
        return false;
    }
    let rest: Vec<&[u8]> = parts.collect();
    !rest.is_empty()
        && rest
            .iter()
            .all(|p| !p.is_empty() && *p != b"." && *p != b"..")
}

/// Paths in `git apply --numstat -z` output: `added\tdeleted\tpath\0` per file, or for a
/// rename or copy `added\tdeleted\t\0old\0new\0` (both paths count as touched).
pub fn numstat_paths(out: &[u8]) -> Vec<Vec<u8>> {
    let mut paths = Vec::new();
    let mut fields = out.split(|&b| b == 0).peekable();
    while let Some(record) = fields.next() {
        if record.is_empty() {
            continue;
        }
        let path = record.splitn(3, |&b| b == b'\t').nth(2).unwrap_or(&[]);
        if path.is_empty() {
            // A rename: the two paths follow as their own NUL-terminated fields.
            for _ in 0..2 {
                if let Some(p) = fields.next().filter(|p| !p.is_empty()) {
                    paths.push(p.to_vec());
                }
            }
        } else {
            paths.push(path.to_vec());
        }
    }
    paths
}

/// Checks the sign-off of patch number `patch` (1-based) against `expected`
/// (`Full Name <user@HOST>`); `None` when a `Signed-off-by:` line names exactly it.
pub fn check_sign_off(patch: usize, body: &str, expected: &str) -> Option<Finding> {
    let message = commit_message(body);
    let sign_offs: Vec<&str> = message
        .lines()
        .filter_map(|l| {
            let (key, value) = l.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case("signed-off-by")
                .then(|| value.trim())
        })
        .collect();
    if sign_offs.iter().any(|s| same_identity(s, expected)) {
        return None;
    }
    Some(Finding::warning(match sign_offs.first() {
        None => format!(
            "patch {patch} has no Signed-off-by line; add `Signed-off-by: {expected}` \
             (git commit -s)"
        ),
        Some(found) => format!(
            "patch {patch} is signed off by `{}`, expected `{expected}` (the full name of your \
             account and your course address)",
            excerpt(found)
        ),
    }))
}

/// Names must match exactly; addresses case-insensitively (domains are, and usernames are
/// lowercase anyway).
fn same_identity(found: &str, expected: &str) -> bool {
    match (found.rsplit_once('<'), expected.rsplit_once('<')) {
        (Some((fname, faddr)), Some((ename, eaddr))) => {
            fname.trim() == ename.trim() && faddr.trim().eq_ignore_ascii_case(eaddr.trim())
        }
        _ => false,
    }
}

/// A subject tag: `[PATCH vN i/n]`, optionally with `RFC` first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectTag {
    /// `RFC PATCH` rather than `PATCH`.
    pub rfc: bool,
    /// The `vN` part, if present.
    pub version: Option<u32>,
    /// `i`: 0 for the cover letter, then 1..=n.
    pub index: u32,
    /// `n`: the number of patches.
    pub total: u32,
}

impl SubjectTag {
    /// The tag a message must carry: `RFC` for initial submissions (they are requests for
    /// comments until the final), `version` counting this student's patchsets.
    pub fn expected(component: Component, version: u32, index: u32, total: u32) -> SubjectTag {
        SubjectTag {
            rfc: component == Component::Initial,
            version: Some(version),
            index,
            total,
        }
    }

    /// Parses the bracketed tag at the start of `subject`; `None` if there is none or it is
    /// not a patch tag. Zero-padded numbers (`01/12`, as format-patch writes them) are fine.
    pub fn parse(subject: &str) -> Option<SubjectTag> {
        let inner = subject.trim_start().strip_prefix('[')?.split(']').next()?;
        let mut words = inner.split_whitespace().peekable();
        let rfc = words.next_if(|w| *w == "RFC").is_some();
        words.next().filter(|w| *w == "PATCH")?;
        let version = match words.next_if(|w| w.starts_with('v')) {
            Some(v) => Some(v[1..].parse().ok()?),
            None => None,
        };
        let (i, n) = words.next()?.split_once('/')?;
        if words.next().is_some() {
            return None;
        }
        Some(SubjectTag {
            rfc,
            version,
            index: i.parse().ok()?,
            total: n.parse().ok()?,
        })
    }
}

impl fmt::Display for SubjectTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        if self.rfc {
            f.write_str("RFC ")?;
        }
        f.write_str("PATCH ")?;
        if let Some(v) = self.version {
            write!(f, "v{v} ")?;
        }
        write!(f, "{}/{}]", self.index, self.total)
    }
}

/// Checks message `number`'s subject against `expected`; `None` when it carries that tag.
pub fn check_subject(
    number: usize,
    subject: Option<&str>,
    expected: SubjectTag,
) -> Option<Finding> {
    let subject = subject.unwrap_or("");
    if SubjectTag::parse(subject) == Some(expected) {
        return None;
    }
    let found = subject
        .trim_start()
        .strip_prefix('[')
        .and_then(|s| s.split_once(']'))
        .map(|(tag, _)| format!("`[{}]`", excerpt(tag)));
    Some(Finding::warning(match found {
        Some(tag) => format!("message {number}: subject tag is {tag}, expected `{expected}`"),
        None => format!("message {number}: subject has no tag, expected `{expected}`"),
    }))
}

/// Whether a cover letter is still git format-patch's template: its subject or text still
/// holds `*** SUBJECT HERE ***` or `*** BLURB HERE ***`.
pub fn is_unfilled_cover_letter(subject: Option<&str>, body: &str) -> bool {
    subject.is_some_and(|s| s.contains("*** SUBJECT HERE ***"))
        || body.contains("*** BLURB HERE ***")
}

/// Numbers as a sentence: `2`, `2 and 4`, `2, 3 and 4`.
pub fn list_numbers(numbers: &[usize]) -> String {
    match numbers {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(usize::to_string).collect();
            format!("{} and {last}", init.join(", "))
        }
    }
}

/// Student text quoted in a finding: one line, at most 100 characters.
pub fn excerpt(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    let mut out: String = line.chars().take(100).collect();
    if line.chars().count() > 100 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCH: &str = "Add a.\n\nSigned-off-by: Alice A <alice@h>\n---\n a | 1 +\n\n\
        diff --git a/alice/a b/alice/a\nnew file mode 100644\n--- /dev/null\n+++ b/alice/a\n\
        @@ -0,0 +1 @@\n+x\n";
    const COVER: &str = "*** BLURB ***\n\nAlice (1):\n  Add a.\n\n alice/a | 1 +\n \
        1 file changed\n\n-- \n2.47.3\n";

    fn alice() -> Username {
        Username::parse("alice").unwrap()
    }

    #[test]
    fn cover_letter_has_no_diff_and_a_patch_has_one() {
        assert!(has_diff(PATCH));
        assert!(!has_diff(COVER));
        assert!(has_diff("text\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n"));
        assert!(!has_diff("--- \n just a separator\n"));
    }

    #[test]
    fn commit_message_stops_where_the_patch_starts() {
        assert_eq!(
            commit_message(PATCH),
            "Add a.\n\nSigned-off-by: Alice A <alice@h>\n"
        );
        assert_eq!(commit_message("x\ndiff --git a/b b/b\n"), "x\n");
        assert_eq!(commit_message("no patch"), "no patch");
    }

    #[test]
    fn only_paths_below_the_user_directory_are_owned() {
        let u = alice();
        assert!(is_owned_path(&u, b"alice/a.c"));
        assert!(is_owned_path(&u, b"alice/sub/dir/a.c"));
        assert!(!is_owned_path(&u, b"alice"));
        assert!(!is_owned_path(&u, b"alice/"));
        assert!(!is_owned_path(&u, b"alicex/a.c"));
        assert!(!is_owned_path(&u, b"bob/a.c"));
        assert!(!is_owned_path(&u, b"alice/../bob/a.c"));
        assert!(!is_owned_path(&u, b"alice/./a.c"));
        assert!(!is_owned_path(&u, b"/alice/a.c"));
        assert!(!is_owned_path(&u, b"README"));
    }

    #[test]
    fn numstat_lists_plain_and_renamed_paths() {
        let out = b"1\t0\talice/a\x002\t2\t\x00alice/old\x00bob/new\x00-\t-\talice/bin\x00";
        assert_eq!(
            numstat_paths(out),
            [
                b"alice/a".to_vec(),
                b"alice/old".to_vec(),
                b"bob/new".to_vec(),
                b"alice/bin".to_vec()
            ]
        );
    }

    #[test]
    fn a_patch_creating_one_patch_file_is_recognised() {
        let body = "Add it.\n---\ndiff --git a/alice/x.patch b/alice/x.patch\n\
            new file mode 100644\n--- /dev/null\n+++ b/alice/x.patch\n@@ -0,0 +1,2 @@\n\
            +diff --git a/src/a.c b/src/a.c\n+ \n";
        assert!(creates_single_patch_file(body));
        assert!(!creates_single_patch_file(PATCH));
        let modified = body.replace("new file mode 100644\n", "");
        assert!(!creates_single_patch_file(&modified));
    }

    #[test]
    fn sign_off_must_name_the_account() {
        let expected = "Alice A <alice@h>";
        assert_eq!(check_sign_off(1, PATCH, expected), None);
        assert_eq!(
            check_sign_off(1, &PATCH.replace("alice@h>", "ALICE@H>"), expected),
            None
        );
        let missing = check_sign_off(2, "Add.\n---\ndiff --git a/x b/x\n", expected).unwrap();
        assert!(
            missing.message.contains("patch 2 has no Signed-off-by"),
            "{missing:?}"
        );
        let wrong = check_sign_off(3, &PATCH.replace("Alice A", "Al"), expected).unwrap();
        assert!(wrong.message.contains("`Al <alice@h>`"), "{wrong:?}");
        // A sign-off in the diff is not a sign-off of the commit.
        let in_diff = "Add.\n---\ndiff --git a/x b/x\n+Signed-off-by: Alice A <alice@h>\n";
        assert!(check_sign_off(1, in_diff, expected).is_some());
    }

    #[test]
    fn subject_tags_parse_with_padding_and_rfc() {
        assert_eq!(
            SubjectTag::parse("[RFC PATCH v2 03/12] x"),
            Some(SubjectTag {
                rfc: true,
                version: Some(2),
                index: 3,
                total: 12
            })
        );
        assert_eq!(SubjectTag::parse("[PATCH 1/2] x").unwrap().version, None);
        assert_eq!(SubjectTag::parse("Re: [PATCH 1/2] x"), None);
        assert_eq!(SubjectTag::parse("[PATCH] x"), None);
        assert_eq!(SubjectTag::parse("[PATCH vx 1/2] x"), None);
    }

    #[test]
    fn subject_must_carry_the_expected_tag() {
        let expected = SubjectTag::expected(Component::Initial, 2, 1, 3);
        assert_eq!(expected.to_string(), "[RFC PATCH v2 1/3]");
        assert_eq!(
            check_subject(2, Some("[RFC PATCH v2 1/3] a"), expected),
            None
        );
        let w = check_subject(2, Some("[PATCH v1 1/3] a"), expected).unwrap();
        assert_eq!(
            w.message,
            "message 2: subject tag is `[PATCH v1 1/3]`, expected `[RFC PATCH v2 1/3]`"
        );
        let w = check_subject(1, None, SubjectTag::expected(Component::Final, 1, 0, 3)).unwrap();
        assert!(
            w.message.contains("no tag, expected `[PATCH v1 0/3]`"),
            "{w:?}"
        );
    }

    #[test]
    fn numbers_read_as_a_sentence() {
        assert_eq!(list_numbers(&[2]), "2");
        assert_eq!(list_numbers(&[2, 4]), "2 and 4");
        assert_eq!(list_numbers(&[1, 2, 4]), "1, 2 and 4");
    }
}
