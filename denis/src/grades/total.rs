//! The total of one student's assignment (SPEC §10), pure: 0.8·final + 0.1·review1 +
//! 0.1·review2 over the components that apply, renormalised by the weights used, one decimal,
//! `-` while a needed grade is missing.
//!
//! Computed in integer tenths, so the rounding (half up) is exact and the same on every
//! machine: a total shown as 66.7 is never 66.69999 in one place and 66.7 in another.

use std::fmt;

use super::Score;

/// Weight of the final, in tenths.
const FINAL_WEIGHT: u32 = 8;
/// Weight of each review, in tenths.
const REVIEW_WEIGHT: u32 = 1;

/// Which components count for a student's total; the final always does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applicable {
    /// `review1` counts: the student was assigned at least one reviewee.
    pub review1: bool,
    /// `review2` counts: the student was assigned two reviewees.
    pub review2: bool,
}

impl Applicable {
    /// The components that count for a student with `reviewees` assigned reviewees; with an
    /// oopsie on the assignment only the final counts.
    pub fn for_student(reviewees: usize, oopsie: bool) -> Applicable {
        Applicable {
            review1: !oopsie && reviewees >= 1,
            review2: !oopsie && reviewees >= 2,
        }
    }
}

/// The scores a total is made of; `None` where no grade is recorded yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ComponentScores {
    /// The final's score.
    pub final_: Option<Score>,
    /// The first review's score.
    pub review1: Option<Score>,
    /// The second review's score.
    pub review2: Option<Score>,
}

/// A total: a score with one decimal, or pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Total {
    /// A component that counts has no grade yet; shown as `-`.
    Pending,
    /// The total in tenths of a point (875 is 87.5).
    Tenths(u32),
}

impl Total {
    /// The total as a number, for charts; `None` while pending.
    pub fn value(self) -> Option<f64> {
        match self {
            Total::Pending => None,
            Total::Tenths(t) => Some(f64::from(t) / 10.0),
        }
    }
}

impl fmt::Display for Total {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Total::Pending => f.write_str("-"),
            Total::Tenths(t) => write!(f, "{}.{}", t / 10, t % 10),
        }
    }
}

/// The total of `scores` over the `applicable` components.
pub fn total(applicable: Applicable, scores: &ComponentScores) -> Total {
    let parts = [
        (true, FINAL_WEIGHT, scores.final_),
        (applicable.review1, REVIEW_WEIGHT, scores.review1),
        (applicable.review2, REVIEW_WEIGHT, scores.review2),
    ];
    let mut weighted = 0u32;
    let mut weights = 0u32;
    for (applies, weight, score) in parts {
        if !applies {
            continue;
        }
        let Some(score) = score else {
            return Total::Pending;
        };
        weighted += weight * u32::from(score.get());
        weights += weight;
    }
    // tenths = round(10 · weighted / weights), half up, in integers.
    Total::Tenths((20 * weighted + weights) / (2 * weights))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u8) -> Option<Score> {
        Some(Score::new(n).unwrap())
    }

    fn scores(
        final_: Option<Score>,
        review1: Option<Score>,
        review2: Option<Score>,
    ) -> ComponentScores {
        ComponentScores {
            final_,
            review1,
            review2,
        }
    }

    #[test]
    fn two_reviewees_weigh_final_eight_tenths_and_each_review_one_tenth() {
        let all = Applicable::for_student(2, false);
        assert_eq!(total(all, &scores(s(90), s(80), s(70))).to_string(), "87.0");
        assert_eq!(
            total(all, &scores(s(100), s(100), s(100))).to_string(),
            "100.0"
        );
        assert_eq!(total(all, &scores(s(0), s(0), s(0))).to_string(), "0.0");
        assert_eq!(total(all, &scores(s(81), s(0), s(0))).to_string(), "64.8");
    }

    #[test]
    fn one_reviewee_counts_final_and_review1_renormalised() {
        let one = Applicable::for_student(1, false);
        // (0.8·90 + 0.1·100) / 0.9 = 91.11…
        assert_eq!(total(one, &scores(s(90), s(100), None)).to_string(), "91.1");
        // (0.8·75 + 0.1·0) / 0.9 = 66.66…, rounded half up.
        assert_eq!(total(one, &scores(s(75), s(0), None)).to_string(), "66.7");
        // A review2 grade does not count for a student with one reviewee.
        assert_eq!(total(one, &scores(s(75), s(0), s(100))).to_string(), "66.7");
    }

    #[test]
    fn no_reviewee_or_an_oopsie_counts_only_the_final() {
        for applicable in [
            Applicable::for_student(0, false),
            Applicable::for_student(2, true),
        ] {
            assert_eq!(
                total(applicable, &scores(s(85), None, None)).to_string(),
                "85.0"
            );
            assert_eq!(
                total(applicable, &scores(s(85), s(0), s(0))).to_string(),
                "85.0"
            );
        }
    }

    #[test]
    fn a_missing_grade_that_counts_leaves_the_total_pending() {
        let all = Applicable::for_student(2, false);
        assert_eq!(total(all, &scores(None, s(80), s(70))), Total::Pending);
        assert_eq!(total(all, &scores(s(90), s(80), None)).to_string(), "-");
        let none = Applicable::for_student(0, false);
        assert_eq!(total(none, &scores(None, None, None)).value(), None);
    }

    #[test]
    fn renormalised_totals_round_to_the_nearest_tenth() {
        // (0.8·1 + 0.1·0) / 0.9 = 0.888… → 0.9; (0.8·0 + 0.1·1) / 0.9 = 0.111… → 0.1.
        let one = Applicable::for_student(1, false);
        assert_eq!(total(one, &scores(s(1), s(0), None)).to_string(), "0.9");
        assert_eq!(total(one, &scores(s(0), s(1), None)).to_string(), "0.1");
        // (0.8·99 + 0.1·98) / 0.9 = 98.888… → 98.9.
        assert_eq!(total(one, &scores(s(99), s(98), None)).to_string(), "98.9");
        assert_eq!(Total::Tenths(875).value(), Some(87.5));
    }
}
