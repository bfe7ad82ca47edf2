//! Transfers in flight, for the live view and the progress lines. Each large response body
//! registers here (a [`Handle`] it updates with the bytes it has sent: one atomic store per
//! frame); the connections of one client to one path are one [`Row`] — `aria2c -x 8` is one
//! line — whose progress is how much of the file that client now holds: where its earliest
//! range began (a resume from byte N starts at N) plus everything its connections have sent
//! since (their ranges are disjoint). Rates come from samples the viewer takes ([`Rates`]).
//!
//! [`rows`] and [`render_rows`] are pure (a snapshot and a clock reading in, text out).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::text::{Escaped, human_size};

/// Responses shorter than this are not tracked: they end before any view could show them,
/// and tracking costs a lock per response.
pub const TRACK_FROM: u64 = 1 << 20;

/// One response body in flight.
#[derive(Debug)]
pub struct Transfer {
    pub client: IpAddr,
    pub path: String,
    /// The whole file's length (the representation, not the range).
    pub file_len: u64,
    /// Where its range starts.
    pub start: u64,
    pub promised: u64,
    pub started: Instant,
    pub sent: AtomicU64,
    /// This response made the client's copy whole (or found it whole).
    pub complete: std::sync::atomic::AtomicBool,
}

/// The registry of transfers in flight.
#[derive(Debug, Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    active: HashMap<u64, Arc<Transfer>>,
    /// Per (client, path): connections open and when the first began, for the summary line.
    groups: HashMap<(IpAddr, String), Group>,
}

#[derive(Debug)]
struct Group {
    open: usize,
    began: Instant,
    sent: u64,
    file_len: u64,
    first_start: u64,
    complete: bool,
}

/// What a response body holds while it is tracked; deregisters when dropped.
#[derive(Debug)]
pub struct Handle {
    registry: &'static Registry,
    id: u64,
    transfer: Arc<Transfer>,
}

impl Handle {
    pub fn sent(&self, total: u64) {
        self.transfer.sent.store(total, Ordering::Relaxed);
    }

    /// The client's copy is whole (see `downloads`).
    pub fn complete(&self) {
        self.transfer.complete.store(true, Ordering::Relaxed);
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.registry.finish(self.id);
    }
}

/// The process's registry.
pub fn registry() -> &'static Registry {
    static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

/// What a finished group (all connections of one client to one path ended) leaves behind.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub client: IpAddr,
    pub path: String,
    pub sent: u64,
    pub held: u64,
    pub file_len: u64,
    pub took: Duration,
    /// The client holds every byte of the version (counted as a download).
    pub complete: bool,
}

impl Registry {
    pub fn start(&'static self, transfer: Transfer) -> Handle {
        let transfer = Arc::new(transfer);
        let mut inner = self.lock();
        let id = inner.next;
        inner.next += 1;
        inner.active.insert(id, Arc::clone(&transfer));
        let key = (transfer.client, transfer.path.clone());
        let group = inner.groups.entry(key).or_insert(Group {
            open: 0,
            began: transfer.started,
            sent: 0,
            file_len: transfer.file_len,
            first_start: transfer.start,
            complete: false,
        });
        group.open += 1;
        group.first_start = group.first_start.min(transfer.start);
        Handle {
            registry: self,
            id,
            transfer,
        }
    }

    fn finish(&self, id: u64) {
        let finished = {
            let mut inner = self.lock();
            let Some(transfer) = inner.active.remove(&id) else {
                return;
            };
            let key = (transfer.client, transfer.path.clone());
            let Some(group) = inner.groups.get_mut(&key) else {
                return;
            };
            group.open -= 1;
            group.sent += transfer.sent.load(Ordering::Relaxed);
            group.complete |= transfer.complete.load(Ordering::Relaxed);
            if group.open > 0 {
                return;
            }
            let Some(group) = inner.groups.remove(&key) else {
                return;
            };
            Finished {
                client: key.0,
                path: key.1,
                sent: group.sent,
                held: (group.first_start + group.sent).min(group.file_len),
                file_len: group.file_len,
                took: group.began.elapsed(),
                complete: group.complete,
            }
        };
        tracing::info!(target: "rangeserve::progress", "{}", summary(&finished));
    }

    /// The transfers in flight now.
    pub fn snapshot(&self) -> Vec<Snapshot> {
        self.lock()
            .active
            .values()
            .map(|t| Snapshot {
                client: t.client,
                path: t.path.clone(),
                file_len: t.file_len,
                start: t.start,
                sent: t.sent.load(Ordering::Relaxed),
                started: t.started,
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One transfer as seen at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub client: IpAddr,
    pub path: String,
    pub file_len: u64,
    pub start: u64,
    pub sent: u64,
    pub started: Instant,
}

/// One line of the view: one client's connections to one path.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub client: IpAddr,
    pub path: String,
    pub connections: usize,
    pub file_len: u64,
    /// How much of the file the client holds: its earliest range's start plus all sent since.
    pub held: u64,
    /// Bytes sent by these connections (for the rate).
    pub sent: u64,
    pub started: Instant,
}

/// Groups transfers into rows, ordered by client then path.
pub fn rows(transfers: &[Snapshot]) -> Vec<Row> {
    let mut groups: BTreeMap<(IpAddr, String), Row> = BTreeMap::new();
    for t in transfers {
        let row = groups
            .entry((t.client, t.path.clone()))
            .or_insert_with(|| Row {
                client: t.client,
                path: t.path.clone(),
                connections: 0,
                file_len: t.file_len,
                held: t.start,
                sent: 0,
                started: t.started,
            });
        row.connections += 1;
        row.held = row.held.min(t.start);
        row.sent += t.sent;
        row.started = row.started.min(t.started);
    }
    groups
        .into_values()
        .map(|mut row| {
            row.held = (row.held + row.sent).min(row.file_len);
            row
        })
        .collect()
}

/// Per-row rates from samples taken a few seconds apart.
#[derive(Debug, Default)]
pub struct Rates {
    samples: HashMap<(IpAddr, String), Vec<(Instant, u64)>>,
}

/// How far back a rate looks.
const RATE_WINDOW: Duration = Duration::from_secs(5);

impl Rates {
    /// Records the rows' byte counts at `now` and returns each row's rate in bytes per second
    /// (0 until there are two samples).
    pub fn update(&mut self, rows: &[Row], now: Instant) -> Vec<f64> {
        let keys: Vec<(IpAddr, String)> = rows.iter().map(|r| (r.client, r.path.clone())).collect();
        // O(rows): a set to look the current rows up in, not a scan per sample.
        let current: std::collections::HashSet<&(IpAddr, String)> = keys.iter().collect();
        self.samples.retain(|key, _| current.contains(key));
        rows.iter()
            .zip(keys.iter())
            .map(|(row, key)| {
                let samples = self.samples.entry(key.clone()).or_default();
                samples.push((now, row.sent));
                samples.retain(|(at, _)| now.duration_since(*at) <= RATE_WINDOW);
                match samples.first() {
                    Some(&(at, sent)) if now > at && row.sent >= sent => {
                        (row.sent - sent) as f64 / now.duration_since(at).as_secs_f64()
                    }
                    _ => 0.0,
                }
            })
            .collect()
    }
}

/// How much of a file a client holds, in percent (an empty file is held whole).
fn percent_held(held: u64, file_len: u64) -> f64 {
    if file_len == 0 {
        100.0
    } else {
        held as f64 * 100.0 / file_len as f64
    }
}

/// The text of one row, at most `width` characters: client, path, bar, percent, rate, ETA.
pub fn render_row(row: &Row, rate: f64, width: usize) -> String {
    let percent = percent_held(row.held, row.file_len);
    let eta = if rate > 0.0 {
        duration_text(Duration::from_secs_f64(
            (row.file_len.saturating_sub(row.held)) as f64 / rate,
        ))
    } else {
        "--:--".to_string()
    };
    let connections = if row.connections > 1 {
        format!(" ×{}", row.connections)
    } else {
        String::new()
    };
    let tail = format!(
        " {percent:5.1}% {}/s ETA {eta}{connections}",
        human_size(rate as u64)
    );
    let head = format!("{} {} ", row.client, Escaped(&row.path));
    let bar_width = width
        .saturating_sub(head.chars().count() + tail.chars().count() + 2)
        .min(30);
    let filled = (percent / 100.0 * bar_width as f64).round() as usize;
    let bar = format!(
        "[{}{}]",
        "#".repeat(filled.min(bar_width)),
        ".".repeat(bar_width - filled.min(bar_width))
    );
    truncate(&format!("{head}{bar}{tail}"), width)
}

/// The total line: transfers (connections), clients, aggregate rate, bytes sent since start.
pub fn render_total(rows: &[Row], rates: &[f64], sent_since_start: u64, width: usize) -> String {
    let connections: usize = rows.iter().map(|r| r.connections).sum();
    let mut clients: Vec<IpAddr> = rows.iter().map(|r| r.client).collect();
    clients.sort();
    clients.dedup();
    let rate: f64 = rates.iter().sum();
    truncate(
        &format!(
            "{} transfer(s), {} client(s), {}/s, {} sent since start",
            connections,
            clients.len(),
            human_size(rate as u64),
            human_size(sent_since_start)
        ),
        width,
    )
}

/// The summary a finished transfer leaves in the log.
pub fn summary(f: &Finished) -> String {
    let secs = f.took.as_secs_f64();
    let rate = if secs > 0.0 {
        f.sent as f64 / secs
    } else {
        0.0
    };
    format!(
        "done: {} {} — sent {} in {}, {}/s; holds {} of {} ({:.0}%), complete={}",
        f.client,
        Escaped(&f.path),
        human_size(f.sent),
        duration_text(f.took),
        human_size(rate as u64),
        human_size(f.held),
        human_size(f.file_len),
        percent_held(f.held, f.file_len),
        f.complete
    )
}

/// The periodic progress line (not on a terminal).
pub fn progress_line(row: &Row, rate: f64) -> String {
    format!(
        "progress: {} {} — {} of {} ({:.1}%), {}/s, {} connection(s)",
        row.client,
        Escaped(&row.path),
        human_size(row.held),
        human_size(row.file_len),
        percent_held(row.held, row.file_len),
        human_size(rate as u64),
        row.connections
    )
}

fn truncate(text: &str, width: usize) -> String {
    text.chars().take(width).collect()
}

/// `0:42`, `12:03`, `1:02:03`.
fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(client: &str, path: &str, start: u64, sent: u64) -> Snapshot {
        Snapshot {
            client: client.parse().unwrap(),
            path: path.to_string(),
            file_len: 1000,
            start,
            sent,
            started: Instant::now(),
        }
    }

    #[test]
    fn one_clients_connections_to_one_file_are_one_row() {
        // aria2c -x 4: four disjoint segments of one file.
        let transfers = [
            snap("10.0.0.1", "/f", 0, 100),
            snap("10.0.0.1", "/f", 250, 50),
            snap("10.0.0.1", "/f", 500, 70),
            snap("10.0.0.1", "/f", 750, 30),
            snap("10.0.0.2", "/f", 0, 10),
            snap("10.0.0.1", "/g", 0, 5),
        ];
        let rows = rows(&transfers);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (rows[0].path.as_str(), rows[0].connections, rows[0].held),
            ("/f", 4, 250)
        );
        assert_eq!((rows[1].path.as_str(), rows[1].connections), ("/g", 1));
        assert_eq!(rows[2].client, "10.0.0.2".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_resume_from_byte_n_starts_the_bar_at_n() {
        let rows = rows(&[snap("::1", "/f", 600, 0)]);
        assert_eq!(rows[0].held, 600);
        let text = render_row(&rows[0], 0.0, 100);
        assert!(text.contains(" 60.0%"), "{text}");
        let done = super::rows(&[snap("::1", "/f", 600, 500)]);
        assert_eq!(done[0].held, 1000, "never past the file");
    }

    #[test]
    fn rates_come_from_samples_in_the_window() {
        let mut rates = Rates::default();
        let t0 = Instant::now();
        let mut row = rows(&[snap("10.0.0.1", "/f", 0, 0)]).remove(0);
        assert_eq!(rates.update(std::slice::from_ref(&row), t0), vec![0.0]);
        row.sent = 500;
        let r = rates.update(std::slice::from_ref(&row), t0 + Duration::from_secs(2));
        assert!((r[0] - 250.0).abs() < 1e-9, "{r:?}");
        // A row that went away is forgotten.
        rates.update(&[], t0 + Duration::from_secs(3));
        assert!(rates.samples.is_empty());
    }

    #[test]
    fn rows_fit_the_width_and_say_the_eta() {
        let row = rows(&[snap(
            "192.168.100.200",
            "/a/very/long/path/name.iso",
            0,
            250,
        )])
        .remove(0);
        for width in [20, 60, 120] {
            let text = render_row(&row, 25.0, width);
            assert!(text.chars().count() <= width, "{width}: {text}");
        }
        let wide = render_row(&row, 25.0, 200);
        assert!(
            wide.contains("25.0%") && wide.contains("ETA 0:30") && wide.contains('#'),
            "{wide}"
        );
    }

    #[test]
    fn the_total_counts_connections_clients_and_bytes() {
        let rows = rows(&[
            snap("10.0.0.1", "/f", 0, 1),
            snap("10.0.0.1", "/f", 500, 1),
            snap("10.0.0.2", "/g", 0, 1),
        ]);
        let text = render_total(&rows, &[1024.0, 1024.0], 3 << 20, 200);
        assert_eq!(
            text,
            "3 transfer(s), 2 client(s), 2.0 KiB/s, 3.0 MiB sent since start"
        );
    }

    #[test]
    fn durations_are_clock_text() {
        assert_eq!(duration_text(Duration::from_secs(3723)), "1:02:03");
    }
}
