//! Fuzzes the precondition evaluator: five arbitrary field values (split on NUL), with or
//! without a Range, at an arbitrary time. It must not panic, and its decision must keep
//! `conditional::invariant_violation`'s invariants.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use rangeserve::http::conditional::{Preconditions, Validators, evaluate, invariant_violation};

fuzz_target!(|input: &[u8]| {
    let Some((&flags, rest)) = input.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let mut values = text.split('\0').map(|v| (!v.is_empty()).then_some(v));
    let mut next = || values.next().flatten();
    let fields = Preconditions {
        if_match: next(),
        if_unmodified_since: next(),
        if_none_match: next(),
        if_modified_since: next(),
        if_range: next(),
        has_range: flags & 1 == 1,
    };
    let modified = UNIX_EPOCH + Duration::from_secs(784_111_777);
    let validators = Validators { etag: "\"5f-1a2b\"", also: Some("\"p-1\""), last_modified: Some(modified) };
    let now = modified + Duration::from_secs(u64::from(flags >> 1));
    let decision = evaluate(&fields, &validators, now);
    if let Some(violation) = invariant_violation(&fields, decision) {
        panic!("{violation}: {fields:?} → {decision:?}");
    }
});
