//! Pure: BitTorrent v1 metainfo (BEP 3) for a file or a folder, with this server (and each
//! mirror) as web seeds (BEP 19 `url-list`), and the magnet link of it.
//!
//! The `info` dictionary holds only what follows from the bytes and the names — `name`,
//! `piece length`, `pieces`, and `length` (a file) or `files` (a folder: `length` and `path` per
//! file, in the order given) — so the infohash is the same on every replica and after a
//! restart, and for a single file it is the one `mktorrent -l <log2 of the piece length>`
//! makes of the same file. No `creation date` (it would make replicas' files differ), no
//! `announce` unless trackers are given.

use super::bencode::Value;
use sha1::{Digest as _, Sha1};

/// Whether a path segment is one every client fetches as it is: UTF-8, no control character,
/// no backslash, no bidirectional or other invisible format character. libtorrent rewrites
/// others (and then asks the web seed for a name that does not exist, and stalls); aria2c
/// refuses a whole torrent over one newline. A folder torrent leaves such files out.
pub fn portable(segment: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(segment) else {
        return false;
    };
    !text.is_empty()
        && text.chars().all(|c| {
            !c.is_control()
                && c != '\\'
                && !matches!(c,
                    '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
                    | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
        })
}

/// A file of a folder torrent: its path below the folder (segments) and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorrentFile {
    pub path: Vec<Vec<u8>>,
    pub length: u64,
}

/// The `info` dictionary of a single file.
pub fn single_info(name: &[u8], length: u64, piece_length: u64, pieces: &[[u8; 20]]) -> Value {
    Value::dict([
        ("length", Value::Int(length as i64)),
        ("name", Value::bytes(name)),
        ("piece length", Value::Int(piece_length as i64)),
        ("pieces", Value::Bytes(pieces.concat())),
    ])
}

/// The `info` dictionary of a folder named `name` holding `files` (in that order: the pieces
/// run across them end to end).
pub fn folder_info(
    name: &[u8],
    files: &[TorrentFile],
    piece_length: u64,
    pieces: &[[u8; 20]],
) -> Value {
    let files = files
        .iter()
        .map(|f| {
            Value::dict([
                ("length", Value::Int(f.length as i64)),
                (
                    "path",
                    Value::List(f.path.iter().map(Value::bytes).collect()),
                ),
            ])
        })
        .collect();
    Value::dict([
        ("files", Value::List(files)),
        ("name", Value::bytes(name)),
        ("piece length", Value::Int(piece_length as i64)),
        ("pieces", Value::Bytes(pieces.concat())),
    ])
}

/// The infohash: the SHA-1 of the bencoded `info` dictionary.
pub fn infohash(info: &Value) -> [u8; 20] {
    Sha1::digest(info.encode()).into()
}

/// The `.torrent` file: `info`, `url-list` (web seeds, BEP 19) and, when given, `announce` and
/// `announce-list` (BEP 12).
pub fn torrent(info: Value, web_seeds: &[String], trackers: &[String]) -> Vec<u8> {
    let mut top = vec![("info", info)];
    if !web_seeds.is_empty() {
        top.push((
            "url-list",
            Value::List(web_seeds.iter().map(Value::bytes).collect()),
        ));
    }
    if let Some(first) = trackers.first() {
        top.push(("announce", Value::bytes(first)));
        if trackers.len() > 1 {
            let tiers = trackers
                .iter()
                .map(|t| Value::List(vec![Value::bytes(t)]))
                .collect();
            top.push(("announce-list", Value::List(tiers)));
        }
    }
    Value::dict(top).encode()
}

/// `magnet:?xt=urn:btih:<hex>&dn=<name>&ws=<url>…` (names and URLs percent-encoded).
pub fn magnet(infohash: &[u8; 20], name: &[u8], web_seeds: &[String]) -> String {
    let mut link = format!(
        "magnet:?xt=urn:btih:{}&dn={}",
        crate::http::format::hex(infohash),
        query_encode(name)
    );
    for seed in web_seeds {
        link.push_str("&ws=");
        link.push_str(&query_encode(seed.as_bytes()));
    }
    link
}

/// Percent-encodes all but unreserved characters (RFC 3986 §2.3).
fn query_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_file_info_has_only_what_the_bytes_and_name_decide() {
        let info = single_info(b"a.bin", 5, 16384, &[[7u8; 20]]);
        let mut want = b"d6:lengthi5e4:name5:a.bin12:piece lengthi16384e6:pieces20:".to_vec();
        want.extend_from_slice(&[7u8; 20]);
        want.push(b'e');
        assert_eq!(info.encode(), want);
        let file = torrent(info.clone(), &["http://h/a.bin".into()], &[]);
        assert!(file.starts_with(b"d4:infod6:length"));
        assert!(file.ends_with(b"8:url-listl14:http://h/a.binee"));
        assert_eq!(
            infohash(&info),
            <[u8; 20]>::from(Sha1::digest(info.encode()))
        );
    }

    #[test]
    fn a_folder_info_lists_each_file_by_path_segments_in_order() {
        let files = [
            TorrentFile {
                path: vec![b"b.txt".to_vec()],
                length: 3,
            },
            TorrentFile {
                path: vec![b"sub".to_vec(), b"a.bin".to_vec()],
                length: 9,
            },
        ];
        let info = folder_info(b"share", &files, 16384, &[[1u8; 20]]).encode();
        let text = String::from_utf8_lossy(&info);
        assert!(text.starts_with("d5:filesld6:lengthi3e4:pathl5:b.txteed6:lengthi9e4:pathl3:sub5:a.bineee4:name5:share"), "{text}");
    }

    #[test]
    fn names_clients_would_rewrite_are_not_portable() {
        for good in [&b"ep 1.mkv"[..], "été #1 & 100%.txt".as_bytes(), b"a:b"] {
            assert!(portable(good), "{good:?}");
        }
        for bad in [
            &b"bad\xff.txt"[..],
            b"back\\slash",
            b"nl\nx",
            "bidi\u{202e}x".as_bytes(),
            "zw\u{200b}j".as_bytes(),
            "c1\u{85}".as_bytes(),
            b"",
        ] {
            assert!(!portable(bad), "{bad:?}");
        }
    }

    #[test]
    fn trackers_only_when_given_and_magnets_are_encoded() {
        let info = single_info(b"a", 0, 16384, &[]);
        let none = torrent(info.clone(), &[], &[]);
        assert!(!String::from_utf8_lossy(&none).contains("announce"));
        let two = torrent(info, &[], &["http://t1/a".into(), "udp://t2:1".into()]);
        let text = String::from_utf8_lossy(&two);
        assert!(
            text.contains(
                "8:announce11:http://t1/a13:announce-listll11:http://t1/ael10:udp://t2:1ee"
            ),
            "{text}"
        );
        let link = magnet(
            &[0xab; 20],
            b"ep 1.mkv",
            &["http://h:8000/ep%201.mkv".into()],
        );
        assert_eq!(
            link,
            format!(
                "magnet:?xt=urn:btih:{}&dn=ep%201.mkv&ws=http%3A%2F%2Fh%3A8000%2Fep%25201.mkv",
                "ab".repeat(20)
            )
        );
    }
}
