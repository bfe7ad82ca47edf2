//! What a GET or HEAD of one entity gets: the preconditions (RFC 9110 §13.2.2, [`conditional`])
//! and then the `Range` (§14.2, [`range`]), as one [`Outcome`]. Pure: the request's fields, the
//! entity's length and validators, and the time of the response go in.
//!
//! Every kind of entity (a file, a folder archive, a generated document) goes through here, so
//! each gets 304, 412, If-Range, Range, 416 and multipart ranges exactly alike.

use std::ops::Range;
use std::time::SystemTime;

use hyper::header::{self, HeaderMap};

use super::conditional::{self, Decision, Preconditions, Validators};
use super::fields::fields_named;
use super::range::{self, RangeRequest};

/// What the request gets, before any byte is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 304 (§13.1.2, §13.1.3).
    NotModified,
    /// 412 (§13.1.1, §13.1.4).
    PreconditionFailed,
    /// 416 (§15.5.17).
    Unsatisfiable,
    /// 200 with the whole entity.
    Full,
    /// 206 with one range.
    Single(Range<u64>),
    /// 206 `multipart/byteranges` with two or more ranges.
    Multipart(Vec<Range<u64>>),
}

/// Applies the preconditions and then the `Range` of a GET or HEAD to an entity of `len` bytes.
/// At most `max_ranges` ranges are served (more, or overlapping ones past that, get the whole
/// entity, see [`range::resolve`]).
pub fn decide(
    fields: &HeaderMap,
    len: u64,
    validators: &Validators<'_>,
    max_ranges: usize,
    now: SystemTime,
) -> Outcome {
    let [
        if_match,
        if_unmodified_since,
        if_none_match,
        if_modified_since,
        if_range,
        range,
    ] = fields_named(
        fields,
        [
            &header::IF_MATCH,
            &header::IF_UNMODIFIED_SINCE,
            &header::IF_NONE_MATCH,
            &header::IF_MODIFIED_SINCE,
            &header::IF_RANGE,
            &header::RANGE,
        ],
    );
    let preconditions = Preconditions {
        if_match: if_match.as_deref(),
        if_unmodified_since: if_unmodified_since.as_deref(),
        if_none_match: if_none_match.as_deref(),
        if_modified_since: if_modified_since.as_deref(),
        if_range: if_range.as_deref(),
        has_range: range.is_some(),
    };
    match conditional::evaluate(&preconditions, validators, now) {
        Decision::PreconditionFailed => Outcome::PreconditionFailed,
        Decision::NotModified => Outcome::NotModified,
        Decision::Proceed { honor_range: false } => Outcome::Full,
        Decision::Proceed { honor_range: true } => {
            let value = range.as_deref().unwrap_or_default();
            match range::resolve(value, len, max_ranges) {
                RangeRequest::Full => Outcome::Full,
                RangeRequest::Unsatisfiable => Outcome::Unsatisfiable,
                RangeRequest::Satisfiable(mut ranges) if ranges.len() == 1 => {
                    Outcome::Single(ranges.swap_remove(0))
                }
                RangeRequest::Satisfiable(ranges) => Outcome::Multipart(ranges),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;
    use std::time::{Duration, UNIX_EPOCH};

    const ETAG: &str = "\"v2\"";
    const MODIFIED: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

    fn modified() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(784_111_777)
    }

    fn outcome(lines: &[(&str, &str)], last_modified: Option<SystemTime>) -> Outcome {
        let mut fields = HeaderMap::new();
        for (name, value) in lines {
            fields.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let validators = Validators {
            etag: ETAG,
            also: Some("\"provisional\""),
            last_modified,
        };
        decide(
            &fields,
            100,
            &validators,
            8,
            modified() + Duration::from_secs(60),
        )
    }

    /// A row of the table: the request's fields, the outcome, and where the RFC says so.
    type Row = (
        &'static [(&'static str, &'static str)],
        Outcome,
        &'static str,
    );

    /// Each row: the request's fields and what RFC 9110 says the GET gets.
    #[test]
    fn the_rfc_9110_table() {
        use Outcome::*;
        let rows: &[Row] = &[
            (&[], Full, "no fields: 200"),
            (&[("range", "bytes=0-9")], Single(0..10), "§14.2"),
            (
                &[("range", "bytes=90-")],
                Single(90..100),
                "§14.1.2 open-ended",
            ),
            (&[("range", "bytes=-5")], Single(95..100), "§14.1.2 suffix"),
            (
                &[("range", "bytes=0-1,5-6")],
                Multipart(vec![0..2, 5..7]),
                "§14.6",
            ),
            (&[("range", "bytes=100-")], Unsatisfiable, "§15.5.17"),
            (
                &[("range", "items=0-1")],
                Full,
                "§14.2 unknown unit ignored",
            ),
            (&[("if-match", ETAG)], Full, "§13.1.1 match"),
            (&[("if-match", "\"other\"")], PreconditionFailed, "§13.1.1"),
            (
                &[("if-match", "\"provisional\"")],
                Full,
                "the other tag of this version",
            ),
            (&[("if-none-match", ETAG)], NotModified, "§13.1.2"),
            (
                &[("if-none-match", "W/\"v2\"")],
                NotModified,
                "§13.1.2 weak comparison",
            ),
            (&[("if-none-match", "\"other\"")], Full, "§13.1.2 no match"),
            (&[("if-modified-since", MODIFIED)], NotModified, "§13.1.3"),
            (
                &[("if-unmodified-since", "Sat, 05 Nov 1994 08:49:37 GMT")],
                PreconditionFailed,
                "§13.1.4",
            ),
            (
                &[("range", "bytes=0-9"), ("if-range", ETAG)],
                Single(0..10),
                "§13.1.5 match",
            ),
            (
                &[("range", "bytes=0-9"), ("if-range", "\"old\"")],
                Full,
                "§13.1.5 stale",
            ),
            (
                &[("range", "bytes=0-9"), ("if-range", MODIFIED)],
                Single(0..10),
                "§13.1.5 date",
            ),
            (
                &[
                    ("if-none-match", ETAG),
                    ("if-modified-since", "Sat, 05 Nov 1994 08:49:37 GMT"),
                ],
                NotModified,
                "§13.2.2 step 3 before 4",
            ),
            (
                &[("if-match", "\"other\""), ("if-none-match", ETAG)],
                PreconditionFailed,
                "§13.2.2 step 1 first",
            ),
        ];
        for (lines, want, why) in rows {
            assert_eq!(&outcome(lines, Some(modified())), want, "{why}: {lines:?}");
        }
    }

    /// A generated document has no `Last-Modified`: the date fields are ignored (§13.1.3,
    /// §13.1.4) and a date in `If-Range` never matches (§13.1.5), while its ETag works as a file's.
    #[test]
    fn without_last_modified_the_dates_are_ignored() {
        use Outcome::*;
        assert_eq!(outcome(&[("if-modified-since", MODIFIED)], None), Full);
        assert_eq!(
            outcome(
                &[("if-unmodified-since", "Sat, 05 Nov 1994 08:49:37 GMT")],
                None
            ),
            Full
        );
        assert_eq!(
            outcome(&[("range", "bytes=0-9"), ("if-range", MODIFIED)], None),
            Full
        );
        assert_eq!(outcome(&[("if-none-match", ETAG)], None), NotModified);
        assert_eq!(
            outcome(&[("range", "bytes=0-9"), ("if-range", ETAG)], None),
            Single(0..10)
        );
    }
}
