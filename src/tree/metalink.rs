//! Pure: Metalink 4 documents (RFC 5854) — for one file, or every visible file below a folder —
//! with the file's size, its SHA-256, its pieces' SHA-256s and the URLs it can be fetched from
//! (this server, then each mirror), so aria2c (`-M`) and wget2 (`--metalink`) check every piece
//! as it arrives, fetch a bad one again (from another URL), repair a damaged copy (`aria2c -V`)
//! and take pieces from every mirror at once.
//!
//! The bytes are a function of the files and the URLs only (no `<published>`, no generator
//! version): replicas with the same configuration, asked under the same name, serve the same
//! document and so the same ETag.
//!
//! A `name` is the file's path below the folder, `/`-separated (RFC 5854 §4.1.2.1: relative, no
//! `..`). XML 1.0 cannot carry most control characters even escaped, and names must be UTF-8: a
//! file whose name is not representable is left out (a single file's document is then 404).

use std::fmt::Write as _;

use crate::digest::pieces::piece_length;
use crate::http::format::hex;

/// The media type (RFC 5854 §7).
pub const CONTENT_TYPE: &str = "application/metalink4+xml";

/// One file as a Metalink describes it.
#[derive(Debug, Clone)]
pub struct MetaFile<'a> {
    /// Its path below the document's folder (for a single file: its name), `/`-separated.
    pub name: &'a [u8],
    pub size: u64,
    pub sha256: [u8; 32],
    pub pieces: &'a [[u8; 32]],
    /// Absolute URLs, most preferred first (priority 1, 2, …).
    pub urls: Vec<String>,
}

/// Whether `name` can be a Metalink file name: UTF-8, no XML-forbidden character, relative,
/// no `.` or `..` segment.
pub fn representable(name: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(name) else {
        return false;
    };
    !text.is_empty()
        && !text.starts_with('/')
        && text
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
        && text.chars().all(|c| {
            !matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}' | '\u{fffe}' | '\u{ffff}')
                && !(0xd800..=0xdfff).contains(&(c as u32))
        })
}

/// The document for `files` (each representable, see [`representable`]).
pub fn render(files: &[MetaFile<'_>]) -> String {
    let pieces: usize = files.iter().map(|f| f.pieces.len()).sum();
    let mut out = String::with_capacity(200 + files.len() * 400 + pieces * 80);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">\n");
    out.push_str("  <generator>rangeserve</generator>\n");
    for file in files {
        let name = String::from_utf8_lossy(file.name);
        let _ = writeln!(out, "  <file name=\"{}\">", escape(&name));
        let _ = writeln!(out, "    <size>{}</size>", file.size);
        let _ = writeln!(
            out,
            "    <hash type=\"sha-256\">{}</hash>",
            hex(&file.sha256)
        );
        let _ = writeln!(
            out,
            "    <pieces length=\"{}\" type=\"sha-256\">",
            piece_length(file.size)
        );
        for piece in file.pieces {
            let _ = writeln!(out, "      <hash>{}</hash>", hex(piece));
        }
        out.push_str("    </pieces>\n");
        for (i, url) in file.urls.iter().enumerate() {
            let _ = writeln!(out, "    <url priority=\"{}\">{}</url>", i + 1, escape(url));
        }
        out.push_str("  </file>\n");
    }
    out.push_str("</metalink>\n");
    out
}

/// XML character data and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_has_the_size_hash_pieces_and_urls_in_priority_order() {
        let pieces = [[1u8; 32], [2u8; 32]];
        let file = MetaFile {
            name: b"season 1/ep<1>&.mkv",
            size: (1 << 20) + 1,
            sha256: [0xab; 32],
            pieces: &pieces,
            urls: vec![
                "http://a.example/season%201/ep%3C1%3E%26.mkv".into(),
                "http://b.example/x?y=1&z".into(),
            ],
        };
        let doc = render(&[file]);
        assert!(doc.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">"));
        assert!(
            doc.contains("<file name=\"season 1/ep&lt;1&gt;&amp;.mkv\">"),
            "{doc}"
        );
        assert!(doc.contains("<size>1048577</size>"));
        assert!(doc.contains(&format!(
            "<hash type=\"sha-256\">{}</hash>",
            "ab".repeat(32)
        )));
        assert!(doc.contains("<pieces length=\"1048576\" type=\"sha-256\">"));
        assert!(doc.contains(&format!(
            "<hash>{}</hash>\n      <hash>{}</hash>",
            "01".repeat(32),
            "02".repeat(32)
        )));
        assert!(
            doc.contains("<url priority=\"1\">http://a.example/season%201/ep%3C1%3E%26.mkv</url>")
        );
        assert!(doc.contains("<url priority=\"2\">http://b.example/x?y=1&amp;z</url>"));
        assert_eq!(
            doc,
            render(&[MetaFile {
                name: b"season 1/ep<1>&.mkv",
                size: (1 << 20) + 1,
                sha256: [0xab; 32],
                pieces: &pieces,
                urls: vec![
                    "http://a.example/season%201/ep%3C1%3E%26.mkv".into(),
                    "http://b.example/x?y=1&z".into()
                ]
            }]),
            "deterministic"
        );
    }

    #[test]
    fn only_names_xml_and_metalink_can_carry_are_representable() {
        assert!(representable(b"a/b c.mkv"));
        assert!(representable("ü/ß".as_bytes()));
        for bad in [
            &b"a\x1bb"[..],
            b"\xff",
            b"/abs",
            b"a/../b",
            b"a//b",
            b"",
            b"./a",
        ] {
            assert!(!representable(bad), "{bad:?}");
        }
    }
}
