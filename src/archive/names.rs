//! Pure: a name as it goes into an archive. Linux allows any byte but `/` and NUL in a name, and
//! some of them mean something else to the extractors on other systems: Windows ones split on
//! `\` (a file named `..\..\evil` would be written two folders above the target) and read `C:` at
//! the start of a path as a drive. So, in every member name (tar and zip alike):
//! - `\` becomes `%5C`;
//! - `:` becomes `%3A` where a segment begins with a letter and a colon (`C:x` → `C%3Ax`);
//! - `%` becomes `%25` where it is followed by `5C`, `3A` or `25` (either case), so that no two
//!   names map to the same member name (`a\b` → `a%5Cb`, a real `a%5Cb` → `a%255Cb`); every
//!   other `%` (`100% done`) stays.
//!
//! Names from a directory never are `.`, `..` or empty and never contain `/`, so with the
//! above no member path has a `..` segment, a leading `/`, a drive letter or a backslash. The
//! listing shows the real name; only the archive carries the mapped one.

use std::borrow::Cow;

/// `name` (one path segment) as an archive member's segment: see the module.
pub fn member_segment(name: &[u8]) -> Cow<'_, [u8]> {
    let drive = name.len() >= 2 && name[0].is_ascii_alphabetic() && name[1] == b':';
    let needs = drive
        || name
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'\\' || (b == b'%' && escapes_next(&name[i + 1..])));
    if !needs {
        return Cow::Borrowed(name);
    }
    let mut out = Vec::with_capacity(name.len() + 8);
    for (i, &b) in name.iter().enumerate() {
        match b {
            b'\\' => out.extend_from_slice(b"%5C"),
            b':' if drive && i == 1 => out.extend_from_slice(b"%3A"),
            b'%' if escapes_next(&name[i + 1..]) => out.extend_from_slice(b"%25"),
            b => out.push(b),
        }
    }
    Cow::Owned(out)
}

/// Whether a `%` followed by `rest` must itself be escaped (it would read as an escape).
fn escapes_next(rest: &[u8]) -> bool {
    let Some(code) = rest.get(..2) else {
        return false;
    };
    [b"5C", b"3A", b"25"]
        .iter()
        .any(|escape| code.eq_ignore_ascii_case(*escape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mapped(name: &str) -> String {
        String::from_utf8(member_segment(name.as_bytes()).into_owned()).unwrap()
    }

    /// The inverse, for the property: what an extractor that knows the mapping would restore.
    fn unmapped(segment: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < segment.len() {
            let code = segment.get(i + 1..i + 3).map(|c| c.to_ascii_uppercase());
            match (segment[i], code.as_deref()) {
                (b'%', Some(b"5C")) => out.push(b'\\'),
                (b'%', Some(b"3A")) => out.push(b':'),
                (b'%', Some(b"25")) => out.push(b'%'),
                (b, _) => {
                    out.push(b);
                    i += 1;
                    continue;
                }
            }
            i += 3;
        }
        out
    }

    #[test]
    fn backslashes_drive_letters_and_ambiguous_percents_are_mapped() {
        assert_eq!(mapped(r"..\..\evil"), "..%5C..%5Cevil");
        assert_eq!(mapped("C:evil"), "C%3Aevil");
        assert_eq!(mapped("12:30 talk.mp4"), "12:30 talk.mp4");
        assert_eq!(mapped("a%5Cb"), "a%255Cb");
        assert_eq!(mapped("100% done.txt"), "100% done.txt");
        assert_eq!(mapped("plain name.bin"), "plain name.bin");
        assert!(matches!(member_segment(b"plain"), Cow::Borrowed(_)));
    }

    proptest! {
        #[test]
        fn the_mapping_is_safe_and_reversible(name in proptest::collection::vec(1u8..=255, 1..24)) {
            let name: Vec<u8> = name.into_iter().filter(|&b| b != b'/').collect();
            prop_assume!(!name.is_empty());
            let segment = member_segment(&name);
            prop_assert!(!segment.contains(&b'\\'));
            prop_assert!(!(segment.len() >= 2 && segment[0].is_ascii_alphabetic() && segment[1] == b':'));
            prop_assert_eq!(unmapped(&segment), name);
        }
    }
}
