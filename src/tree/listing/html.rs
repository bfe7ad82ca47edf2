//! A listing as an HTML page: no scripts, nothing loaded from elsewhere, readable on a phone;
//! every name escaped by maud and every link percent-encoded bytes. Pure.

use maud::{Markup, PreEscaped, Render as _, html};

use super::{Entry, Kind, Magnet, Page, display, href, recipe, rfc3339};
use crate::digest::Sha256Digest;
use crate::http::format;
use crate::text::{human_size, shell_quote};
use crate::tree::route::MANIFEST_NAME;

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
form.meta4{display:inline;margin:0}form.meta4 button{font:inherit;font-size:.8em;padding:0 .3rem;border:1px solid var(--line);border-radius:3px;background:none;color:var(--link);cursor:pointer}\
.magnet{font-size:.8em}span.magnet{color:var(--muted)}\
section.archives button{font:inherit;padding:.35rem .8rem;border:1px solid var(--line);border-radius:4px;background:var(--hover);color:var(--link);cursor:pointer}\
footer{margin-top:1rem;color:var(--muted);font-size:.85rem}\
@media (max-width:640px){body{padding:.5rem;font-size:14px}th.sum,td.sum,th.time,td.time{display:none}td,th{padding:.4rem .3rem}}";

/// The HTML listing: title and breadcrumbs, the table (parent link except at the root; name,
/// size with the exact bytes in a tooltip, modification time, SHA-256), and the folder recipe.
/// The whole page; a response renders it part by part ([`head`], a [`row`] per entry, [`tail`]).
pub fn html(page: &Page<'_>) -> String {
    // The rows are most of a large listing: write them into one buffer sized up front, so a
    // 100,000-entry page costs its own size and not the doublings of a growing string.
    let estimate = 8192
        + page
            .entries
            .iter()
            .map(|e| 360 + 4 * e.name.len())
            .sum::<usize>();
    let mut out = String::with_capacity(estimate);
    head(page, &mut out);
    for entry in page.entries {
        row(entry, page.checksums).render_to(&mut out);
    }
    tail(page, &mut out);
    out
}

/// Everything before the rows: the title, the breadcrumbs, the summary, the table's head and
/// the parent link.
pub fn head(page: &Page<'_>, out: &mut String) {
    let title = crate::tree::route::display(page.segments);
    let (mut dirs, mut files, mut total) = (0usize, 0usize, 0u64);
    for entry in page.entries {
        match entry.kind {
            Kind::Dir => dirs += 1,
            Kind::File { size } => {
                files += 1;
                total += size;
            }
        }
    }
    out.push_str("<!DOCTYPE html><html lang=\"en\">");
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { "Index of " (title) }
            style { (PreEscaped(STYLE)) }
        }
    }
    .render_to(out);
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
            (count(dirs, "folder")) ", " (count(files, "file"))
            @if files > 0 { ", " (human_size(total)) }
        }
    }
    .render_to(out);
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
        .render_to(out);
    }
}

/// One entry's row.
pub fn row_into(entry: &Entry, checksums: bool, out: &mut String) {
    row(entry, checksums).render_to(out);
}

/// Everything after the rows: the archives, the recipe, the footer.
pub fn tail(page: &Page<'_>, out: &mut String) {
    out.push_str("</tbody></table>");
    if let Some((tar, zip)) = page.archive_urls() {
        archive_section(page, &tar, zip.as_deref()).render_to(out);
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
    .render_to(out);
    out.push_str("</body></html>");
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
            @if let Some(meta4) = page.metalink_url() {
                p { "Or file by file, every piece checked as it arrives (and fetched again if bad), from every mirror:" }
                form method="get" action=(meta4) { button type="submit" { (name) ".meta4" } }
                pre { "aria2c --follow-metalink=mem --retry-wait=5 -x 8 " (shell_quote(&format!("{origin}{meta4}"))) }
            }
            @if let Some(torrent) = page.torrent_url() {
                p { "Or as a torrent: peers share the load, this server is the seed that is always there:" }
                form method="get" action=(torrent) { button type="submit" { (name) ".torrent" } }
                pre { "aria2c --seed-time=0 " (shell_quote(&format!("{origin}{torrent}"))) }
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

/// The title of a row's Metalink link.
const META4_TITLE: &str = "Metalink: every piece checked as it arrives, from every mirror";

/// A row's Metalink as a GET form (a button): browsers follow it, `wget -r` does not, so a
/// recursive fetch does not also download a Metalink per file (nor stop on one still 503).
/// Nothing for a file whose name no Metalink can carry (it has none).
fn meta4_button(entry: &Entry) -> Markup {
    html! {
        @if has_meta4(entry) {
            form.meta4 method="get" action=(meta4_href(entry)) {
                button type="submit" title=(META4_TITLE) { "meta4" }
            }
        }
    }
}

/// A row's torrent (a GET form, as [`meta4_button`]) and its magnet link: a link once known,
/// else the same number of bytes saying it is not (see [`sum_cell`] on why the length stays).
fn torrent_cells(entry: &Entry) -> Markup {
    let torrent = html! {
        form.meta4 method="get" action=(torrent_href(entry)) {
            button type="submit" title=(TORRENT_TITLE) { "torrent" }
        }
    };
    match &entry.magnet {
        Magnet::None => torrent,
        Magnet::Known(link) => html! {
            (torrent) " " a.magnet href=(link) title=(MAGNET_TITLE) { "magnet" }
        },
        Magnet::Pending(shape) => {
            // `<a class="magnet" href="E" title="T">` is 2 bytes longer than
            // `<span class="magnet" title="P">` plus E and T, and the ends differ by 3.
            let escaped = html! { (shape) }.into_string().len();
            let width = escaped + MAGNET_TITLE.len() + 2;
            let title = format!("{MAGNET_PENDING:<width$}");
            html! { (torrent) " " span.magnet title=(title) { "magnet" } }
        }
    }
}

/// The title of a row's torrent button.
const TORRENT_TITLE: &str = "BitTorrent: this server is the web seed, peers share the load";
/// The title of a known magnet link.
const MAGNET_TITLE: &str = "magnet link (a torrent client finds the metadata from peers)";
/// The title of a magnet link not known yet.
const MAGNET_PENDING: &str = "magnet link: known once the pieces are (get the .torrent first)";

/// An entry's torrent, relative to its directory: `name.torrent`, `dir/dir.torrent`.
pub(super) fn torrent_href(entry: &Entry) -> String {
    let name = &format::url_path(&entry.name)[1..];
    match entry.kind {
        Kind::File { .. } => format!("{name}.torrent"),
        Kind::Dir => format!("{name}/{name}.torrent"),
    }
}

/// Whether the entry has a Metalink: every folder; a file whose name one can carry.
pub(super) fn has_meta4(entry: &Entry) -> bool {
    entry.kind == Kind::Dir || crate::tree::metalink::representable(&entry.name)
}

/// An entry's Metalink, relative to its directory: `name.meta4`, `dir/dir.meta4`.
pub(super) fn meta4_href(entry: &Entry) -> String {
    let name = &format::url_path(&entry.name)[1..];
    match entry.kind {
        Kind::File { .. } => format!("{name}.meta4"),
        Kind::Dir => format!("{name}/{name}.meta4"),
    }
}

/// What a pending digest's cell says, padded to a digest's 64 characters (see [`sum_cell`]).
pub(super) const PENDING_TITLE: &str =
    "being computed: reload the page in a moment to see it           ";
pub(super) const PENDING_TEXT: &str =
    "pending                                                         ";

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
                    @if checksums { td.sum { (meta4_button(entry)) " " (torrent_cells(entry)) } }
                }
            }
        }
        Kind::File { size } => html! {
            tr.file {
                td.name { a href=(href(entry)) { (name) } }
                td.size title=(format!("{size} bytes")) { (human_size(size)) }
                td.time { time datetime=(modified) { (shown_time) } }
                @if checksums {
                    td.sum {
                        (sum_cell(entry.sha256.as_ref())) " "
                        (meta4_button(entry)) " " (torrent_cells(entry))
                    }
                }
            }
        },
    }
}
