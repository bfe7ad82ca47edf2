//! Pure: which bytes of one version a client has been sent, as a small set of disjoint,
//! sorted, non-adjacent intervals. A download is complete when the set covers the whole
//! version, however many connections, ranges and resumes it took.
//!
//! Bounded: at most [`MAX_INTERVALS`] intervals are kept; past that the one whose loss costs
//! least (the shortest) is forgotten. Forgetting only ever delays a completion (the client is
//! sent those bytes again, or they are never counted) — it never counts a download that was
//! not whole.

use std::ops::Range;

/// Intervals kept per (version, client) at most.
pub const MAX_INTERVALS: usize = 64;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Disjoint, sorted by start, no two touching; none empty.
    intervals: Vec<Range<u64>>,
}

impl Coverage {
    /// From stored intervals (any order, overlapping allowed).
    pub fn from_intervals(intervals: impl IntoIterator<Item = Range<u64>>) -> Coverage {
        let mut coverage = Coverage::default();
        for range in intervals {
            coverage.add(range);
        }
        coverage
    }

    /// Adds `range` (an empty one changes nothing).
    pub fn add(&mut self, range: Range<u64>) {
        if range.start >= range.end {
            return;
        }
        // The first interval that ends at or after the new start (touching merges).
        let first = self.intervals.partition_point(|r| r.end < range.start);
        let mut merged = range;
        let mut last = first;
        while last < self.intervals.len() && self.intervals[last].start <= merged.end {
            merged.start = merged.start.min(self.intervals[last].start);
            merged.end = merged.end.max(self.intervals[last].end);
            last += 1;
        }
        self.intervals.splice(first..last, [merged]);
        if self.intervals.len() > MAX_INTERVALS
            && let Some((shortest, _)) = self
                .intervals
                .iter()
                .enumerate()
                .min_by_key(|(_, r)| r.end - r.start)
        {
            self.intervals.remove(shortest);
        }
    }

    /// Whether every byte of `0..len` is covered (an empty version: once anything was asked).
    pub fn covers(&self, len: u64) -> bool {
        match self.intervals.first() {
            Some(first) => first.start == 0 && first.end >= len,
            None => len == 0,
        }
    }

    /// Bytes covered.
    pub fn bytes(&self) -> u64 {
        self.intervals.iter().map(|r| r.end - r.start).sum()
    }

    pub fn intervals(&self) -> &[Range<u64>] {
        &self.intervals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ranges_merge_when_they_overlap_or_touch() {
        let mut c = Coverage::default();
        c.add(10..20);
        c.add(30..40);
        assert_eq!(c.intervals(), &[10..20, 30..40]);
        c.add(20..30);
        assert_eq!(c.intervals(), std::slice::from_ref(&(10..40)));
        c.add(0..5);
        c.add(5..10);
        assert!(c.covers(40));
        assert!(!c.covers(41));
        c.add(7..7);
        assert_eq!(c.bytes(), 40);
    }

    #[test]
    fn past_the_bound_the_shortest_is_forgotten() {
        let mut c = Coverage::default();
        for i in 0..(MAX_INTERVALS as u64 + 10) {
            c.add(i * 10..i * 10 + 1 + (i % 3));
        }
        assert_eq!(c.intervals().len(), MAX_INTERVALS);
    }

    proptest! {
        /// The set holds exactly the union of what was added (within the bound), and covers a
        /// length only if every byte of it was added.
        #[test]
        fn the_set_is_the_union_and_never_claims_a_byte_not_sent(
            ranges in proptest::collection::vec((0u64..400, 0u64..60), 0..40),
            len in 0u64..400,
        ) {
            let mut c = Coverage::default();
            let mut bytes = vec![false; 500];
            for &(start, n) in &ranges {
                c.add(start..start + n);
                for b in &mut bytes[start as usize..(start + n) as usize] { *b = true; }
            }
            for w in c.intervals().windows(2) {
                prop_assert!(w[0].end < w[1].start, "disjoint, sorted, not touching");
            }
            for r in c.intervals() {
                prop_assert!(bytes[r.start as usize..r.end as usize].iter().all(|&b| b));
            }
            if c.covers(len) && !ranges.is_empty() {
                prop_assert!(bytes[..len as usize].iter().all(|&b| b));
            }
            if ranges.len() <= MAX_INTERVALS {
                prop_assert_eq!(c.bytes(), bytes.iter().filter(|&&b| b).count() as u64);
            }
        }
    }
}
