//! Grades in `course.db` (SPEC §10): instructors' scores with feedback, and the automatic
//! zeros deadlines give for missing or fatal work, which never replace an instructor's grade.
//!
//! Also what the gradebook reads beside the grades: a page's grades and standings (reviewees,
//! oopsies) by username range, so that a page costs what it shows; and the whole course's
//! totals counted in one aggregate for the grade distribution.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use accounts::{Accounts, Role};
use journal::Username;
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::{CourseDb, text};
use crate::error::CourseDbError;
use crate::grades::total::sql_tenths;
use crate::grades::{GradeError, Score, Total};
use crate::model::{AssignmentName, Component};
use crate::query::Filter;

/// A recorded grade: a row of `grades`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grade {
    /// The assignment.
    pub assignment: AssignmentName,
    /// The component graded.
    pub component: Component,
    /// The student.
    pub username: Username,
    /// The score.
    pub score: Score,
    /// What the student is told (for automatic zeros: why).
    pub feedback: String,
    /// Given by a deadline, not an instructor.
    pub automatic: bool,
    /// When it was last written, Unix seconds.
    pub updated_at: i64,
}

/// What an instructor enters (`coursemail grade set`, the web's grade form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GradeEntry {
    /// The assignment.
    pub assignment: AssignmentName,
    /// The component graded.
    pub component: Component,
    /// The student.
    pub username: Username,
    /// The score.
    pub score: Score,
    /// Feedback for the student (may be empty).
    pub feedback: String,
}

pub(super) const GRADE_COLUMNS: &str =
    "assignment, component, username, score, feedback, automatic, updated_at";

/// What decides which components count for students' totals (SPEC §10), keyed by
/// (assignment, student).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    /// How many reviewees each student was assigned; absent means none.
    pub reviewees: HashMap<(AssignmentName, Username), usize>,
    /// Who used an oopsie on what.
    pub oopsies: HashSet<(AssignmentName, Username)>,
}

/// How many students have one total for one assignment: a row of the grade distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotalCount {
    /// The assignment.
    pub assignment: AssignmentName,
    /// The total (never pending: pending totals are not counted).
    pub total: Total,
    /// How many students have it.
    pub students: u32,
}

/// A page's grades. The username range must stay a plain `BETWEEN` (no `?1 IS NULL OR`) for
/// SQLite to search `grades_by_user` instead of scanning the table.
static GRADES_IN_RANGE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {GRADE_COLUMNS} FROM grades
         WHERE username BETWEEN ?1 AND ?2 AND (?3 IS NULL OR assignment = ?3)"
    )
});

/// A page's standing: a reviewer row carries its reviewee count, an oopsie row a NULL count.
const STANDING_IN_RANGE_SQL: &str = "\
    SELECT assignment, reviewer, COUNT(*) FROM peer_reviews
    WHERE reviewer BETWEEN ?1 AND ?2 AND (?3 IS NULL OR assignment = ?3)
    GROUP BY reviewer, assignment
    UNION ALL
    SELECT assignment, username, NULL FROM oopsies
    WHERE username BETWEEN ?1 AND ?2 AND (?3 IS NULL OR assignment = ?3)";

/// Every student's total per assignment, counted by total. The roster lives in accounts.db,
/// so it comes in as a JSON array (`?1`). Each (assignment, student) with a final is one row
/// of index lookups: its reviews in `grades`, its oopsie, and its two review slots in
/// `peer_reviews` (reviewees are counted by slot, 1 and 2, so no count per row is needed).
static TOTAL_COUNTS_SQL: LazyLock<String> = LazyLock::new(|| {
    let reviews = "(CASE WHEN o.username IS NULL \
                    THEN (p1.slot IS NOT NULL) + (p2.slot IS NOT NULL) ELSE 0 END)";
    let tenths = sql_tenths("f.score", "r1.score", "r2.score", reviews);
    format!(
        "SELECT assignment, tenths, COUNT(*) FROM (
             SELECT f.assignment, {tenths} AS tenths
             FROM grades f
             LEFT JOIN grades r1 ON r1.assignment = f.assignment
                 AND r1.component = 'review1' AND r1.username = f.username
             LEFT JOIN grades r2 ON r2.assignment = f.assignment
                 AND r2.component = 'review2' AND r2.username = f.username
             LEFT JOIN oopsies o ON o.username = f.username AND o.assignment = f.assignment
             LEFT JOIN peer_reviews p1 ON p1.assignment = f.assignment
                 AND p1.reviewer = f.username AND p1.slot = 1
             LEFT JOIN peer_reviews p2 ON p2.assignment = f.assignment
                 AND p2.reviewer = f.username AND p2.slot = 2
             WHERE f.component = 'final'
               AND f.username IN (SELECT value FROM json_each(?1))
         )
         WHERE tenths IS NOT NULL
         GROUP BY assignment, tenths
         ORDER BY assignment, tenths"
    )
});

/// `names` as a JSON array of strings. A [`Username`] is `[a-z][a-z0-9._-]*`, so it needs no
/// escaping inside JSON quotes.
fn json_array(names: &[&Username]) -> String {
    let mut out = String::with_capacity(names.len() * 12 + 2);
    out.push('[');
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(name.as_str());
        out.push('"');
    }
    out.push(']');
    out
}

pub(super) fn grade_from_row(row: &Row<'_>) -> rusqlite::Result<Grade> {
    let score: i64 = row.get(3)?;
    let score = u8::try_from(score)
        .ok()
        .and_then(|s| Score::new(s).ok())
        .ok_or(rusqlite::Error::IntegralValueOutOfRange(3, score))?;
    Ok(Grade {
        assignment: text(row, 0)?,
        component: text(row, 1)?,
        username: text(row, 2)?,
        score,
        feedback: row.get(4)?,
        automatic: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

impl CourseDb {
    /// Records an instructor's grade at `now`, replacing whatever was there (an automatic
    /// zero included). The assignment must exist and the user must be a student in
    /// `accounts`, so a typo cannot file a grade nobody sees.
    pub fn set_grade(
        &self,
        accounts: &Accounts,
        entry: &GradeEntry,
        now: i64,
    ) -> Result<Grade, GradeError> {
        if !self.is_assignment(entry.assignment.as_str())? {
            return Err(GradeError::UnknownAssignment(entry.assignment.clone()));
        }
        let is_student = accounts
            .get_user(&entry.username)?
            .is_some_and(|u| u.role == Role::Student);
        if !is_student {
            return Err(GradeError::NotAStudent(entry.username.clone()));
        }
        self.with_conn(|conn| {
            conn.execute(
                &format!(
                    "INSERT OR REPLACE INTO grades ({GRADE_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)"
                ),
                params![
                    entry.assignment.as_str(),
                    entry.component.as_str(),
                    entry.username.as_str(),
                    entry.score.get(),
                    entry.feedback,
                    now
                ],
            )?;
            Ok(())
        })?;
        tracing::info!(
            assignment = %entry.assignment,
            component = %entry.component,
            user = %entry.username,
            score = entry.score.get(),
            "grade set"
        );
        Ok(Grade {
            assignment: entry.assignment.clone(),
            component: entry.component,
            username: entry.username.clone(),
            score: entry.score,
            feedback: entry.feedback.clone(),
            automatic: false,
            updated_at: now,
        })
    }

    /// Gives each `(student, reason)` of `zeros` an automatic 0 for `component` of
    /// `assignment`, where no grade exists yet: never over an instructor's grade, and a second
    /// deadline run changes nothing. Returns how many were written.
    pub(crate) fn auto_zero(
        &self,
        assignment: &AssignmentName,
        component: Component,
        zeros: &[(Username, String)],
        now: i64,
    ) -> Result<u32, CourseDbError> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut written = 0u32;
            {
                let mut insert = tx.prepare_cached(&format!(
                    "INSERT OR IGNORE INTO grades ({GRADE_COLUMNS})
                     VALUES (?1, ?2, ?3, 0, ?4, 1, ?5)"
                ))?;
                for (user, reason) in zeros {
                    let n = insert.execute(params![
                        assignment.as_str(),
                        component.as_str(),
                        user.as_str(),
                        reason,
                        now
                    ])?;
                    written += u32::try_from(n).unwrap_or(0);
                }
            }
            tx.commit()?;
            Ok(written)
        })
    }

    /// The grade of `user` for `component` of `assignment`, if any.
    pub fn grade(
        &self,
        assignment: &AssignmentName,
        component: Component,
        user: &Username,
    ) -> Result<Option<Grade>, CourseDbError> {
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {GRADE_COLUMNS} FROM grades
                     WHERE assignment = ?1 AND component = ?2 AND username = ?3"
                ))?
                .query_row(
                    params![assignment.as_str(), component.as_str(), user.as_str()],
                    grade_from_row,
                )
                .optional()?)
        })
    }

    /// The grades of the students whose usernames sort in `first..=last` (a gradebook page's
    /// students, which are contiguous in username order), of `assignment` or of all, in no
    /// particular order: one range scan of `grades_by_user`, so a page reads its own
    /// students' grades and no others.
    pub fn grades_in_range(
        &self,
        first: &Username,
        last: &Username,
        assignment: Option<&AssignmentName>,
    ) -> Result<Vec<Grade>, CourseDbError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&GRADES_IN_RANGE_SQL)?;
            let rows = stmt.query_map(
                params![
                    first.as_str(),
                    last.as_str(),
                    assignment.map(AssignmentName::as_str)
                ],
                grade_from_row,
            )?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// The [`Standing`] of the students whose usernames sort in `first..=last`, for
    /// `assignment` or all: range scans of `peer_reviews_by_reviewer` and of the primary key
    /// of `oopsies`, in one statement.
    pub fn standing_in_range(
        &self,
        first: &Username,
        last: &Username,
        assignment: Option<&AssignmentName>,
    ) -> Result<Standing, CourseDbError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(STANDING_IN_RANGE_SQL)?;
            let rows = stmt.query_map(
                params![
                    first.as_str(),
                    last.as_str(),
                    assignment.map(AssignmentName::as_str)
                ],
                |r| {
                    let key: (AssignmentName, Username) = (text(r, 0)?, text(r, 1)?);
                    let reviewees: Option<i64> = r.get(2)?;
                    Ok((key, reviewees))
                },
            )?;
            let mut standing = Standing::default();
            for row in rows {
                match row? {
                    (key, Some(n)) => {
                        standing
                            .reviewees
                            .insert(key, usize::try_from(n).unwrap_or(0));
                    }
                    (key, None) => {
                        standing.oopsies.insert(key);
                    }
                }
            }
            Ok(standing)
        })
    }

    /// The stamp that changes with every write to grades, peer reviews or oopsies (from any
    /// process): while it stays the same, so do everyone's totals.
    pub fn totals_stamp(&self) -> Result<i64, CourseDbError> {
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached("SELECT stamp FROM totals_stamp")?
                .query_row([], |r| r.get(0))?)
        })
    }

    /// How many of `students` have each total (SPEC §10), per assignment, by assignment then
    /// total; pending totals are not counted. One aggregate in the database over every grade,
    /// review slot and oopsie: the distribution of the whole course without reading it row by
    /// row. Returned with the [`CourseDb::totals_stamp`] it was counted at (one read
    /// transaction, so the two agree).
    pub fn count_totals(
        &self,
        students: &[&Username],
    ) -> Result<(i64, Vec<TotalCount>), CourseDbError> {
        let roster = json_array(students);
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            let stamp: i64 = tx
                .prepare_cached("SELECT stamp FROM totals_stamp")?
                .query_row([], |r| r.get(0))?;
            let counts = {
                let mut stmt = tx.prepare_cached(&TOTAL_COUNTS_SQL)?;
                let rows = stmt.query_map([roster], |row| {
                    let tenths: i64 = row.get(1)?;
                    let count: i64 = row.get(2)?;
                    Ok(TotalCount {
                        assignment: text(row, 0)?,
                        total: Total::Tenths(
                            u32::try_from(tenths)
                                .map_err(|_| rusqlite::Error::IntegralValueOutOfRange(1, tenths))?,
                        ),
                        students: u32::try_from(count).unwrap_or(u32::MAX),
                    })
                })?;
                rows.collect::<Result<Vec<_>, _>>()?
            };
            tx.commit()?;
            Ok((stamp, counts))
        })
    }

    /// Grades matching `filter`, by assignment, student, then component.
    pub fn grades(&self, filter: &Filter) -> Result<Vec<Grade>, CourseDbError> {
        let (clause, values) = filter.where_clause();
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {GRADE_COLUMNS} FROM grades {clause} ORDER BY assignment, username, component"
            ))?;
            let rows = stmt.query_map(rusqlite::params_from_iter(&values), grade_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::assignments::NewAssignment;
    use accounts::NewUser;

    fn course() -> (tempfile::TempDir, CourseDb, Accounts) {
        let dir = tempfile::tempdir().unwrap();
        let db = CourseDb::open(&dir.path().join("course.db")).unwrap();
        let accounts = Accounts::open(&dir.path().join("accounts.db")).unwrap();
        for (name, role) in [("alice", Role::Student), ("prof", Role::Instructor)] {
            accounts
                .add_user(&NewUser {
                    username: Username::parse(name).unwrap(),
                    full_name: name.into(),
                    student_id: None,
                    role,
                    password: None,
                })
                .unwrap();
        }
        db.create_assignment(&NewAssignment::dummy(hw1()), &accounts, &[])
            .unwrap();
        (dir, db, accounts)
    }

    fn hw1() -> AssignmentName {
        AssignmentName::parse("hw1").unwrap()
    }

    fn entry(user: &str, score: u8) -> GradeEntry {
        GradeEntry {
            assignment: hw1(),
            component: Component::Final,
            username: Username::parse(user).unwrap(),
            score: Score::new(score).unwrap(),
            feedback: "well done".into(),
        }
    }

    #[test]
    fn instructor_grade_replaces_an_automatic_zero_and_is_never_replaced_by_one() {
        let (_dir, db, accounts) = course();
        let alice = Username::parse("alice").unwrap();
        let zeros = [(alice.clone(), "no final".to_string())];
        assert_eq!(
            db.auto_zero(&hw1(), Component::Final, &zeros, 1).unwrap(),
            1
        );
        assert_eq!(
            db.auto_zero(&hw1(), Component::Final, &zeros, 2).unwrap(),
            0
        );
        let zero = db.grade(&hw1(), Component::Final, &alice).unwrap().unwrap();
        assert!(zero.automatic && zero.score == Score::ZERO && zero.updated_at == 1);
        db.set_grade(&accounts, &entry("alice", 77), 3).unwrap();
        assert_eq!(
            db.auto_zero(&hw1(), Component::Final, &zeros, 4).unwrap(),
            0
        );
        let graded = db.grade(&hw1(), Component::Final, &alice).unwrap().unwrap();
        assert_eq!((graded.score.get(), graded.automatic), (77, false));
        assert_eq!(graded.feedback, "well done");
    }

    #[test]
    fn grades_go_only_to_students_of_existing_assignments() {
        let (_dir, db, accounts) = course();
        let err = db.set_grade(&accounts, &entry("prof", 50), 1).unwrap_err();
        assert!(matches!(err, GradeError::NotAStudent(_)), "{err}");
        let err = db
            .set_grade(&accounts, &entry("nobody", 50), 1)
            .unwrap_err();
        assert!(matches!(err, GradeError::NotAStudent(_)), "{err}");
        let mut other = entry("alice", 50);
        other.assignment = AssignmentName::parse("hw9").unwrap();
        let err = db.set_grade(&accounts, &other, 1).unwrap_err();
        assert!(err.to_string().contains("no assignment hw9"), "{err}");
        assert!(db.grades(&Filter::default()).unwrap().is_empty());
    }

    /// The plan SQLite picks for `sql`, one line per step.
    fn plan(db: &CourseDb, sql: &str) -> String {
        db.with_conn(|conn| {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            let steps = stmt.query_map(params!["a", "b", "hw1"], |r| r.get::<_, String>(3))?;
            Ok(steps.collect::<Result<Vec<_>, _>>()?.join("\n"))
        })
        .unwrap()
    }

    #[test]
    fn a_page_searches_its_username_range_instead_of_scanning_the_course() {
        let (_dir, db, _accounts) = course();
        let grades = plan(&db, &GRADES_IN_RANGE_SQL);
        assert!(
            grades.contains("SEARCH grades USING INDEX grades_by_user (username>? AND username<?)"),
            "{grades}"
        );
        let standing = plan(&db, STANDING_IN_RANGE_SQL);
        assert!(
            standing.contains("SEARCH peer_reviews USING COVERING INDEX peer_reviews_by_reviewer"),
            "{standing}"
        );
        assert!(standing.contains("SEARCH oopsies USING"), "{standing}");
        assert!(!standing.contains("SCAN") && !grades.contains("SCAN"));
    }
}
