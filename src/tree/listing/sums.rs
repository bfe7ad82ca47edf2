//! `sha256sum` lines: a sidecar's one line, and a folder's `SHA256SUMS` (in listing order, once
//! every file's digest is known). Pure.

use super::{Entry, Kind};
use crate::digest::Sha256Digest;

/// One `sha256sum` line for a file named `name`: `HEX  NAME\n`, or, for a name holding a
/// backslash, a newline or a carriage return, coreutils' escaped form (`\HEX  NAME` with those
/// written `\\`, `\n`, `\r`), which `sha256sum -c` reads back.
pub fn checksum_line(sum: &Sha256Digest, name: &[u8]) -> Vec<u8> {
    let escape = name.iter().any(|b| matches!(b, b'\\' | b'\n' | b'\r'));
    let mut line = Vec::with_capacity(name.len() + 68);
    if escape {
        line.push(b'\\');
    }
    line.extend_from_slice(crate::http::format::hex(sum).as_bytes());
    line.extend_from_slice(b"  ");
    for &b in name {
        match b {
            b'\\' if escape => line.extend_from_slice(b"\\\\"),
            b'\n' => line.extend_from_slice(b"\\n"),
            b'\r' => line.extend_from_slice(b"\\r"),
            _ => line.push(b),
        }
    }
    line.push(b'\n');
    line
}

/// The manifest of the files among sorted `entries`, in listing order: `Ok(None)` when there
/// are none, `Err(n)` while `n` of them have no digest yet.
pub fn manifest(entries: &[Entry]) -> Result<Option<Vec<u8>>, usize> {
    let files: Vec<&Entry> = entries
        .iter()
        .filter(|e| matches!(e.kind, Kind::File { .. }))
        .collect();
    let pending = files.iter().filter(|e| e.sha256.is_none()).count();
    if pending > 0 {
        return Err(pending);
    }
    if files.is_empty() {
        return Ok(None);
    }
    let mut text = Vec::new();
    for file in files {
        if let Some(sum) = &file.sha256 {
            text.extend_from_slice(&checksum_line(sum, &file.name));
        }
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::super::sort;
    use super::super::tests::{dir, file};
    use super::*;

    #[test]
    fn checksum_lines_escape_as_coreutils_does() {
        let sum = [0u8; 32];
        let zeros = "0".repeat(64);
        assert_eq!(
            checksum_line(&sum, b"a b"),
            format!("{zeros}  a b\n").into_bytes()
        );
        assert_eq!(
            checksum_line(&sum, b"a\\b"),
            format!("\\{zeros}  a\\\\b\n").into_bytes()
        );
        assert_eq!(
            checksum_line(&sum, b"n\nl\rr"),
            format!("\\{zeros}  n\\nl\\rr\n").into_bytes()
        );
        assert_eq!(
            checksum_line(&sum, b"\xff"),
            [zeros.as_bytes(), b"  \xff\n"].concat()
        );
    }

    #[test]
    fn the_manifest_waits_for_every_file_and_skips_directories() {
        let mut entries = vec![dir(b"d"), file(b"b", 1, Some(2)), file(b"a", 1, None)];
        sort(&mut entries);
        assert_eq!(manifest(&entries), Err(1));
        entries[1].sha256 = Some([1; 32]);
        let text = String::from_utf8(manifest(&entries).unwrap().unwrap()).unwrap();
        assert_eq!(
            text,
            format!("{}  a\n{}  b\n", "01".repeat(32), "02".repeat(32))
        );
        assert_eq!(manifest(&[dir(b"only")]), Ok(None));
    }
}
