//! A listing as JSON (`{"path", "entries": [{"name", "type", "size", "modified", "sha256",
//! "url"}]}`), written entry by entry. Pure.

use serde::Serialize;

use super::{Entry, Kind, Page, display, href, rfc3339};

/// The entries, serialized one by one as they are written (not collected first).
struct JsonEntries<'a> {
    base: &'a str,
    entries: &'a [Entry],
}

impl Serialize for JsonEntries<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.entries.iter().map(|entry| JsonEntry {
            name: display(&entry.name),
            kind: match entry.kind {
                Kind::Dir => "dir",
                Kind::File { .. } => "file",
            },
            size: match entry.kind {
                Kind::File { size } => Some(size),
                Kind::Dir => None,
            },
            modified: rfc3339(entry.modified),
            sha256: entry.sha256.map(|sum| crate::http::format::hex(&sum)),
            url: format!("{}{}", self.base, href(entry)),
        }))
    }
}

#[derive(Serialize)]
struct JsonEntry {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    modified: String,
    sha256: Option<String>,
    url: String,
}

/// The JSON listing: `{"path": "/sub/", "archives": {"tar": "/sub/sub.tar", "zip": …},
/// "entries": [{"name", "type", "size" (files only),
/// "modified" (RFC 3339 UTC), "sha256" (hex or null), "url"}]}`. A name that is not UTF-8 is
/// shown lossily; its `url` has the exact bytes.
pub fn json(page: &Page<'_>) -> String {
    let base = page.url_path();
    let listing = JsonListing {
        path: &base,
        archives: page
            .archive_urls()
            .map(|(tar, zip)| JsonArchives { tar, zip }),
        entries: JsonEntries {
            base: &base,
            entries: page.entries,
        },
    };
    let estimate = 64
        + page
            .entries
            .iter()
            .map(|e| 200 + 4 * e.name.len())
            .sum::<usize>();
    let mut text = Vec::with_capacity(estimate);
    if serde_json::to_writer(&mut text, &listing).is_err() {
        text = b"{}".to_vec();
    }
    text.push(b'\n');
    // serde_json writes valid UTF-8 (names were made lossy first).
    String::from_utf8(text).unwrap_or_default()
}

#[derive(Serialize)]
struct JsonListing<'a> {
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    archives: Option<JsonArchives>,
    entries: JsonEntries<'a>,
}

#[derive(Serialize)]
struct JsonArchives {
    tar: String,
    zip: Option<String>,
}
