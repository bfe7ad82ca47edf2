//! Fuzzes the Range parser: any header text, any length, any limit. It must not panic, and its
//! outcome must keep `range::invariant_violation`'s invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rangeserve::http::range::{invariant_violation, resolve};

fuzz_target!(|input: &[u8]| {
    if input.len() < 9 {
        return;
    }
    let len = u64::from_le_bytes(input[..8].try_into().unwrap_or_default());
    // Small lengths are the interesting ones half of the time.
    let len = if len & 1 == 0 { len >> 1 } else { (len >> 1) % 4096 };
    let max_ranges = usize::from(input[8]).max(1);
    let header = String::from_utf8_lossy(&input[9..]);
    let outcome = resolve(&header, len, max_ranges);
    if let Some(violation) = invariant_violation(len, max_ranges, &outcome) {
        panic!("{violation}: {header:?} len={len} max={max_ranges} → {outcome:?}");
    }
});
