//! Grades, totals, the gradebook export and oopsies (SPEC §10).
//!
//! Storage is in [`crate::db::grades`] and [`crate::db::oopsies`]; this module holds what is
//! computed from it.
//!
//! - [`mod@total`]: the score formula, one place for it (pure).
//! - [`mod@gradebook`]: one row per student and assignment with every component and the total;
//!   a page of them for the web; its CSV form.
//! - [`mod@distribution`]: how many students have each total, counted in the database.
//! - [`csv`]: the RFC 4180 writer the export uses (pure).
//! - [`error`]: [`GradeError`], [`OopsieError`], [`ScoreError`].

pub mod csv;
pub mod distribution;
pub mod error;
pub mod gradebook;
pub mod total;

use std::fmt;
use std::str::FromStr;

pub use distribution::{Distribution, DistributionCache, distribution};
pub use error::{GradeError, OopsieError, ScoreError};
pub use gradebook::{
    GradebookPage, GradebookRow, Paging, gradebook, gradebook_page, roster, write_csv,
};
pub use total::{Applicable, ComponentScores, Total, total};

/// A score from 0 to 100, as instructors enter it (SPEC §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Score(u8);

impl Score {
    /// The automatic zero for missing or fatal work.
    pub const ZERO: Score = Score(0);
    /// The highest score.
    pub const MAX: Score = Score(100);

    /// `value` as a score, if it is at most 100.
    pub fn new(value: u8) -> Result<Score, ScoreError> {
        if value <= Score::MAX.0 {
            Ok(Score(value))
        } else {
            Err(ScoreError(value.to_string()))
        }
    }

    /// The score as a number.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Score {
    type Err = ScoreError;
    fn from_str(s: &str) -> Result<Score, ScoreError> {
        s.trim()
            .parse::<u8>()
            .map_err(|_| ScoreError(s.to_string()))
            .and_then(Score::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_whole_numbers_from_0_to_100() {
        assert_eq!("0".parse::<Score>().unwrap(), Score::ZERO);
        assert_eq!(" 100 ".parse::<Score>().unwrap().get(), 100);
        for bad in ["101", "-1", "87.5", "", "ten"] {
            let err = bad.parse::<Score>().unwrap_err();
            assert!(err.to_string().contains("0 to 100"), "{err}");
        }
    }
}
