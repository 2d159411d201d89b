//! The course at a glance, per assignment, for the instructors' overview (SPEC §11): who sent
//! something for each component, how many reviews came in, how many grades instructors
//! entered. Grouped counts in one read transaction; the roster is the caller's.

use std::collections::HashMap;

use super::CourseDb;
use crate::error::CourseDbError;
use crate::model::AssignmentName;

/// What one assignment has received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignmentCounts {
    /// Students with an initial submission (a gradeable, whatever its findings).
    pub initial: u64,
    /// Students with a final submission.
    pub finals: u64,
    /// Reviews received (review1 and review2 gradeables).
    pub reviews: u64,
    /// Grades an instructor entered (automatic zeros not counted).
    pub graded: u64,
}

impl CourseDb {
    /// [`AssignmentCounts`] of every assignment that has any (the others have none).
    pub fn assignment_counts(
        &self,
    ) -> Result<HashMap<AssignmentName, AssignmentCounts>, CourseDbError> {
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            let mut counts: HashMap<AssignmentName, AssignmentCounts> = HashMap::new();
            {
                let mut stmt = tx.prepare_cached(
                    "SELECT assignment, component, count(DISTINCT username), count(*)
                     FROM gradeables GROUP BY assignment, component",
                )?;
                let mut rows = stmt.query([])?;
                while let Some(row) = rows.next()? {
                    let Ok(name) = AssignmentName::parse(&row.get::<_, String>(0)?) else {
                        continue;
                    };
                    let component: String = row.get(1)?;
                    let students: u64 = row.get(2)?;
                    let all: u64 = row.get(3)?;
                    let entry = counts.entry(name).or_default();
                    match component.as_str() {
                        "initial" => entry.initial = students,
                        "final" => entry.finals = students,
                        _ => entry.reviews += all,
                    }
                }
            }
            {
                let mut stmt = tx.prepare_cached(
                    "SELECT assignment, count(*) FROM grades WHERE automatic = 0
                     GROUP BY assignment",
                )?;
                let mut rows = stmt.query([])?;
                while let Some(row) = rows.next()? {
                    if let Ok(name) = AssignmentName::parse(&row.get::<_, String>(0)?) {
                        counts.entry(name).or_default().graded = row.get(1)?;
                    }
                }
            }
            tx.commit()?;
            Ok(counts)
        })
    }
}
