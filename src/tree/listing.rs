//! Pure: a directory's entries → its listing as HTML (for people), as JSON (for scripts), and
//! its `SHA256SUMS` manifest (for `sha256sum -c`).
//!
//! The HTML is written with maud, whose templates escape every interpolated value: a file named
//! `<img src=x onerror=alert(1)>` is text, by construction rather than by remembering to call an
//! escaper. Links are percent-encoded bytes (`format::url_path`), never raw names, so a name
//! cannot become a scheme, a query or markup. The page has no scripts and loads nothing else.

use std::time::SystemTime;

use maud::{Markup, PreEscaped, Render as _, html};
use serde::Serialize;

use crate::digest::Sha256Digest;
use crate::http::format;
use crate::text::{human_size, shell_quote};
use crate::tree::route::MANIFEST_NAME;

/// What a listing shows of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name's bytes (not necessarily UTF-8).
    pub name: Vec<u8>,
    pub kind: Kind,
    pub modified: SystemTime,
    /// Files only, once known.
    pub sha256: Option<Sha256Digest>,
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

    fn has_files(&self) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e.kind, Kind::File { .. }))
    }
}

/// An entry's link, relative to its directory's URL: the percent-encoded name (and `/` for a
/// directory).
fn href(entry: &Entry) -> String {
    let mut link = format::url_path(&entry.name)[1..].to_string();
    if entry.kind == Kind::Dir {
        link.push('/');
    }
    link
}

fn display(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// RFC 3339 in UTC to the second, e.g. `2026-12-02T05:38:07Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let clamped = time.max(SystemTime::UNIX_EPOCH);
    humantime::format_rfc3339_seconds(clamped).to_string()
}

/// The commands that fetch this directory resumably and check it: `wget -r` (rerun it to
/// resume), then `sha256sum -c` of every `SHA256SUMS` below. `--cut-dirs` makes wget save the
/// tree under the directory's own name (or in the current directory for the root); `-R
/// 'index.html*'` drops the listings once read; `--retry-on-http-error=503` waits for a
/// manifest that is still being computed instead of skipping it.
pub fn recipe(page: &Page<'_>) -> String {
    let origin = page.origin.unwrap_or("http://HOST");
    let url = format!("{origin}{}", page.url_path());
    let depth = page.segments.len();
    let cut = if depth > 1 {
        format!(" --cut-dirs={}", depth - 1)
    } else {
        String::new()
    };
    let into = page
        .segments
        .last()
        .map(|name| format!("cd {} && ", shell_quote(&display(name))))
        .unwrap_or_default();
    let fetch = format!(
        "wget -c -r -np -nH{cut} -R 'index.html*' --retry-on-http-error=503 {}",
        shell_quote(&url)
    );
    if !page.checksums {
        return fetch;
    }
    format!("{fetch}\n{into}find . -name SHA256SUMS -execdir sha256sum -c {{}} +")
}

const STYLE: &str = "\
:root{color-scheme:light dark;--fg:#1d2125;--muted:#667;--line:#d8dde3;--bg:#fff;--hover:#f2f5f8;--link:#0b5cad}\
@media (prefers-color-scheme:dark){:root{--fg:#e4e6ea;--muted:#99a;--line:#333a42;--bg:#15181c;--hover:#1f242a;--link:#6cb2ff}}\
*{box-sizing:border-box}\
body{margin:0 auto;max-width:72rem;padding:1rem;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--fg);background:var(--bg)}\
h1{font-size:1.25rem;font-weight:600;margin:.25rem 0 .5rem;word-break:break-all}\
h1 a{color:inherit;text-decoration:none}h1 a:hover{text-decoration:underline}\
.summary{color:var(--muted);margin:0 0 1rem}\
a{color:var(--link)}\
table{width:100%;border-collapse:collapse;table-layout:auto}\
th{text-align:left;font-weight:600;color:var(--muted);font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;border-bottom:2px solid var(--line);padding:.4rem .5rem}\
td{border-bottom:1px solid var(--line);padding:.45rem .5rem;vertical-align:top}\
tr:hover td{background:var(--hover)}\
td.name{word-break:break-word}td.name a{text-decoration:none}td.name a:hover{text-decoration:underline}\
tr.dir td.name a{font-weight:600}\
td.size,th.size{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}\
td.time{white-space:nowrap;color:var(--muted);font-variant-numeric:tabular-nums}\
td.sum code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:var(--muted);display:inline-block;max-width:18ch;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;vertical-align:middle}\
td.sum code.queue{font:italic .85rem system-ui,sans-serif}\
section.recipe{margin-top:1.5rem;border:1px solid var(--line);border-radius:6px;padding:.75rem 1rem}\
section.recipe h2{font-size:1rem;margin:0 0 .5rem}\
section.recipe pre{margin:.25rem 0;padding:.6rem;overflow-x:auto;background:var(--hover);border-radius:4px;font:13px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre}\
section.recipe p{margin:.25rem 0;color:var(--muted);font-size:.9rem}\
section.archives form{display:inline-block;margin:.25rem .5rem .25rem 0}\
section.archives button{font:inherit;padding:.35rem .8rem;border:1px solid var(--line);border-radius:4px;background:var(--hover);color:var(--link);cursor:pointer}\
footer{margin-top:1rem;color:var(--muted);font-size:.85rem}\
@media (max-width:640px){body{padding:.5rem;font-size:14px}th.sum,td.sum,th.time,td.time{display:none}td,th{padding:.4rem .3rem}}";

/// The HTML listing: title and breadcrumbs, the table (parent link except at the root; name,
/// size with the exact bytes in a tooltip, modification time, SHA-256), and the folder recipe.
pub fn html(page: &Page<'_>) -> String {
    let title = crate::tree::route::display(page.segments);
    let (dirs, files): (Vec<&Entry>, Vec<&Entry>) =
        page.entries.iter().partition(|e| e.kind == Kind::Dir);
    let total: u64 = files
        .iter()
        .map(|e| match e.kind {
            Kind::File { size } => size,
            Kind::Dir => 0,
        })
        .sum();
    // The rows are most of a large listing: write them into one buffer sized up front, so a
    // 100,000-entry page costs its own size and not the doublings of a growing string.
    let estimate = 8192
        + page
            .entries
            .iter()
            .map(|e| 360 + 4 * e.name.len())
            .sum::<usize>();
    let mut out = String::with_capacity(estimate);
    out.push_str("<!DOCTYPE html><html lang=\"en\">");
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { "Index of " (title) }
            style { (PreEscaped(STYLE)) }
        }
    }
    .render_to(&mut out);
    out.push_str("<body>");
    html! {
        h1 {
            "Index of "
            a href=(format!("{}/", page.mount)) { "/" }
            @for (i, segment) in page.segments.iter().enumerate() {
                a href=(breadcrumb(page.mount, page.segments, i)) { (display(segment)) } "/"
            }
        }
        p.summary {
            (count(dirs.len(), "folder")) ", " (count(files.len(), "file"))
            @if !files.is_empty() { ", " (human_size(total)) }
        }
    }
    .render_to(&mut out);
    // Fixed markup, nothing interpolated.
    out.push_str(
        "<table><thead><tr><th class=\"name\">Name</th><th class=\"size\">Size</th>\
         <th class=\"time\">Modified (UTC)</th>",
    );
    if page.checksums {
        out.push_str("<th class=\"sum\">SHA-256</th>");
    }
    out.push_str("</tr></thead><tbody>");
    if !page.segments.is_empty() {
        html! {
            tr.up {
                td.name { a href="../" { "../" } } td.size {} td.time {}
                @if page.checksums { td.sum {} }
            }
        }
        .render_to(&mut out);
    }
    for entry in page.entries {
        row(entry, page.checksums).render_to(&mut out);
    }
    out.push_str("</tbody></table>");
    if let Some((tar, zip)) = page.archive_urls() {
        archive_section(page, &tar, zip.as_deref()).render_to(&mut out);
    }
    html! {
        @if !page.entries.is_empty() {
            section.recipe {
                h2 { "Download this folder, resumably" }
                @if page.checksums {
                    p { "Run it again after an interruption: every file resumes where it stopped. Then prove every file whole:" }
                } @else {
                    p { "Run it again after an interruption: every file resumes where it stopped." }
                }
                pre { (recipe(page)) }
            }
        }
        footer {
            @if page.checksums && page.has_files() {
                a href=(display(MANIFEST_NAME)) { "SHA256SUMS" } " · "
            }
            "JSON for scripts: this URL with ?format=json · rangeserve " (env!("CARGO_PKG_VERSION"))
        }
    }
    .render_to(&mut out);
    out.push_str("</body></html>");
    out
}

/// "This folder as one file": a button per archive, as a GET form, which browsers follow and
/// `wget -r` does not (it would fetch the whole folder a second time), and the commands with the
/// full URLs.
fn archive_section(page: &Page<'_>, tar: &str, zip: Option<&str>) -> Markup {
    let origin = page.origin.unwrap_or("http://HOST");
    let name = page.archive_name.map(display).unwrap_or_default();
    html! {
        section.recipe.archives {
            h2 { "Or as one file, resumable too" }
            p { "An uncompressed archive of everything below, with an exact length: any client resumes it." }
            form method="get" action=(tar) { button type="submit" { (name) ".tar" } }
            @if let Some(zip) = zip {
                form method="get" action=(zip) { button type="submit" { (name) ".zip" } }
            }
            pre {
                "curl -C - -O " (shell_quote(&format!("{origin}{tar}")))
                @if let Some(zip) = zip { "\nwget -c " (shell_quote(&format!("{origin}{zip}"))) }
            }
        }
    }
}

fn breadcrumb(mount: &str, segments: &[Vec<u8>], upto: usize) -> String {
    let segments = format::url_segments(segments[..=upto].iter().map(Vec::as_slice));
    format!("{mount}{segments}/")
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// What a pending digest's cell says, padded to a digest's 64 characters (see [`sum_cell`]).
const PENDING_TITLE: &str = "being computed: reload the page in a moment to see it           ";
const PENDING_TEXT: &str = "pending                                                         ";

/// The SHA-256 cell. Known or pending, it has the same length in bytes, so a listing's length
/// does not change when digests become known: `wget -c -r` run again sends `Range: bytes=LEN-`
/// for each `index.html` it kept, and when the length is the same it takes the listing as
/// complete and recurses; a longer one makes it refuse ("does not support continued downloads")
/// and stop descending there. (The padding is spaces, which HTML shows as one.)
fn sum_cell(sum: Option<&Sha256Digest>) -> Markup {
    match sum {
        Some(sum) => {
            let hex = crate::http::format::hex(sum);
            html! { code.known title=(hex) { (hex) } }
        }
        None => html! { code.queue title=(PENDING_TITLE) { (PENDING_TEXT) } },
    }
}

fn row(entry: &Entry, checksums: bool) -> Markup {
    let modified = rfc3339(entry.modified);
    let shown_time = modified
        .replacen('T', " ", 1)
        .trim_end_matches('Z')
        .to_string();
    let mut name = display(&entry.name);
    match entry.kind {
        Kind::Dir => {
            name.push('/');
            html! {
                tr.dir {
                    td.name { a href=(href(entry)) { (name) } }
                    td.size { "—" }
                    td.time { time datetime=(modified) { (shown_time) } }
                    @if checksums { td.sum {} }
                }
            }
        }
        Kind::File { size } => html! {
            tr.file {
                td.name { a href=(href(entry)) { (name) } }
                td.size title=(format!("{size} bytes")) { (human_size(size)) }
                td.time { time datetime=(modified) { (shown_time) } }
                @if checksums { td.sum { (sum_cell(entry.sha256.as_ref())) } }
            }
        },
    }
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
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn file(name: &[u8], size: u64, sum: Option<u8>) -> Entry {
        Entry {
            name: name.to_vec(),
            kind: Kind::File { size },
            modified: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            sha256: sum.map(|b| [b; 32]),
        }
    }

    fn dir(name: &[u8]) -> Entry {
        Entry {
            name: name.to_vec(),
            kind: Kind::Dir,
            modified: UNIX_EPOCH,
            sha256: None,
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
        let pending = [file(b"a", 1, None), file(b"b", 2, None)];
        let known = [file(b"a", 1, Some(3)), file(b"b", 2, Some(4))];
        let page = |entries| Page {
            segments: &[],
            origin: None,
            entries,
            checksums: true,
            archive_name: None,
            mount: "",
        };
        assert_eq!(PENDING_TITLE.len(), 64);
        assert_eq!(PENDING_TEXT.len(), 64);
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
