//! The total of one student's assignment (SPEC §10), pure: 0.8·final + 0.1·review1 +
//! 0.1·review2 over the components that apply, renormalised by the weights used, one decimal,
//! `-` while a needed grade is missing.
//!
//! Computed in integer tenths, so the rounding (half up) is exact and the same on every
//! machine: a total shown as 66.7 is never 66.69999 in one place and 66.7 in another.
//!
//! `sql_tenths` is the same formula as an SQL expression, for the grade distribution that
//! counts every student's total inside the database; a test holds the two equal.

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

/// [`total`] in tenths as an SQL expression over integer columns: `final_`, `review1` and
/// `review2` hold the scores (NULL while missing), `reviews` how many review components
/// count (0, 1 or 2: [`Applicable`] as a number). The expression is NULL while the total is
/// pending. Integer division truncates like `u32` division, so the rounding is the same.
pub(crate) fn sql_tenths(final_: &str, review1: &str, review2: &str, reviews: &str) -> String {
    let (f, r) = (FINAL_WEIGHT, REVIEW_WEIGHT);
    format!(
        "CASE WHEN {final_} IS NULL OR ({reviews} >= 1 AND {review1} IS NULL) \
              OR ({reviews} >= 2 AND {review2} IS NULL) THEN NULL \
         ELSE (20 * ({f} * {final_} \
                     + {r} * (CASE WHEN {reviews} >= 1 THEN {review1} ELSE 0 END) \
                     + {r} * (CASE WHEN {reviews} >= 2 THEN {review2} ELSE 0 END)) \
               + ({f} + {r} * {reviews})) / (2 * ({f} + {r} * {reviews})) END"
    )
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

    #[test]
    fn the_sql_formula_gives_the_same_totals_as_the_rust_one() {
        // Every final against a spread of review scores (missing, the ends, and values whose
        // renormalised total lands next to a rounding boundary), for 0, 1 and 2 reviews.
        let reviews = [
            None,
            s(0),
            s(1),
            s(33),
            s(49),
            s(50),
            s(67),
            s(98),
            s(99),
            s(100),
        ];
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let sql = format!("SELECT {}", sql_tenths("?1", "?2", "?3", "?4"));
        let mut stmt = conn.prepare(&sql).unwrap();
        let mut checked = 0;
        for count in 0..=2usize {
            let applicable = Applicable::for_student(count, false);
            let counted = u8::from(applicable.review1) + u8::from(applicable.review2);
            for f in std::iter::once(None).chain((0..=100).map(s)) {
                for (r1, r2) in reviews
                    .iter()
                    .flat_map(|a| reviews.iter().map(move |b| (a, b)))
                {
                    let expected = total(applicable, &scores(f, *r1, *r2));
                    let got: Option<u32> = stmt
                        .query_row(
                            rusqlite::params![
                                f.map(Score::get),
                                r1.map(Score::get),
                                r2.map(Score::get),
                                counted
                            ],
                            |row| row.get(0),
                        )
                        .unwrap();
                    let got = got.map_or(Total::Pending, Total::Tenths);
                    assert_eq!(
                        got, expected,
                        "final {f:?} reviews {r1:?} {r2:?} of {count}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 3 * 102 * 100);
    }
}
