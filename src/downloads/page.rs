//! Pure: the `/downloads` page of the `--metrics` listener — per file, the completed downloads
//! since the start and in total, and the transfers in flight with how much each client holds —
//! as HTML (no script: it reloads itself every few seconds; readable at phone width) and JSON.

use maud::{DOCTYPE, html};
use serde::Serialize;

use super::Counts;
use crate::text::human_size;

/// How often the HTML page reloads itself, in seconds.
pub const REFRESH_SECONDS: u32 = 5;
/// Files and transfers shown at most (the most downloaded files first); the JSON says how many
/// were left out.
pub const MAX_ROWS: usize = 1000;

/// One transfer in flight: who, what, how far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Live {
    pub client: String,
    pub path: String,
    /// Bytes of the file the client holds (its range's start plus what was sent since).
    pub held: u64,
    pub size: u64,
    pub connections: usize,
}

#[derive(Serialize)]
struct JsonFile<'a> {
    path: &'a str,
    since_start: u64,
    total: u64,
}

#[derive(Serialize)]
struct JsonPage<'a> {
    completed_since_start: u64,
    files: Vec<JsonFile<'a>>,
    /// Files past [`MAX_ROWS`], not listed.
    more_files: usize,
    transfers: &'a [Live],
}

/// `{"completed_since_start", "files": [{"path", "since_start", "total"}], "transfers":
/// [{"client", "path", "held", "size", "connections"}]}`.
pub fn json(counts: &[(String, Counts)], live: &[Live]) -> String {
    let page = JsonPage {
        completed_since_start: counts.iter().map(|(_, c)| c.since_start).sum(),
        more_files: counts.len().saturating_sub(MAX_ROWS),
        files: counts
            .iter()
            .take(MAX_ROWS)
            .map(|(path, c)| JsonFile {
                path,
                since_start: c.since_start,
                total: c.total,
            })
            .collect(),
        transfers: &live[..live.len().min(MAX_ROWS)],
    };
    let mut text = serde_json::to_string(&page).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

const STYLE: &str = "body{margin:0 auto;max-width:60rem;padding:.75rem;font:15px/1.4 system-ui,sans-serif}\
table{border-collapse:collapse;width:100%;table-layout:fixed}td,th{padding:.3rem;border-bottom:1px solid #ddd;\
text-align:left;overflow-wrap:anywhere}th.n,td.n{text-align:right;width:5.5rem}progress{width:100%}\
h1{font-size:1.2rem}h2{font-size:1rem;margin-top:1.5rem}.muted{color:#667}";

/// The HTML page.
pub fn html(counts: &[(String, Counts)], live: &[Live]) -> String {
    let since: u64 = counts.iter().map(|(_, c)| c.since_start).sum();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content=(REFRESH_SECONDS);
                title { "Downloads" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                h1 { "Downloads" }
                p.muted { (since) " completed since the start. A download counts once a client holds every byte of the file, however many connections and resumes it took." }
                h2 { "In progress" }
                @if live.is_empty() {
                    p.muted { "None." }
                } @else {
                    table.live {
                        thead { tr { th { "File" } th { "Client" } th.n { "Held" } } }
                        tbody {
                            @for row in live.iter().take(MAX_ROWS) {
                                tr {
                                    td { (row.path) br; progress value=(row.held) max=(row.size.max(1)) {} }
                                    td { (row.client) @if row.connections > 1 { " (" (row.connections) " connections)" } }
                                    td.n { (human_size(row.held)) " of " (human_size(row.size)) }
                                }
                            }
                        }
                    }
                }
                h2 { "Completed" }
                @if counts.is_empty() {
                    p.muted { "None yet." }
                } @else {
                    table.files {
                        thead { tr { th { "File" } th.n { "Since start" } th.n { "In total" } } }
                        tbody {
                            @for (path, c) in counts.iter().take(MAX_ROWS) {
                                tr { td { (path) } td.n { (c.since_start) } td.n { (c.total) } }
                            }
                        }
                    }
                    @if counts.len() > MAX_ROWS {
                        p.muted { "And " (counts.len() - MAX_ROWS) " more files." }
                    }
                }
            }
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_list_the_files_and_the_transfers_and_names_are_text() {
        let counts = vec![(
            "<b>x</b>.iso".to_string(),
            Counts {
                since_start: 2,
                total: 5,
            },
        )];
        let live = vec![Live {
            client: "10.0.0.1".into(),
            path: "big.iso".into(),
            held: 512,
            size: 1024,
            connections: 8,
        }];
        let page = html(&counts, &live);
        assert!(page.contains("&lt;b&gt;x&lt;/b&gt;.iso"), "{page}");
        assert!(
            page.contains("<progress value=\"512\" max=\"1024\">"),
            "{page}"
        );
        assert!(page.contains("http-equiv=\"refresh\""));
        assert!(page.contains("(8 connections)"));
        let json: serde_json::Value = serde_json::from_str(&json(&counts, &live)).unwrap();
        assert_eq!(json["completed_since_start"], 2);
        assert_eq!(json["files"][0]["total"], 5);
        assert_eq!(json["transfers"][0]["held"], 512);
    }
}
