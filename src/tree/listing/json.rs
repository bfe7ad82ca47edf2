//! A listing as JSON (`{"path", "archives", "metalink", "torrent", "entries": [{"name", "type",
//! "size", "modified", "sha256", "url", "meta4", "torrent", "magnet"}]}`), written entry by
//! entry. Pure.

use serde::Serialize;

use super::{Entry, Kind, Magnet, Page, display, href, rfc3339};

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
    /// The entry's Metalink (files and folders, when digests are on).
    #[serde(skip_serializing_if = "Option::is_none")]
    meta4: Option<String>,
    /// The entry's torrent (files and folders, when digests are on).
    #[serde(skip_serializing_if = "Option::is_none")]
    torrent: Option<String>,
    /// Its magnet link: `null` until known; absent when none is offered.
    #[serde(skip_serializing_if = "Option::is_none")]
    magnet: Option<Option<String>>,
}

/// The JSON listing: `{"path": "/sub/", "archives": {"tar": "/sub/sub.tar", "zip": …},
/// "entries": [{"name", "type", "size" (files only),
/// "modified" (RFC 3339 UTC), "sha256" (hex or null), "url"}]}`. A name that is not UTF-8 is
/// shown lossily; its `url` has the exact bytes. The whole document; a response renders it part
/// by part ([`head`], a [`row_into`] per entry, [`tail`]).
pub fn json(page: &Page<'_>) -> String {
    let base = page.url_path();
    let estimate = 64
        + page
            .entries
            .iter()
            .map(|e| 200 + 4 * e.name.len())
            .sum::<usize>();
    let mut out = String::with_capacity(estimate);
    head(page, &mut out);
    for (i, entry) in page.entries.iter().enumerate() {
        row_into(&base, entry, page.checksums, i == 0, &mut out);
    }
    tail(&mut out);
    out
}

/// `{"path":…,"archives":…,"entries":[`.
pub fn head(page: &Page<'_>, out: &mut String) {
    let base = page.url_path();
    let head = JsonListing {
        path: &base,
        archives: page
            .archive_urls()
            .map(|(tar, zip)| JsonArchives { tar, zip }),
        metalink: page.metalink_url(),
        torrent: page.torrent_url(),
    };
    // serde_json writes valid UTF-8 (names were made lossy first), and an object ends in `}`.
    let text = serde_json::to_string(&head).unwrap_or_else(|_| "{}".to_string());
    out.push_str(text.strip_suffix('}').unwrap_or("{"));
    out.push_str(if text == "{}" {
        "\"entries\":["
    } else {
        ",\"entries\":["
    });
}

/// One entry's object (after a comma unless it is the `first`). `base`: the directory's URL
/// path; `checksums`: digests are on (the entry has a Metalink).
pub fn row_into(base: &str, entry: &Entry, checksums: bool, first: bool, out: &mut String) {
    let row = JsonEntry {
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
        url: format!("{base}{}", href(entry)),
        meta4: (checksums && super::html::has_meta4(entry))
            .then(|| format!("{base}{}", super::html::meta4_href(entry))),
        torrent: checksums.then(|| format!("{base}{}", super::html::torrent_href(entry))),
        magnet: match &entry.magnet {
            Magnet::None => None,
            Magnet::Known(link) => Some(Some(link.clone())),
            Magnet::Pending(_) => Some(None),
        },
    };
    if !first {
        out.push(',');
    }
    out.push_str(&serde_json::to_string(&row).unwrap_or_else(|_| "{}".to_string()));
}

/// `]}` and a newline.
pub fn tail(out: &mut String) {
    out.push_str("]}\n");
}

#[derive(Serialize)]
struct JsonListing<'a> {
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    archives: Option<JsonArchives>,
    /// The folder's Metalink: every file below, piece by piece.
    #[serde(skip_serializing_if = "Option::is_none")]
    metalink: Option<String>,
    /// The folder's torrent: every file below, this server the web seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    torrent: Option<String>,
}

#[derive(Serialize)]
struct JsonArchives {
    tar: String,
    zip: Option<String>,
}
