//! Conditional requests (RFC 9110 §13): the five precondition fields evaluated in the §13.2.2
//! order against the representation's validators.
//!
//! Pure: field values, validators and the current time go in, a [`Decision`] comes out. Each field
//! is one function returning a tri-state [`Cond`] (after Go's `net/http`), and [`evaluate`] is the
//! one place where the order lives.
//!
//! Choices where the RFC leaves room:
//! - A list field (`If-Match`, `If-None-Match`) is scanned left to right; a member that is not a
//!   valid entity-tag ends the scan with no match (as Go does). So a garbled `If-Match` fails
//!   (412) and a garbled `If-None-Match` lets the request through.
//! - `If-Range` with a date is true only when the date equals `Last-Modified` exactly and that
//!   date is a strong validator (§8.8.2.2): the file's modification time is at least one second
//!   before now. A value that is neither a valid entity-tag nor a valid date is false (send the
//!   whole file), like nginx and Go.

use std::time::{Duration, SystemTime};

/// The validators of the selected representation (§8.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators<'a> {
    /// The opaque-tag of our strong ETag, quotes included (`"abc"`); we never send weak tags.
    pub etag: &'a str,
    /// Another strong ETag of this same version that clients may hold: the provisional tag
    /// once the content tag is known (see `format::content_etag`). Matches like `etag`.
    pub also: Option<&'a str>,
    /// `Last-Modified` as sent: whole seconds, never later than the response's `Date`. `None`
    /// for a representation without one (a generated document): then `If-Modified-Since` and
    /// `If-Unmodified-Since` are ignored (§13.1.3, §13.1.4) and a date in `If-Range` is false.
    pub last_modified: Option<SystemTime>,
}

/// The precondition and range fields of a request, as received (`None` when absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Preconditions<'a> {
    pub if_match: Option<&'a str>,
    pub if_unmodified_since: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    pub if_modified_since: Option<&'a str>,
    pub if_range: Option<&'a str>,
    /// Whether the request carries a `Range` field at all.
    pub has_range: bool,
}

/// What the preconditions decide for a GET or HEAD request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go on and serve the representation; `honor_range` is false when there is no `Range`, or
    /// when `If-Range` evaluated false and the `Range` must be ignored (§13.1.5).
    Proceed { honor_range: bool },
    /// 304 Not Modified (§13.1.2, §13.1.3).
    NotModified,
    /// 412 Precondition Failed (§13.1.1, §13.1.4).
    PreconditionFailed,
}

/// The outcome of one precondition field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    /// Absent, or to be ignored.
    None,
    True,
    False,
}

/// Evaluates the preconditions of a GET or HEAD request in the order of RFC 9110 §13.2.2.
/// `now` is the time of the response (it decides whether `Last-Modified` is strong).
///
/// ```
/// use rangeserve::http::conditional::{evaluate, Decision, Preconditions, Validators};
/// use std::time::{Duration, UNIX_EPOCH};
/// let modified = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
/// let ours = Validators { etag: "\"v1\"", also: None, last_modified: Some(modified) };
/// let now = modified + Duration::from_secs(60);
/// // A resume with the current ETag in If-Range gets its range...
/// let resume = Preconditions { if_range: Some("\"v1\""), has_range: true, ..Default::default() };
/// assert_eq!(evaluate(&resume, &ours, now), Decision::Proceed { honor_range: true });
/// // ...and one with a stale ETag gets the whole new file, never a splice.
/// let stale = Preconditions { if_range: Some("\"v0\""), has_range: true, ..Default::default() };
/// assert_eq!(evaluate(&stale, &ours, now), Decision::Proceed { honor_range: false });
/// ```
pub fn evaluate(
    fields: &Preconditions<'_>,
    validators: &Validators<'_>,
    now: SystemTime,
) -> Decision {
    // Step 1 and 2: If-Match, else If-Unmodified-Since.
    let first = match fields.if_match {
        Some(value) => either(check_if_match, value, validators, Cond::True),
        None => match (fields.if_unmodified_since, validators.last_modified) {
            (Some(value), Some(last_modified)) => check_if_unmodified_since(value, last_modified),
            _ => Cond::None,
        },
    };
    if first == Cond::False {
        return Decision::PreconditionFailed;
    }
    // Step 3 and 4: If-None-Match, else If-Modified-Since. For GET and HEAD, false is 304.
    let second = match fields.if_none_match {
        Some(value) => either(check_if_none_match, value, validators, Cond::False),
        None => match (fields.if_modified_since, validators.last_modified) {
            (Some(value), Some(last_modified)) => check_if_modified_since(value, last_modified),
            _ => Cond::None,
        },
    };
    if second == Cond::False {
        return Decision::NotModified;
    }
    // Step 5: If-Range, only meaningful with a Range.
    let honor_range = fields.has_range
        && fields
            .if_range
            .is_none_or(|value| check_if_range(value, validators, now) == Cond::True);
    Decision::Proceed { honor_range }
}

/// A list check against our ETag and, when there is one, the other tag of the same version:
/// `decisive` (a match) with either wins.
fn either(
    check: fn(&str, &str) -> Cond,
    value: &str,
    validators: &Validators<'_>,
    decisive: Cond,
) -> Cond {
    let main = check(value, validators.etag);
    match validators.also {
        Some(also) if main != decisive && check(value, also) == decisive => decisive,
        _ => main,
    }
}

/// §13.1.1: `*` or any member that matches our ETag by strong comparison.
pub fn check_if_match(value: &str, etag: &str) -> Cond {
    if value.trim() == "*" {
        return Cond::True;
    }
    if any_tag(value, |tag| strong_eq(tag, etag)) {
        Cond::True
    } else {
        Cond::False
    }
}

/// §13.1.2: false when `*` or any member matches our ETag by weak comparison.
pub fn check_if_none_match(value: &str, etag: &str) -> Cond {
    if value.trim() == "*" {
        return Cond::False;
    }
    if any_tag(value, |tag| weak_eq(tag, etag)) {
        Cond::False
    } else {
        Cond::True
    }
}

/// §13.1.4: false when the representation was modified after the date; an invalid date is ignored.
pub fn check_if_unmodified_since(value: &str, last_modified: SystemTime) -> Cond {
    match httpdate::parse_http_date(value.trim()) {
        Ok(date) if last_modified > date => Cond::False,
        Ok(_) => Cond::True,
        Err(_) => Cond::None,
    }
}

/// §13.1.3: false (304) when the representation was not modified after the date; an invalid
/// date is ignored.
pub fn check_if_modified_since(value: &str, last_modified: SystemTime) -> Cond {
    match httpdate::parse_http_date(value.trim()) {
        Ok(date) if last_modified <= date => Cond::False,
        Ok(_) => Cond::True,
        Err(_) => Cond::None,
    }
}

/// §13.1.5: true only for our strong ETag, or for a date equal to a strong `Last-Modified`.
pub fn check_if_range(value: &str, validators: &Validators<'_>, now: SystemTime) -> Cond {
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        return match parse_entity_tag(value) {
            Some((tag, ""))
                if strong_eq(tag, validators.etag)
                    || validators.also.is_some_and(|also| strong_eq(tag, also)) =>
            {
                Cond::True
            }
            _ => Cond::False,
        };
    }
    match (httpdate::parse_http_date(value), validators.last_modified) {
        (Ok(date), Some(last_modified))
            if date == last_modified && last_modified_is_strong(last_modified, now) =>
        {
            Cond::True
        }
        _ => Cond::False,
    }
}

/// §8.8.2.2: an origin's `Last-Modified` is strong when it is at least a second before the
/// response is generated (a change within the same second could otherwise go unseen).
pub fn last_modified_is_strong(last_modified: SystemTime, now: SystemTime) -> bool {
    last_modified
        .checked_add(Duration::from_secs(1))
        .is_some_and(|t| t <= now)
}

/// §8.8.3.2 strong comparison: both strong and the opaque-tags identical.
fn strong_eq(tag: &str, ours: &str) -> bool {
    !tag.starts_with("W/") && tag == ours
}

/// §8.8.3.2 weak comparison: the opaque-tags identical, weakness ignored.
fn weak_eq(tag: &str, ours: &str) -> bool {
    tag.trim_start_matches("W/") == ours.trim_start_matches("W/")
}

/// Scans a `#entity-tag` list; a member that does not parse ends the scan with no match.
fn any_tag(value: &str, mut matches: impl FnMut(&str) -> bool) -> bool {
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return false;
        }
        let Some((tag, after)) = parse_entity_tag(rest) else {
            return false;
        };
        if matches(tag) {
            return true;
        }
        rest = after.trim_start_matches([' ', '\t']);
        if !(rest.is_empty() || rest.starts_with(',')) {
            return false;
        }
    }
}

/// Splits one `entity-tag` (§8.8.3: `[ "W/" ] DQUOTE *etagc DQUOTE`) off the front of `s`,
/// returning the tag (weakness prefix and quotes included) and what follows it.
pub fn parse_entity_tag(s: &str) -> Option<(&str, &str)> {
    let opaque_start = if s.starts_with("W/") { 2 } else { 0 };
    let bytes = s.as_bytes();
    if bytes.get(opaque_start) != Some(&b'"') {
        return None;
    }
    for (i, &b) in bytes.iter().enumerate().skip(opaque_start + 1) {
        match b {
            b'"' => return Some((&s[..=i], &s[i + 1..])),
            // etagc = %x21 / %x23-7E / obs-text
            0x21 | 0x23..=0x7E | 0x80..=0xFF => {}
            _ => return None,
        }
    }
    None
}

/// Checks what every [`evaluate`] outcome must satisfy, whatever the field values: a 412 comes
/// only from `If-Match`/`If-Unmodified-Since`, a 304 only from `If-None-Match`/
/// `If-Modified-Since`, and a Range is honoured only when there is one. Returns what is
/// violated; shared by the property tests and the fuzz target.
pub fn invariant_violation(fields: &Preconditions<'_>, decision: Decision) -> Option<&'static str> {
    match decision {
        Decision::PreconditionFailed
            if fields.if_match.is_none() && fields.if_unmodified_since.is_none() =>
        {
            Some("412 without If-Match or If-Unmodified-Since")
        }
        Decision::NotModified
            if fields.if_none_match.is_none() && fields.if_modified_since.is_none() =>
        {
            Some("304 without If-None-Match or If-Modified-Since")
        }
        Decision::Proceed { honor_range: true } if !fields.has_range => {
            Some("a Range honoured without a Range")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::Decision::{NotModified, PreconditionFailed, Proceed};
    use super::*;
    use proptest::prelude::*;

    const ETAG: &str = "\"5f-1a2b\"";
    const LM: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const BEFORE: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
    const AFTER: &str = "Sun, 06 Nov 1994 08:49:38 GMT";

    fn lm() -> SystemTime {
        httpdate::parse_http_date(LM).unwrap()
    }
    fn later() -> SystemTime {
        lm() + Duration::from_secs(3600)
    }
    fn validators() -> Validators<'static> {
        Validators {
            also: None,
            etag: ETAG,
            last_modified: Some(lm()),
        }
    }
    fn decide(fields: Preconditions<'_>) -> Decision {
        evaluate(&fields, &validators(), later())
    }
    const SERVE: Decision = Proceed { honor_range: false };
    const RANGE: Decision = Proceed { honor_range: true };

    #[test]
    fn the_provisional_tag_of_the_same_version_matches_like_the_content_tag() {
        let both = Validators {
            also: Some("\"p-7\""),
            ..validators()
        };
        let eval = |fields: Preconditions<'_>| evaluate(&fields, &both, later());
        let range = |if_range| Preconditions {
            if_range: Some(if_range),
            has_range: true,
            ..Default::default()
        };
        assert_eq!(
            eval(range("\"p-7\"")),
            RANGE,
            "a resume begun before the digest"
        );
        assert_eq!(eval(range(ETAG)), RANGE);
        assert_eq!(eval(range("\"p-6\"")), SERVE, "another version's tag");
        assert_eq!(eval(range("W/\"p-7\"")), SERVE, "If-Range is strong");
        let if_match = |v| Preconditions {
            if_match: Some(v),
            ..Default::default()
        };
        assert_eq!(eval(if_match("\"p-7\"")), SERVE);
        assert_eq!(eval(if_match("\"x\", \"p-7\"")), SERVE);
        assert_eq!(eval(if_match("\"p-6\"")), PreconditionFailed);
        let inm = |v| Preconditions {
            if_none_match: Some(v),
            ..Default::default()
        };
        assert_eq!(eval(inm("\"p-7\"")), NotModified);
        assert_eq!(eval(inm("W/\"p-7\"")), NotModified);
        assert_eq!(eval(inm("\"p-6\"")), SERVE);
    }

    #[test]
    fn no_preconditions_serve_the_representation() {
        assert_eq!(decide(Preconditions::default()), SERVE);
        assert_eq!(
            decide(Preconditions {
                has_range: true,
                ..Default::default()
            }),
            RANGE
        );
    }

    #[test]
    fn if_match_uses_strong_comparison_section_13_1_1() {
        let cases = [
            ("*", SERVE),
            (ETAG, SERVE),
            ("\"other\", \"5f-1a2b\"", SERVE),
            ("\"other\"", PreconditionFailed),
            ("W/\"5f-1a2b\"", PreconditionFailed),
            ("garbage", PreconditionFailed),
            ("\"unterminated", PreconditionFailed),
            ("", PreconditionFailed),
        ];
        for (value, want) in cases {
            assert_eq!(
                decide(Preconditions {
                    if_match: Some(value),
                    ..Default::default()
                }),
                want,
                "{value:?}"
            );
        }
    }

    #[test]
    fn if_unmodified_since_fails_only_for_a_later_modification_section_13_1_4() {
        let cases = [
            (LM, SERVE),
            (AFTER, SERVE),
            (BEFORE, PreconditionFailed),
            ("not a date", SERVE),
        ];
        for (value, want) in cases {
            let fields = Preconditions {
                if_unmodified_since: Some(value),
                ..Default::default()
            };
            assert_eq!(decide(fields), want, "{value:?}");
        }
    }

    #[test]
    fn if_unmodified_since_is_ignored_when_if_match_is_present_section_13_2_2() {
        let fields = Preconditions {
            if_match: Some(ETAG),
            if_unmodified_since: Some(BEFORE),
            ..Default::default()
        };
        assert_eq!(decide(fields), SERVE);
    }

    #[test]
    fn if_none_match_uses_weak_comparison_section_13_1_2() {
        let cases = [
            ("*", NotModified),
            (ETAG, NotModified),
            ("W/\"5f-1a2b\"", NotModified),
            ("\"a\", W/\"5f-1a2b\"", NotModified),
            ("\"a\",\"b\"", SERVE),
            ("garbage", SERVE),
        ];
        for (value, want) in cases {
            let fields = Preconditions {
                if_none_match: Some(value),
                ..Default::default()
            };
            assert_eq!(decide(fields), want, "{value:?}");
        }
    }

    #[test]
    fn if_modified_since_is_304_at_or_after_last_modified_section_13_1_3() {
        let cases = [
            (LM, NotModified),
            (AFTER, NotModified),
            (BEFORE, SERVE),
            ("yesterday", SERVE),
        ];
        for (value, want) in cases {
            let fields = Preconditions {
                if_modified_since: Some(value),
                ..Default::default()
            };
            assert_eq!(decide(fields), want, "{value:?}");
        }
    }

    #[test]
    fn if_modified_since_is_ignored_when_if_none_match_is_present_section_13_1_3() {
        let fields = Preconditions {
            if_none_match: Some("\"other\""),
            if_modified_since: Some(LM),
            ..Default::default()
        };
        assert_eq!(decide(fields), SERVE);
    }

    #[test]
    fn the_order_is_section_13_2_2() {
        // If-Match fails before If-None-Match could say 304.
        let fields = Preconditions {
            if_match: Some("\"x\""),
            if_none_match: Some(ETAG),
            ..Default::default()
        };
        assert_eq!(decide(fields), PreconditionFailed);
        // If-None-Match 304 comes before an unsatisfiable or If-Range-guarded Range.
        let fields = Preconditions {
            if_none_match: Some(ETAG),
            if_range: Some(ETAG),
            has_range: true,
            ..Default::default()
        };
        assert_eq!(decide(fields), NotModified);
        // A Firefox-style resume: If-Match + If-Unmodified-Since + Range → 206, not 304.
        let fields = Preconditions {
            if_match: Some(ETAG),
            if_unmodified_since: Some(LM),
            has_range: true,
            ..Default::default()
        };
        assert_eq!(decide(fields), RANGE);
    }

    #[test]
    fn if_range_with_an_entity_tag_needs_a_strong_match_section_13_1_5() {
        let cases = [
            (ETAG, RANGE),
            ("W/\"5f-1a2b\"", SERVE),
            ("\"stale\"", SERVE),
            ("\"5f-1a2b\" trailing", SERVE),
            ("\"unterminated", SERVE),
        ];
        for (value, want) in cases {
            let fields = Preconditions {
                if_range: Some(value),
                has_range: true,
                ..Default::default()
            };
            assert_eq!(decide(fields), want, "{value:?}");
        }
    }

    #[test]
    fn if_range_with_a_date_needs_an_exact_strong_match_section_13_1_5() {
        let cases = [
            (LM, RANGE),
            (AFTER, SERVE),
            (BEFORE, SERVE),
            ("garbage", SERVE),
            ("", SERVE),
        ];
        for (value, want) in cases {
            let fields = Preconditions {
                if_range: Some(value),
                has_range: true,
                ..Default::default()
            };
            assert_eq!(decide(fields), want, "{value:?}");
        }
    }

    #[test]
    fn if_range_date_is_weak_within_a_second_of_the_modification_section_8_8_2_2() {
        let fields = Preconditions {
            if_range: Some(LM),
            has_range: true,
            ..Default::default()
        };
        assert_eq!(evaluate(&fields, &validators(), lm()), SERVE);
        assert_eq!(
            evaluate(&fields, &validators(), lm() + Duration::from_millis(999)),
            SERVE
        );
        assert_eq!(
            evaluate(&fields, &validators(), lm() + Duration::from_secs(1)),
            RANGE
        );
    }

    #[test]
    fn if_range_without_range_changes_nothing() {
        let fields = Preconditions {
            if_range: Some("\"stale\""),
            ..Default::default()
        };
        assert_eq!(decide(fields), SERVE);
    }

    #[test]
    fn entity_tags_parse_with_their_prefix_and_quotes() {
        assert_eq!(parse_entity_tag("\"a\", \"b\""), Some(("\"a\"", ", \"b\"")));
        assert_eq!(parse_entity_tag("W/\"a\""), Some(("W/\"a\"", "")));
        assert_eq!(parse_entity_tag("\"\""), Some(("\"\"", "")));
        assert_eq!(parse_entity_tag("a"), None);
        assert_eq!(parse_entity_tag("\"a b\""), None);
        assert_eq!(parse_entity_tag("w/\"a\""), None);
    }

    proptest! {
        #[test]
        fn never_panics_and_304_412_only_come_from_their_fields(
            im in proptest::option::of(".{0,24}"), ius in proptest::option::of(".{0,32}"),
            inm in proptest::option::of(".{0,24}"), ims in proptest::option::of(".{0,32}"),
            ir in proptest::option::of(".{0,32}"), has_range in any::<bool>(), offset in 0u64..100_000,
        ) {
            let fields = Preconditions {
                if_match: im.as_deref(), if_unmodified_since: ius.as_deref(),
                if_none_match: inm.as_deref(), if_modified_since: ims.as_deref(),
                if_range: ir.as_deref(), has_range,
            };
            let decision = evaluate(&fields, &validators(), lm() + Duration::from_secs(offset));
            prop_assert_eq!(invariant_violation(&fields, decision), None);
        }
    }
}
