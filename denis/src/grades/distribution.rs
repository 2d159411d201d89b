//! The grade distribution (SPEC §11): how many students have each total, per assignment, over
//! the whole course. It is what the instructors' chart draws above every gradebook page, so it
//! is counted by one aggregate in the database ([`CourseDb::count_totals`]), never from the
//! rows of a page; and since that aggregate reads every grade, a [`DistributionCache`] keeps
//! the last count until a grade, a review assignment, an oopsie or the roster changes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use accounts::User;
use journal::Username;

use super::GradeError;
use super::total::Total;
use crate::db::CourseDb;
use crate::model::AssignmentName;

/// Per assignment, each total some students have and how many have it. Pending totals are
/// not counted; an assignment where nobody has a total is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Distribution {
    counts: BTreeMap<AssignmentName, Vec<(Total, u32)>>,
}

impl Distribution {
    /// The totals of `assignment` with how many students have each, lowest first.
    pub fn counts(&self, assignment: &AssignmentName) -> &[(Total, u32)] {
        self.counts.get(assignment).map_or(&[], Vec::as_slice)
    }

    /// How many students have a total for `assignment`.
    pub fn students(&self, assignment: &AssignmentName) -> u32 {
        self.counts(assignment).iter().map(|(_, n)| n).sum()
    }

    /// Every counted total of `assignment` as a number, once per student, lowest first: the
    /// input of a chart that puts them in buckets of its own.
    pub fn values(&self, assignment: &AssignmentName) -> Vec<f64> {
        self.counts(assignment)
            .iter()
            .flat_map(|&(total, n)| {
                let count = usize::try_from(n).unwrap_or(usize::MAX);
                std::iter::repeat_n(total.value(), count).flatten()
            })
            .collect()
    }
}

/// The distribution of the totals of every student of `roster` (as
/// [`super::gradebook::roster`] returns it), for every assignment, with the
/// [`CourseDb::totals_stamp`] it was counted at. Students withdrawn from the roster are not
/// counted, though their grades stay in the course database.
fn count(db: &CourseDb, roster: &[User]) -> Result<(i64, Distribution), GradeError> {
    let students: Vec<&Username> = roster.iter().map(|u| &u.username).collect();
    let (stamp, rows) = db.count_totals(&students)?;
    let mut counts: BTreeMap<AssignmentName, Vec<(Total, u32)>> = BTreeMap::new();
    for row in rows {
        counts
            .entry(row.assignment)
            .or_default()
            .push((row.total, row.students));
    }
    Ok((stamp, Distribution { counts }))
}

/// The distribution of the totals of every student of `roster`, counted now.
pub fn distribution(db: &CourseDb, roster: &[User]) -> Result<Distribution, GradeError> {
    Ok(count(db, roster)?.1)
}

/// The last [`Distribution`] counted, handed out again while nothing it depends on has
/// changed: the course database's totals stamp (moved by every write to grades, peer reviews
/// and oopsies, from any process) and the roster. One per web server; share it in an `Arc`.
#[derive(Debug, Default)]
pub struct DistributionCache {
    last: Mutex<Option<Counted>>,
}

/// A distribution and what it was counted from.
#[derive(Debug)]
struct Counted {
    stamp: i64,
    roster: Vec<Username>,
    distribution: Arc<Distribution>,
}

impl DistributionCache {
    /// The distribution of `roster`'s totals: the one counted last if the totals stamp and
    /// the roster are still the same, else counted again (and kept).
    pub fn get(&self, db: &CourseDb, roster: &[User]) -> Result<Arc<Distribution>, GradeError> {
        let stamp = db.totals_stamp()?;
        let same_roster = |c: &Counted| c.roster.iter().eq(roster.iter().map(|u| &u.username));
        if let Some(c) = self.lock().as_ref()
            && c.stamp == stamp
            && same_roster(c)
        {
            return Ok(Arc::clone(&c.distribution));
        }
        // Counted outside the lock: a slow count must not hold up pages that could be served
        // from the one kept. Two requests may count at once; the later one is kept.
        let (stamp, distribution) = count(db, roster)?;
        let distribution = Arc::new(distribution);
        *self.lock() = Some(Counted {
            stamp,
            roster: roster.iter().map(|u| u.username.clone()).collect(),
            distribution: Arc::clone(&distribution),
        });
        Ok(distribution)
    }

    /// The kept count. Nothing is ever left half-written under the lock, so a poisoned lock
    /// (a panic elsewhere while holding it) still holds a consistent value.
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Counted>> {
        self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_repeat_each_total_once_per_student() {
        let hw1 = AssignmentName::parse("hw1").unwrap();
        let hw2 = AssignmentName::parse("hw2").unwrap();
        let d = Distribution {
            counts: BTreeMap::from([(
                hw1.clone(),
                vec![(Total::Tenths(875), 2), (Total::Tenths(1000), 1)],
            )]),
        };
        assert_eq!(d.values(&hw1), [87.5, 87.5, 100.0]);
        assert_eq!(d.students(&hw1), 3);
        assert!(d.values(&hw2).is_empty());
        assert_eq!(d.students(&hw2), 0);
    }
}
