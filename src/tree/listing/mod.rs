//! Pure: a directory's entries → its listing as HTML (for people, [`html`]), as JSON (for
//! scripts, [`json`]), its `SHA256SUMS` manifest and the sidecars' lines (for `sha256sum -c`,
//! [`sums`]), and the commands that fetch it whole ([`recipe`]). Here: the entries, their order,
//! and the page they are shown on.
//!
//! The HTML is written with maud, whose templates escape every interpolated value: a file named
//! `<img src=x onerror=alert(1)>` is text, by construction rather than by remembering to call an
//! escaper. Links are percent-encoded bytes (`format::url_path`), never raw names, so a name
//! cannot become a scheme, a query or markup. The page has no scripts and loads nothing else.

use std::time::SystemTime;

pub mod html;
pub mod json;
pub mod parts;
pub mod recipe;
pub mod sums;

pub use html::html;
pub use json::json;
pub use recipe::recipe;
pub use sums::{checksum_line, manifest};

use crate::digest::Sha256Digest;
use crate::http::format;

/// What a listing shows of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name's bytes (not necessarily UTF-8).
    pub name: Vec<u8>,
    pub kind: Kind,
    pub modified: SystemTime,
    /// Files only, once known.
    pub sha256: Option<Sha256Digest>,
    /// Its torrent's magnet link.
    pub magnet: Magnet,
}

/// A listed entry's magnet link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Magnet {
    /// None offered (no digests, or no absolute URL for the request).
    #[default]
    None,
    /// Known: a file's once its pieces are; a folder's once its torrent has been made for the
    /// files it holds now.
    Known(String),
    /// Not known yet: the link with an all-zero infohash, never shown (only its length is used,
    /// so an HTML row keeps its length when the link becomes known).
    Pending(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File { size: u64 },
}

/// Directories first, then files, each by name (bytewise, so the order is the same whatever
/// the locale, and the same as `SHA256SUMS`).
pub fn sort(entries: &mut [Entry]) {
    entries.sort_by(|a, b| {
        let rank = |e: &Entry| matches!(e.kind, Kind::File { .. });
        (rank(a), &a.name).cmp(&(rank(b), &b.name))
    });
}

/// The directory a listing is of.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    /// The directory's decoded path segments (empty for the root).
    pub segments: &'a [Vec<u8>],
    /// `http://host:port` as the client addressed us (for the copy-paste commands), if known.
    pub origin: Option<&'a str>,
    /// Sorted entries.
    pub entries: &'a [Entry],
    /// Digests are on: a SHA-256 column, a `SHA256SUMS` link and the check in the recipe.
    pub checksums: bool,
    /// The name that names this directory's archives (its own name; `None`: no archives).
    pub archive_name: Option<&'a [u8]>,
    /// What comes before the tree's paths in every URL: empty, or `/<secret>` (`--secret-path`)
    /// or `/<link token>` (`--signed-links`), without a trailing slash.
    pub mount: &'a str,
}

impl Page<'_> {
    /// The directory's URL path: `/` + each segment percent-encoded + `/`.
    pub fn url_path(&self) -> String {
        let segments = format::url_segments(self.segments.iter().map(Vec::as_slice));
        format!("{}{segments}/", self.mount)
    }

    /// The URL paths of this directory's archives: the tar, and the zip (which needs digests).
    pub fn archive_urls(&self) -> Option<(String, Option<String>)> {
        let name = self.archive_name?;
        let base = format!("{}{}", self.url_path(), &format::url_path(name)[1..]);
        let zip = self.checksums.then(|| format!("{base}.zip"));
        Some((format!("{base}.tar"), zip))
    }

    /// The folder's torrent (`<dir>/<dir name>.torrent`), when digests are on.
    pub fn torrent_url(&self) -> Option<String> {
        let name = self.archive_name.filter(|_| self.checksums)?;
        Some(format!(
            "{}{}.torrent",
            self.url_path(),
            &format::url_path(name)[1..]
        ))
    }

    /// The folder's Metalink (`<dir>/<dir name>.meta4`), when digests are on.
    pub fn metalink_url(&self) -> Option<String> {
        let name = self.archive_name.filter(|_| self.checksums)?;
        Some(format!(
            "{}{}.meta4",
            self.url_path(),
            &format::url_path(name)[1..]
        ))
    }

    pub(super) fn has_files(&self) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e.kind, Kind::File { .. }))
    }
}

/// An entry's link, relative to its directory's URL: the percent-encoded name (and `/` for a
/// directory).
pub(super) fn href(entry: &Entry) -> String {
    let mut link = format::url_path(&entry.name)[1..].to_string();
    if entry.kind == Kind::Dir {
        link.push('/');
    }
    link
}

pub(super) fn display(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// RFC 3339 in UTC to the second, e.g. `2026-12-02T05:38:07Z`. Times before 1970 are written
/// as its first second and times after 9999 as its last (RFC 3339 has four digits for the year;
/// `humantime` refuses more, and a file's mtime can be any 64-bit time), as `Last-Modified` is.
pub fn rfc3339(time: SystemTime) -> String {
    /// 9999-12-31T23:59:59Z.
    const LAST: std::time::Duration = std::time::Duration::from_secs(253_402_300_799);
    let clamped = time.clamp(SystemTime::UNIX_EPOCH, SystemTime::UNIX_EPOCH + LAST);
    humantime::format_rfc3339_seconds(clamped).to_string()
}

#[cfg(test)]
pub(super) mod tests {
    proptest::proptest! {
        /// Any modification time a file system can hold formats (no panic), as 20 characters,
        /// and so does every row of both listing forms.
        #[test]
        fn any_time_formats_and_lists(secs in proptest::prelude::any::<i64>(), nanos in 0u32..1_000_000_000) {
            let time = if secs >= 0 {
                std::time::UNIX_EPOCH.checked_add(std::time::Duration::new(secs as u64, nanos))
            } else {
                std::time::UNIX_EPOCH.checked_sub(std::time::Duration::from_secs(secs.unsigned_abs()))
            };
            let Some(time) = time else { return Ok(()) };
            let text = rfc3339(time);
            proptest::prop_assert_eq!(text.len(), 20, "{}", text);
            let entries = [Entry { name: b"f".to_vec(), kind: Kind::File { size: 1 }, modified: time, sha256: None, magnet: Magnet::None }];
            let page = Page { segments: &[], origin: None, entries: &entries, checksums: true, archive_name: None, mount: "" };
            proptest::prop_assert!(html(&page).contains("9999") || secs < 253_402_300_800);
            proptest::prop_assert!(serde_json::from_str::<serde_json::Value>(&json(&page)).is_ok());
            // The other places a file's time is written: Last-Modified, tar and zip headers.
            let now = std::time::SystemTime::now();
            let date = crate::http::format::http_date(crate::http::format::last_modified(time, now));
            proptest::prop_assert_eq!(date.len(), 29);
            let member = crate::archive::Member {
                path: b"d/f".to_vec(), size: Some(1), mode: 0o644, mtime: (secs, nanos), crc32: 0,
            };
            for layout in [crate::archive::tar::layout(std::slice::from_ref(&member)),
                           crate::archive::zip::layout(std::slice::from_ref(&member))] {
                proptest::prop_assert!(layout.len() > 1);
            }
        }
    }

    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    pub(super) fn file(name: &[u8], size: u64, sum: Option<u8>) -> Entry {
        Entry {
            name: name.to_vec(),
            kind: Kind::File { size },
            modified: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            sha256: sum.map(|b| [b; 32]),
            magnet: Magnet::None,
        }
    }

    pub(super) fn dir(name: &[u8]) -> Entry {
        Entry {
            name: name.to_vec(),
            kind: Kind::Dir,
            modified: UNIX_EPOCH,
            sha256: None,
            magnet: Magnet::None,
        }
    }

    #[test]
    fn directories_come_first_then_files_each_by_name() {
        let mut entries = vec![
            file(b"b", 1, None),
            dir(b"z"),
            file(b"a", 1, None),
            dir(b"c"),
            file(b"B", 1, None),
        ];
        sort(&mut entries);
        let names: Vec<&[u8]> = entries.iter().map(|e| e.name.as_slice()).collect();
        assert_eq!(names, [&b"c"[..], b"z", b"B", b"a", b"b"]);
    }

    #[test]
    fn hostile_names_are_text_and_links_are_percent_encoded() {
        let entries = [
            file(b"<img src=x onerror=alert(1)>.txt", 5, None),
            file(b"a\"b'c&d", 5, None),
            file(b"javascript:alert(1)", 5, None),
            file(b"\xff\xfe.bin", 5, None),
        ];
        let page = Page {
            segments: &[b"<script>".to_vec()],
            origin: Some("http://127.0.0.1:8000"),
            entries: &entries,
            checksums: true,
            archive_name: None,
            mount: "",
        };
        let html = html(&page);
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;.txt"));
        assert!(html.contains("href=\"%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt\""));
        assert!(html.contains("href=\"javascript%3Aalert%281%29\""));
        assert!(html.contains("href=\"%FF%FE.bin\""));
        assert!(html.contains("a&quot;b'c&amp;d"));
        assert!(!html.contains("<script"), "no scripts at all");
        assert!(!html.contains("http://") || html.contains("http://127.0.0.1:8000/%3Cscript%3E/"));
    }

    #[test]
    fn the_html_has_a_parent_link_except_at_the_root_and_the_recipe() {
        let entries = [dir(b"sub"), file(b"a.iso", 3 << 20, Some(0xab))];
        let root = Page {
            segments: &[],
            origin: Some("http://h:1"),
            entries: &entries,
            checksums: true,
            archive_name: None,
            mount: "",
        };
        let html_root = html(&root);
        assert!(!html_root.contains("href=\"../\""));
        assert!(html_root.contains("href=\"sub/\""));
        assert!(html_root.contains("title=\"3145728 bytes\""));
        assert!(html_root.contains("3.0 MiB"));
        assert!(html_root.contains(&"ab".repeat(32)));
        assert!(html_root.contains(
            "wget -c -r -np -nH -R 'index.html*' --retry-on-http-error=503 'http://h:1/'\n\
             find . -name SHA256SUMS -execdir sha256sum -c {} +</pre>"
        ));
        let no_sums = Page {
            checksums: false,
            ..root
        };
        let plain = html(&no_sums);
        assert!(!plain.contains("SHA-256") && !plain.contains("SHA256SUMS"));
        let nested = Page {
            segments: &[b"a".to_vec(), b"b c".to_vec()],
            origin: Some("http://h:1"),
            entries: &entries,
            checksums: true,
            archive_name: None,
            mount: "",
        };
        assert!(html(&nested).contains("href=\"../\""));
        assert_eq!(
            recipe(&nested),
            "wget -c -r -np -nH --cut-dirs=1 -R 'index.html*' --retry-on-http-error=503 'http://h:1/a/b%20c/'\n\
             cd 'b c' && find . -name SHA256SUMS -execdir sha256sum -c {} +"
        );
    }

    #[test]
    fn a_listing_keeps_its_length_when_digests_become_known() {
        let link = |hash: &str, name: &str| {
            format!("magnet:?xt=urn:btih:{hash}&dn={name}&ws=http%3A%2F%2Fh%2F{name}&ws=m%26")
        };
        let with = |mut entry: Entry, magnet| {
            entry.magnet = magnet;
            entry
        };
        let zeros = "0".repeat(40);
        let pending = [
            file(b"a", 1, None),
            with(file(b"b", 2, None), Magnet::Pending(link(&zeros, "b"))),
            with(dir(b"d"), Magnet::Pending(link(&zeros, "d"))),
        ];
        let known = [
            file(b"a", 1, Some(3)),
            with(
                file(b"b", 2, Some(4)),
                Magnet::Known(link(&"ab".repeat(20), "b")),
            ),
            with(dir(b"d"), Magnet::Known(link(&"cd".repeat(20), "d"))),
        ];
        let page = |entries| Page {
            segments: &[],
            origin: None,
            entries,
            checksums: true,
            archive_name: None,
            mount: "",
        };
        assert_eq!(html::PENDING_TITLE.len(), 64);
        assert_eq!(html::PENDING_TEXT.len(), 64);
        assert_eq!(html(&page(&pending)).len(), html(&page(&known)).len());
        assert_ne!(html(&page(&pending)), html(&page(&known)));
    }

    #[test]
    fn archives_are_offered_as_forms_wget_does_not_follow_and_in_json() {
        let entries = [file(b"a", 1, None)];
        let page = Page {
            segments: &[b"my dir".to_vec()],
            origin: Some("http://h:1"),
            entries: &entries,
            checksums: true,
            archive_name: Some(b"my dir"),
            mount: "",
        };
        assert_eq!(
            page.archive_urls(),
            Some((
                "/my%20dir/my%20dir.tar".into(),
                Some("/my%20dir/my%20dir.zip".into())
            ))
        );
        let html = html(&page);
        assert!(html.contains("<form method=\"get\" action=\"/my%20dir/my%20dir.tar\">"));
        assert!(
            !html.contains("href=\"/my%20dir/my%20dir.tar\""),
            "no link for wget -r"
        );
        assert!(html.contains("curl -C - -O 'http://h:1/my%20dir/my%20dir.tar'"));
        let value: serde_json::Value = serde_json::from_str(&json(&page)).unwrap();
        assert_eq!(value["archives"]["tar"], "/my%20dir/my%20dir.tar");
        assert_eq!(value["archives"]["zip"], "/my%20dir/my%20dir.zip");
        let no_sums = Page {
            checksums: false,
            ..page
        };
        assert_eq!(
            no_sums.archive_urls().unwrap().1,
            None,
            "a zip needs CRC-32s"
        );
    }

    #[test]
    fn json_lists_every_field_and_urls_are_absolute() {
        let entries = [
            dir(b"s d"),
            file(b"x y.bin", 7, Some(1)),
            file(b"p", 0, None),
        ];
        let page = Page {
            segments: &[b"top".to_vec()],
            origin: None,
            entries: &entries,
            checksums: true,
            archive_name: None,
            mount: "",
        };
        let value: serde_json::Value = serde_json::from_str(&json(&page)).unwrap();
        assert_eq!(value["path"], "/top/");
        let list = value["entries"].as_array().unwrap();
        assert_eq!(list[0]["type"], "dir");
        assert_eq!(list[0]["url"], "/top/s%20d/");
        assert!(list[0].get("size").is_none());
        assert_eq!(list[1]["name"], "x y.bin");
        assert_eq!(list[1]["size"], 7);
        assert_eq!(list[1]["sha256"], "01".repeat(32));
        assert_eq!(list[1]["modified"], "2023-11-14T22:13:20Z");
        assert_eq!(list[1]["url"], "/top/x%20y.bin");
        assert!(list[2]["sha256"].is_null());
    }
}
