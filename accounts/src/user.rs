//! Who uses coursemail: the user record, roles, and the pure validation of what goes into them.

use std::fmt;
use std::str::FromStr;

use journal::Username;

use crate::error::AccountsError;

/// Longest student id accepted, in characters (after trimming).
pub const STUDENT_ID_MAX: usize = 64;
/// Longest full name accepted, in characters.
pub const FULL_NAME_MAX: usize = 200;

/// What a user may do: students submit and read the list, instructors manage the course.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Submits patchsets and reviews, reads the course list.
    Student,
    /// Manages the roster, assignments and grades.
    Instructor,
}

impl Role {
    /// The role as stored in the database (`student` / `instructor`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Instructor => "instructor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: use \"student\" or \"instructor\"")]
pub struct InvalidRole(pub String);

impl FromStr for Role {
    type Err = InvalidRole;
    fn from_str(s: &str) -> Result<Self, InvalidRole> {
        match s {
            "student" => Ok(Role::Student),
            "instructor" => Ok(Role::Instructor),
            other => Err(InvalidRole(other.escape_debug().to_string())),
        }
    }
}

/// A user as stored, without the password hash (which never leaves the crate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name and email local part.
    pub username: Username,
    /// Display name, as used in `Signed-off-by:` lines.
    pub full_name: String,
    /// The university's id for a student, used to register; unique when present.
    pub student_id: Option<String>,
    /// Student or instructor.
    pub role: Role,
    /// False while the user awaits registration (no password set yet).
    pub has_password: bool,
    /// When the user was added, in Unix seconds.
    pub created_at: i64,
}

/// What `Accounts::add_user` needs to create a user.
#[derive(Clone)]
pub struct NewUser {
    /// Login name and email local part.
    pub username: Username,
    /// Display name.
    pub full_name: String,
    /// Optional student id (trimmed and validated on insert).
    pub student_id: Option<String>,
    /// Student or instructor.
    pub role: Role,
    /// Initial password, or `None` to await registration.
    pub password: Option<String>,
}

// Hand-written so that a password never ends up in a log line through `{:?}`.
impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("full_name", &self.full_name)
            .field("student_id", &self.student_id)
            .field("role", &self.role)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Trims a student id and checks it is 1 to [`STUDENT_ID_MAX`] printable characters.
pub fn normalize_student_id(raw: &str) -> Result<String, AccountsError> {
    let trimmed = raw.trim();
    let length = trimmed.chars().count();
    if length == 0 || length > STUDENT_ID_MAX || trimmed.chars().any(char::is_control) {
        return Err(AccountsError::InvalidStudentId(
            raw.escape_debug().to_string(),
        ));
    }
    Ok(trimmed.to_string())
}

/// Checks a full name: it ends up in mail headers, so no control characters (CR/LF would let
/// it inject header lines), and a sane length.
pub fn validate_full_name(name: &str) -> Result<(), AccountsError> {
    if name.chars().count() > FULL_NAME_MAX || name.chars().any(char::is_control) {
        return Err(AccountsError::InvalidFullName(
            name.escape_debug().to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_round_trips_through_text() {
        for role in [Role::Student, Role::Instructor] {
            assert_eq!(role.to_string().parse::<Role>().unwrap(), role);
        }
        let err = "admin".parse::<Role>().unwrap_err().to_string();
        assert!(err.contains("admin") && err.contains("instructor"));
    }

    #[test]
    fn student_id_is_trimmed_and_bounded() {
        assert_eq!(normalize_student_id("  s1234 \t").unwrap(), "s1234");
        assert_eq!(normalize_student_id("Ünï 42").unwrap(), "Ünï 42");
        let max = "x".repeat(STUDENT_ID_MAX);
        assert_eq!(normalize_student_id(&max).unwrap(), max);
        for bad in ["", "   ", "a\nb", "a\0b", &"x".repeat(STUDENT_ID_MAX + 1)] {
            assert!(
                matches!(
                    normalize_student_id(bad),
                    Err(AccountsError::InvalidStudentId(_))
                ),
                "accepted {bad:?}"
            );
        }
    }

    #[test]
    fn full_name_cannot_inject_header_lines() {
        assert!(validate_full_name("Ada Lovelace").is_ok());
        assert!(validate_full_name("").is_ok());
        assert!(validate_full_name("Ada\r\nBcc: x@y").is_err());
        assert!(validate_full_name(&"a".repeat(FULL_NAME_MAX + 1)).is_err());
    }

    #[test]
    fn new_user_debug_hides_the_password() {
        let new = NewUser {
            username: Username::parse("alice").unwrap(),
            full_name: "Alice".into(),
            student_id: None,
            role: Role::Student,
            password: Some("hunter2hunter2".into()),
        };
        let shown = format!("{new:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
