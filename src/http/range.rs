//! The `Range` request header (RFC 9110 §14.1–§14.2), resolved against a representation length.
//!
//! Pure: a header value and a length go in, a [`RangeRequest`] comes out. Ranges are half-open
//! `Range<u64>` from here on; they become `first-last/len` only when formatted (see `headers`).
//!
//! Choices where the RFC leaves room (each is tested below):
//! - A header that does not parse (no `=`, a bad number, `last < first`, an empty set) is ignored
//!   and the whole file is sent (§14.2 "MAY ignore"); nginx answers 416 for `bytes=5-2`, but a
//!   200 is what a download client can always use.
//! - Numbers too large for `u64` saturate: a huge last-pos is clamped like any other past the end,
//!   a huge first-pos is unsatisfiable, a huge suffix is the whole file. That is what §14.1.2 says
//!   for each of them, so there is no overflow case to reject.
//! - Amplification guard (§14.2, §17.15): more than `max_ranges` range-specs, or satisfiable
//!   ranges that add up to more than the file after coalescing, → ignore the header (200 whole),
//!   like Go's `net/http`.
//! - Overlapping or adjacent ranges that follow each other in the request are coalesced
//!   (§15.3.7.2 "MAY coalesce"); otherwise the request order is kept.
//! - Any range on an empty file is unsatisfiable (416), as the project's spec asks: nothing can
//!   be sent in a 206, and `bytes */0` tells the client the truth.

use std::ops::Range;

/// What a `Range` header asks of a representation of a given length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeRequest {
    /// Send the whole representation with 200: the header is absent, uses a unit other than
    /// `bytes`, is syntactically invalid, or trips the amplification guard.
    Full,
    /// 416: the header is valid but no range in it overlaps the representation.
    Unsatisfiable,
    /// 206: one or more non-empty ranges, each within `0..len`, in the order to send them.
    Satisfiable(Vec<Range<u64>>),
}

/// One `range-spec` as written, before it meets the length (§14.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `first-last` (`last` is `None` for `first-`).
    FromTo { first: u64, last: Option<u64> },
    /// `-suffix`: the last `suffix` bytes.
    Suffix(u64),
}

/// Parses a `Range` field value into its range-specs, or `None` when the unit is not `bytes` or
/// the value is not a valid `ranges-specifier` (§14.1.1). The unit is matched case-insensitively
/// (§14.1); optional whitespace around list elements and empty list elements are allowed (§5.6.1).
pub fn parse_specs(value: &str) -> Option<Vec<RangeSpec>> {
    let (unit, set) = value.trim_matches(is_ows).split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut specs = Vec::new();
    for element in set.split(',') {
        let element = element.trim_matches(is_ows);
        if element.is_empty() {
            continue;
        }
        specs.push(parse_spec(element)?);
    }
    if specs.is_empty() { None } else { Some(specs) }
}

fn parse_spec(element: &str) -> Option<RangeSpec> {
    let (first, last) = element.split_once('-')?;
    if first.is_empty() {
        return Some(RangeSpec::Suffix(parse_digits(last)?));
    }
    let first = parse_digits(first)?;
    if last.is_empty() {
        return Some(RangeSpec::FromTo { first, last: None });
    }
    let last = parse_digits(last)?;
    // §14.1.1: "A range-spec is invalid if ... last-pos < first-pos".
    if last < first {
        return None;
    }
    Some(RangeSpec::FromTo {
        first,
        last: Some(last),
    })
}

/// `1*DIGIT`, saturating at `u64::MAX` (see the module note on overflow).
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The part of `0..len` that `spec` selects, or `None` when it is unsatisfiable (§14.1.2).
pub fn resolve_spec(spec: RangeSpec, len: u64) -> Option<Range<u64>> {
    match spec {
        RangeSpec::FromTo { first, last } => {
            if first >= len {
                return None;
            }
            let end = last.map_or(len, |last| last.saturating_add(1).min(len));
            Some(first..end)
        }
        // A zero suffix selects nothing; on an empty file every suffix selects nothing.
        RangeSpec::Suffix(suffix) => (suffix > 0 && len > 0).then(|| len - suffix.min(len)..len),
    }
}

/// Resolves a `Range` field value against a representation of `len` bytes, with at most
/// `max_ranges` range-specs honoured (more → [`RangeRequest::Full`]).
///
/// ```
/// use rangeserve::http::range::{resolve, RangeRequest};
/// assert_eq!(resolve("bytes=0-499", 10_000, 100), RangeRequest::Satisfiable(vec![0..500]));
/// assert_eq!(resolve("bytes=-500", 10_000, 100), RangeRequest::Satisfiable(vec![9500..10_000]));
/// assert_eq!(resolve("bytes=10000-", 10_000, 100), RangeRequest::Unsatisfiable);
/// assert_eq!(resolve("items=0-5", 10_000, 100), RangeRequest::Full);
/// ```
pub fn resolve(value: &str, len: u64, max_ranges: usize) -> RangeRequest {
    let Some(specs) = parse_specs(value) else {
        return RangeRequest::Full;
    };
    if specs.len() > max_ranges {
        return RangeRequest::Full;
    }
    let mut ranges: Vec<Range<u64>> = Vec::with_capacity(specs.len());
    for range in specs.into_iter().filter_map(|spec| resolve_spec(spec, len)) {
        match ranges.last_mut() {
            Some(previous) if range.start <= previous.end && previous.start <= range.end => {
                *previous = previous.start.min(range.start)..previous.end.max(range.end);
            }
            _ => ranges.push(range),
        }
    }
    if ranges.is_empty() {
        return RangeRequest::Unsatisfiable;
    }
    let total = ranges
        .iter()
        .fold(0u64, |sum, r| sum.saturating_add(r.end - r.start));
    if total > len {
        return RangeRequest::Full;
    }
    RangeRequest::Satisfiable(ranges)
}

/// Checks what every [`resolve`] outcome must satisfy, whatever the header: satisfiable ranges
/// are non-empty, within `0..len`, at most `max_ranges` of them, adding up to at most `len`, and
/// an empty file has none. Returns what is violated; shared by the property tests and the fuzz
/// target so both check the same thing.
pub fn invariant_violation(len: u64, max_ranges: usize, outcome: &RangeRequest) -> Option<String> {
    let RangeRequest::Satisfiable(ranges) = outcome else {
        return None;
    };
    if ranges.is_empty() || ranges.len() > max_ranges {
        return Some(format!("{} ranges with max {max_ranges}", ranges.len()));
    }
    if let Some(bad) = ranges.iter().find(|r| r.start >= r.end || r.end > len) {
        return Some(format!("range {bad:?} of a {len}-byte file"));
    }
    let total = ranges
        .iter()
        .fold(0u64, |t, r| t.saturating_add(r.end - r.start));
    (total > len).then(|| format!("ranges add up to {total} > {len}"))
}

#[cfg(test)]
#[allow(
    clippy::single_range_in_vec_init,
    clippy::manual_ignore_case_cmp,
    clippy::collapsible_if
)] // the model is naive on purpose
mod tests {
    use super::RangeRequest::{Full, Satisfiable, Unsatisfiable};
    use super::*;
    use proptest::prelude::*;

    const LEN: u64 = 10_000;

    fn r(value: &str) -> RangeRequest {
        resolve(value, LEN, 100)
    }

    #[test]
    fn rfc_examples_resolve_as_the_rfc_says() {
        // §14.1.2 examples, on a 10000-byte representation.
        let table: &[(&str, &[Range<u64>])] = &[
            ("bytes=0-499", &[0..500]),
            ("bytes=500-999", &[500..1000]),
            ("bytes=-500", &[9500..10_000]),
            ("bytes=9500-", &[9500..10_000]),
            ("bytes=0-0,-1", &[0..1, 9999..10_000]),
            (
                "bytes= 0-999, 4500-5499, -1000",
                &[0..1000, 4500..5500, 9000..10_000],
            ),
            ("bytes=500-600,601-999", &[500..1000]),
            ("bytes=500-700,601-999", &[500..1000]),
        ];
        for (value, want) in table {
            assert_eq!(r(value), Satisfiable(want.to_vec()), "{value}");
        }
    }

    #[test]
    fn first_dash_means_to_the_end() {
        assert_eq!(r("bytes=0-"), Satisfiable(vec![0..LEN]));
        assert_eq!(r("bytes=9999-"), Satisfiable(vec![9999..LEN]));
    }

    #[test]
    fn last_pos_past_the_end_is_clamped_section_14_1_2() {
        assert_eq!(r("bytes=0-3145727"), Satisfiable(vec![0..LEN]));
        assert_eq!(r("bytes=9990-20000"), Satisfiable(vec![9990..LEN]));
    }

    #[test]
    fn suffix_longer_than_the_file_is_the_whole_file_section_14_1_2() {
        assert_eq!(r("bytes=-20000"), Satisfiable(vec![0..LEN]));
        assert_eq!(r("bytes=-10000"), Satisfiable(vec![0..LEN]));
    }

    #[test]
    fn unit_is_case_insensitive_section_14_1() {
        assert_eq!(r("BYTES=0-5"), Satisfiable(vec![0..6]));
        assert_eq!(r("Bytes=0-5"), Satisfiable(vec![0..6]));
    }

    #[test]
    fn unknown_unit_is_ignored_section_14_2() {
        assert_eq!(r("items=0-5"), Full);
        assert_eq!(r("byte=0-5"), Full);
        assert_eq!(r("bytesx=0-5"), Full);
    }

    #[test]
    fn list_allows_ows_and_empty_elements_section_5_6_1() {
        assert_eq!(r("bytes=0-1 ,\t5-6"), Satisfiable(vec![0..2, 5..7]));
        assert_eq!(r("bytes=,0-1,,5-6,"), Satisfiable(vec![0..2, 5..7]));
        assert_eq!(r("bytes= 0-5"), Satisfiable(vec![0..6]));
        assert_eq!(r("bytes=00-5"), Satisfiable(vec![0..6]));
    }

    #[test]
    fn invalid_syntax_is_ignored_and_the_whole_file_sent_section_14_2() {
        for value in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "bytes=-",
            "bytes=5-2",
            "bytes=a-b",
            "bytes=1-2-3",
            "bytes=+1-2",
            "bytes=1 -2",
            "bytes=1- 2",
            "bytes=0x1-2",
            "bytes=--5",
            "bytes=0-1,5-2",
            "bytes=0-1,x",
            "=0-1",
            "bytes:0-1",
            "bytes=-1-",
        ] {
            assert_eq!(r(value), Full, "{value:?}");
        }
    }

    #[test]
    fn nothing_overlapping_is_unsatisfiable_section_14_1_2() {
        assert_eq!(r("bytes=10000-"), Unsatisfiable);
        assert_eq!(r("bytes=10000-10005"), Unsatisfiable);
        assert_eq!(r("bytes=-0"), Unsatisfiable);
        assert_eq!(r("bytes=20000-,-0"), Unsatisfiable);
        assert_eq!(r("bytes=99999999999999999999999-"), Unsatisfiable);
    }

    #[test]
    fn unsatisfiable_members_are_dropped_from_a_satisfiable_set() {
        assert_eq!(r("bytes=20000-,0-1"), Satisfiable(vec![0..2]));
        assert_eq!(r("bytes=-0,5-5"), Satisfiable(vec![5..6]));
    }

    #[test]
    fn huge_numbers_saturate_instead_of_overflowing() {
        assert_eq!(
            r("bytes=0-99999999999999999999999"),
            Satisfiable(vec![0..LEN])
        );
        assert_eq!(
            r("bytes=-99999999999999999999999"),
            Satisfiable(vec![0..LEN])
        );
        assert_eq!(r("bytes=0-18446744073709551615"), Satisfiable(vec![0..LEN]));
    }

    #[test]
    fn every_range_on_an_empty_file_is_unsatisfiable() {
        for value in ["bytes=0-", "bytes=0-0", "bytes=-5", "bytes=-0"] {
            assert_eq!(resolve(value, 0, 100), Unsatisfiable, "{value}");
        }
        assert_eq!(resolve("items=0-", 0, 100), Full);
    }

    #[test]
    fn request_order_is_kept_for_disjoint_ranges_section_15_3_7_2() {
        assert_eq!(r("bytes=-1,0-0"), Satisfiable(vec![9999..LEN, 0..1]));
        assert_eq!(r("bytes=500-599,0-99"), Satisfiable(vec![500..600, 0..100]));
    }

    #[test]
    fn neighbouring_overlapping_or_adjacent_ranges_coalesce() {
        assert_eq!(r("bytes=0-99,50-149"), Satisfiable(vec![0..150]));
        assert_eq!(r("bytes=50-149,0-99"), Satisfiable(vec![0..150]));
        assert_eq!(r("bytes=0-99,100-199"), Satisfiable(vec![0..200]));
        assert_eq!(r("bytes=0-99,101-199"), Satisfiable(vec![0..100, 101..200]));
        assert_eq!(r("bytes=0-,0-"), Satisfiable(vec![0..LEN]));
    }

    #[test]
    fn too_many_range_specs_fall_back_to_the_whole_file() {
        let many: Vec<String> = (0..101).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
        assert_eq!(r(&format!("bytes={}", many.join(","))), Full);
        let hundred = &many[..100];
        match r(&format!("bytes={}", hundred.join(","))) {
            Satisfiable(ranges) => assert_eq!(ranges.len(), 100),
            other => panic!("100 ranges should be served, got {other:?}"),
        }
        assert_eq!(resolve("bytes=0-0,2-2", LEN, 1), Full);
    }

    #[test]
    fn ranges_adding_up_to_more_than_the_file_fall_back_to_the_whole_file() {
        // Overlaps that are not neighbours are not coalesced, so they count twice.
        assert_eq!(r("bytes=0-5999,9000-9999,1000-6999"), Full);
        assert_eq!(
            r("bytes=0-4999,9000-9999,1000-4999"),
            Satisfiable(vec![0..5000, 9000..10_000, 1000..5000])
        );
    }

    /// A deliberately naive model of §14.1: split, classify, compute, with no shared helpers.
    fn model(value: &str, len: u64, max: usize) -> RangeRequest {
        let value = value.trim_matches(|c| c == ' ' || c == '\t');
        let Some(eq) = value.find('=') else {
            return Full;
        };
        if value[..eq].to_ascii_lowercase() != "bytes" {
            return Full;
        }
        let mut specs: Vec<(Option<u128>, Option<u128>)> = vec![];
        for part in value[eq + 1..].split(',') {
            let part = part.trim_matches(|c| c == ' ' || c == '\t');
            if part.is_empty() {
                continue;
            }
            let Some(dash) = part.find('-') else {
                return Full;
            };
            let (a, b) = (&part[..dash], &part[dash + 1..]);
            let num = |s: &str| -> Option<Option<u128>> {
                if s.is_empty() {
                    Some(None)
                } else if s.chars().all(|c| c.is_ascii_digit()) {
                    Some(Some(
                        s.parse::<u128>().unwrap_or(u128::MAX).min(u64::MAX as u128),
                    ))
                } else {
                    None
                }
            };
            let (Some(a), Some(b)) = (num(a), num(b)) else {
                return Full;
            };
            match (a, b) {
                (None, None) => return Full,
                (Some(a), Some(b)) if b < a => return Full,
                _ => specs.push((a, b)),
            }
        }
        if specs.is_empty() || specs.len() > max {
            return Full;
        }
        let len128 = len as u128;
        let mut out: Vec<(u128, u128)> = vec![];
        for (a, b) in specs {
            let range = match (a, b) {
                (Some(a), b) if a < len128 => Some((a, b.map_or(len128, |b| (b + 1).min(len128)))),
                (None, Some(s)) if s > 0 && len128 > 0 => Some((len128 - s.min(len128), len128)),
                _ => None,
            };
            let Some((s, e)) = range else { continue };
            if let Some(last) = out.last_mut() {
                if s <= last.1 && last.0 <= e {
                    *last = (last.0.min(s), last.1.max(e));
                    continue;
                }
            }
            out.push((s, e));
        }
        if out.is_empty() {
            return Unsatisfiable;
        }
        if out.iter().map(|(s, e)| e - s).sum::<u128>() > len128 {
            return Full;
        }
        Satisfiable(out.into_iter().map(|(s, e)| s as u64..e as u64).collect())
    }

    fn header_strategy() -> impl Strategy<Value = String> {
        let number = prop_oneof![
            Just(String::new()),
            (0u64..40).prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            Just("99999999999999999999999".to_string()),
            Just("00".to_string()),
            Just("x".to_string()),
        ];
        let spec = (
            number.clone(),
            prop_oneof![Just("-"), Just(""), Just("--")],
            number,
        )
            .prop_map(|(a, d, b)| format!("{a}{d}{b}"));
        let ows = prop_oneof![Just(""), Just(" "), Just("\t"), Just("  ")];
        let element = (ows.clone(), spec, ows).prop_map(|(l, s, r)| format!("{l}{s}{r}"));
        let unit = prop_oneof![
            Just("bytes"),
            Just("BYTES"),
            Just("Bytes"),
            Just("items"),
            Just("")
        ];
        (
            unit,
            prop_oneof![Just("="), Just(":")],
            prop::collection::vec(element, 0..8),
        )
            .prop_map(|(u, eq, elems)| format!("{u}{eq}{}", elems.join(",")))
    }

    proptest! {
        #[test]
        fn parser_agrees_with_the_naive_model(value in header_strategy(), len in prop_oneof![Just(0u64), 0u64..50, any::<u64>()], max in 1usize..10) {
            prop_assert_eq!(resolve(&value, len, max), model(&value, len, max));
        }

        #[test]
        fn arbitrary_text_never_panics_and_keeps_the_invariants(value in ".{0,64}", len in any::<u64>(), max in 1usize..200) {
            let outcome = resolve(&value, len, max);
            prop_assert_eq!(invariant_violation(len, max, &outcome), None);
        }

        #[test]
        fn range_like_headers_keep_the_invariants(value in header_strategy(), len in 0u64..100, max in 1usize..10) {
            let outcome = resolve(&value, len, max);
            prop_assert_eq!(invariant_violation(len, max, &outcome), None);
        }
    }
}
