//! The peer-review cycle (SPEC §9), pure: submitters in a random order, each reviewing the
//! next two.
//!
//! Slots: with three or more submitters, the next one is slot 1 (`review1`) and the one after
//! is slot 2 (`review2`). With two, each reviews the other in slot 1 only (they have one
//! reviewee, so only `review1` counts, SPEC §10). One submitter reviews nobody.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use journal::Username;

use crate::model::ReviewSlot;

/// `(reviewer, reviewee, slot)` for every review of the cycle through `order`, in that order.
pub fn cycle<T: Clone>(order: &[T]) -> Vec<(T, T, ReviewSlot)> {
    let n = order.len();
    let slots: &[ReviewSlot] = match n {
        0 | 1 => &[],
        2 => &[ReviewSlot::First],
        _ => &[ReviewSlot::First, ReviewSlot::Second],
    };
    let mut pairs = Vec::with_capacity(n * slots.len());
    for (i, reviewer) in order.iter().enumerate() {
        for (step, slot) in slots.iter().enumerate() {
            let reviewee = &order[(i + step + 1) % n];
            pairs.push((reviewer.clone(), reviewee.clone(), *slot));
        }
    }
    pairs
}

/// Shuffles `items` (Fisher–Yates) with a generator seeded by `seed`: the same seed gives the
/// same order, so the draw is testable; [`random_seed`] makes it unpredictable.
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut rng = SplitMix64(seed);
    for i in (1..items.len()).rev() {
        let bound = u64::try_from(i + 1).unwrap_or(u64::MAX);
        // Multiply-shift maps 64 random bits onto 0..=i; the bias is at most i / 2^64.
        let j = ((u128::from(rng.next()) * u128::from(bound)) >> 64) as usize;
        items.swap(i, j);
    }
}

/// The cycle for `submitters` in an order shuffled by `seed`.
pub fn draw(submitters: &[Username], seed: u64) -> Vec<(Username, Username, ReviewSlot)> {
    let mut order = submitters.to_vec();
    shuffle(&mut order, seed);
    cycle(&order)
}

/// A seed nobody can predict: std's `RandomState` keys come from the operating system's
/// random source. Who reviews whom needs fairness, not cryptographic strength.
pub fn random_seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0x5eed);
    hasher.finish()
}

/// A small, well-mixed 64-bit generator (Steele, Lea, Flood 2014).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    /// Checks the invariants of a cycle over `n` people and returns it.
    fn check(n: usize) -> Vec<(usize, usize, ReviewSlot)> {
        let people: Vec<usize> = (0..n).collect();
        let pairs = cycle(&people);
        let per_person = n.saturating_sub(1).min(2);
        assert_eq!(pairs.len(), n * per_person, "n = {n}");
        let mut reviews: HashMap<usize, Vec<(usize, ReviewSlot)>> = HashMap::new();
        let mut reviewed: HashMap<usize, usize> = HashMap::new();
        for (reviewer, reviewee, slot) in &pairs {
            assert_ne!(reviewer, reviewee, "nobody reviews themselves");
            reviews
                .entry(*reviewer)
                .or_default()
                .push((*reviewee, *slot));
            *reviewed.entry(*reviewee).or_default() += 1;
        }
        for list in reviews.values() {
            let reviewees: HashSet<usize> = list.iter().map(|(r, _)| *r).collect();
            let slots: HashSet<ReviewSlot> = list.iter().map(|(_, s)| *s).collect();
            assert_eq!(reviewees.len(), per_person, "distinct reviewees");
            assert_eq!(slots.len(), per_person, "distinct slots");
            assert!(slots.contains(&ReviewSlot::First));
        }
        assert!(
            reviewed.values().all(|&k| k == per_person),
            "everyone reviewed equally"
        );
        pairs
    }

    #[test]
    fn nobody_or_one_submitter_gives_no_reviews() {
        assert!(check(0).is_empty());
        assert!(check(1).is_empty());
    }

    #[test]
    fn two_submitters_review_each_other_in_slot_one() {
        assert_eq!(
            check(2),
            [(0, 1, ReviewSlot::First), (1, 0, ReviewSlot::First)]
        );
    }

    #[test]
    fn three_submitters_each_review_the_two_others() {
        assert_eq!(
            check(3),
            [
                (0, 1, ReviewSlot::First),
                (0, 2, ReviewSlot::Second),
                (1, 2, ReviewSlot::First),
                (1, 0, ReviewSlot::Second),
                (2, 0, ReviewSlot::First),
                (2, 1, ReviewSlot::Second),
            ]
        );
    }

    #[test]
    fn larger_classes_review_the_next_two() {
        for n in [4, 5, 17, 100] {
            let pairs = check(n);
            assert!(
                pairs.contains(&(n - 1, 0, ReviewSlot::First)),
                "wraps around"
            );
            assert!(pairs.contains(&(n - 1, 1, ReviewSlot::Second)));
        }
    }

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let original: Vec<u32> = (0..50).collect();
        let mut a = original.clone();
        let mut b = original.clone();
        shuffle(&mut a, 42);
        shuffle(&mut b, 42);
        assert_eq!(a, b, "same seed, same order");
        assert_ne!(a, original, "50 items do not stay in order");
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, original, "a permutation");
        let mut c = original.clone();
        shuffle(&mut c, 43);
        assert_ne!(a, c, "another seed, another order");
    }

    #[test]
    fn every_position_is_reachable_by_the_draw() {
        let names: Vec<Username> = ["alice", "bob", "carol"]
            .iter()
            .map(|n| Username::parse(n).unwrap())
            .collect();
        let firsts: HashSet<Username> = (0..200)
            .map(|seed| draw(&names, seed)[0].0.clone())
            .collect();
        assert_eq!(firsts.len(), 3);
    }
}
