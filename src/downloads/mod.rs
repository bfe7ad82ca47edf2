//! Downloads counted by the bytes people actually hold: per (version, client, link) the bytes
//! handed to the transport ([`coverage`]), and a download counted once, when they cover the
//! whole version — through any number of connections, ranges and resumes. HEAD, 304, 416,
//! multipart answers and partial fetches add nothing. A client is an address (IPv6: its /64,
//! as for every per-client limit); under a signed link, the link is part of the key.
//!
//! What it feeds: the access log's `complete`, the `rangeserve_downloads_completed_total`
//! metric, `--on-complete` ([`hook`]), the `/downloads` page ([`page`]), and the `--downloads N`
//! links (a link whose N clients hold their copy answers others 410). Kept under the state
//! directory ([`store`]): a restart neither forgets a copy in progress nor counts one twice.
//!
//! Bounded: at most [`MAX_TRACKED`] (version, client, link) entries (the least recently sent to
//! is forgotten first; a forgotten copy in progress only starts over), [`MAX_FILES`] files in
//! the counts, and the store is compacted at start-up.

pub mod coverage;
pub mod hook;
pub mod page;
pub mod store;
mod version;

pub use version::Version;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use crate::digest::Digests;
use crate::representation::FileIdentity;
use coverage::Coverage;

/// (version, client, link) entries kept at most.
pub const MAX_TRACKED: usize = 100_000;
/// Ticks a copy's place in the eviction order may lag before it is moved.
const REORDER_AFTER: u64 = 1024;
/// Files whose counts are kept at most (the least recently completed go first).
pub const MAX_FILES: usize = 100_000;

/// Completed downloads since the start (the metric).
pub static COMPLETED: AtomicU64 = AtomicU64::new(0);

/// Whose copy of which version: the version (a file's stamp tag, an archive's tag), the client,
/// and the signed link's id (empty: none).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub version: Version,
    pub client: IpAddr,
    pub link: String,
}

#[derive(Debug, Clone)]
struct Copy {
    coverage: Coverage,
    /// When its first byte was sent (Unix milliseconds).
    first: u64,
    /// When it was last sent to (for eviction), a counter.
    touched: u64,
    complete: bool,
    /// Bytes covered when its progress was last kept in the store.
    kept: u64,
    /// Its key, shared with its place in the eviction order.
    key: Arc<Key>,
}

/// What a response's body will send of a version, known before it is sent: the copy's key, the
/// version's length and where this response starts in it (a 200: 0), and the facts a
/// completion reports.
#[derive(Debug, Clone)]
pub struct Counting {
    pub key: Key,
    pub len: u64,
    pub start: u64,
    pub file: Arc<FileIdentity>,
    pub digests: Option<Arc<Digests>>,
    pub limit: Option<(u64, u64)>,
}

impl Counting {
    /// The bytes of the version between `from` and `to` bytes into the response.
    pub fn range(&self, from: u64, to: u64) -> std::ops::Range<u64> {
        let end = self.start.saturating_add(to).min(self.len);
        self.start.saturating_add(from).min(end)..end
    }
}

/// A download that just completed.
#[derive(Debug, Clone, PartialEq)]
pub struct Completed {
    pub path: String,
    pub raw_path: Vec<u8>,
    pub client: IpAddr,
    pub bytes: u64,
    pub sha256: Option<String>,
    pub seconds: f64,
    pub link: String,
}

/// Per file: completed downloads since the start and in total (kept across restarts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub since_start: u64,
    pub total: u64,
}

#[derive(Debug, Default)]
struct State {
    copies: HashMap<Arc<Key>, Copy>,
    /// The copies by when they were last sent to (a tick of `clock`), oldest first.
    copy_order: BTreeMap<u64, Arc<Key>>,
    counts: HashMap<String, (Counts, u64)>,
    count_order: BTreeMap<u64, String>,
    /// Per download-limited link: the clients whose copy through it is complete.
    links: HashMap<String, HashSet<IpAddr>>,
    clock: u64,
}

/// Every copy in progress and every count; shared by all responses.
#[derive(Debug)]
pub struct Downloads {
    state: Mutex<State>,
    store: Option<store::Store>,
    hook: Option<hook::Hook>,
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Downloads {
    /// Counting in memory only.
    pub fn new() -> Downloads {
        Downloads {
            state: Mutex::default(),
            store: None,
            hook: None,
        }
    }

    /// Counting kept in `store` (its records read back), running `hook` on each completion.
    pub fn open(
        store: Option<(store::Store, Vec<store::Record>)>,
        hook: Option<hook::Hook>,
    ) -> Downloads {
        let mut downloads = Downloads::new();
        downloads.hook = hook;
        if let Some((store, records)) = store {
            let mut state = downloads.state();
            for record in records {
                state.replay(record);
            }
            drop(state);
            downloads.store = Some(store);
        }
        downloads
    }

    /// The counting a server starts with: kept in the state directory when there is one (one
    /// that cannot be used is a warning: the counts then last as long as the process), and
    /// `--on-complete`'s threads.
    pub fn start(
        state_dir: Option<&(std::path::PathBuf, bool)>,
        on_complete: Option<String>,
    ) -> std::io::Result<Downloads> {
        let store = match state_dir {
            Some((dir, _)) => match store::Store::open(dir) {
                Ok(opened) => Some(opened),
                Err(err) => {
                    tracing::warn!(
                        "cannot keep downloads in {}: {err} (they are counted until the process ends)",
                        dir.display()
                    );
                    None
                }
            },
            None => None,
        };
        let hook = on_complete.map(hook::Hook::start).transpose()?;
        Ok(Downloads::open(store, hook))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `range` of the version went out in a response; returns whether the copy is
    /// whole now, and the completion if this made it whole. `persist`: also keep the copy's
    /// progress in the store (a completion is always kept).
    pub fn record(
        &self,
        sent: &Counting,
        range: std::ops::Range<u64>,
        now: SystemTime,
        persist: bool,
    ) -> (bool, Option<Completed>) {
        let state = self.state();
        self.record_locked(state, sent, range, now, persist)
    }

    /// For a response through a download-limited link, before a frame is handed on: `None` if
    /// the client may not have it (the link's clients hold their copies and it is not one of
    /// them); else the frame's bytes are recorded at once — under the same lock as the check,
    /// so two clients finishing together cannot both pass the limit.
    pub fn admit(
        &self,
        sent: &Counting,
        range: std::ops::Range<u64>,
        now: SystemTime,
    ) -> Option<(bool, Option<Completed>)> {
        let state = self.state();
        if let Some((limit, _)) = sent.limit {
            let whole = state.copies.get(&sent.key).is_some_and(|c| c.complete);
            if !whole && state.spent(&sent.key.link, limit, sent.key.client) {
                return None;
            }
        }
        Some(self.record_locked(state, sent, range, now, false))
    }

    fn record_locked(
        &self,
        mut state: MutexGuard<'_, State>,
        sent: &Counting,
        range: std::ops::Range<u64>,
        now: SystemTime,
        persist: bool,
    ) -> (bool, Option<Completed>) {
        let step = state.with_copy(&sent.key, unix_ms(now), |copy| {
            if copy.complete {
                return None;
            }
            copy.coverage.add(range);
            let whole = copy.coverage.covers(sent.len);
            if whole {
                copy.complete = true;
            }
            // Kept only when it holds more than was kept (the same range again writes nothing).
            let keep = persist && !whole && copy.coverage.bytes() != copy.kept;
            if keep {
                copy.kept = copy.coverage.bytes();
            }
            let intervals = keep.then(|| copy.coverage.intervals().to_vec());
            Some((whole, copy.first, intervals))
        });
        let Some((whole, first, intervals)) = step else {
            return (true, None);
        };
        if !whole {
            drop(state);
            if let Some(intervals) = intervals {
                self.keep(store::Record::Coverage {
                    key: sent.key.clone(),
                    first,
                    intervals,
                });
            }
            return (false, None);
        }
        let path = String::from_utf8_lossy(&sent.file.rel).into_owned();
        let done = Completed {
            path: path.clone(),
            raw_path: sent.file.rel.clone(),
            client: sent.key.client,
            bytes: sent.len,
            sha256: match (&sent.digests, &sent.key.version) {
                (Some(digests), Version::File(stamp)) => digests
                    .known(stamp)
                    .map(|sum| crate::http::format::hex(&sum)),
                _ => None,
            },
            seconds: unix_ms(now).saturating_sub(first) as f64 / 1000.0,
            link: sent.key.link.clone(),
        };
        state.count(&path, &sent.key, sent.limit.is_some(), true);
        drop(state);
        COMPLETED.fetch_add(1, Ordering::Relaxed);
        if let Some((_, until)) = sent.limit {
            self.keep(store::Record::Used {
                link: sent.key.link.clone(),
                client: sent.key.client,
                until,
            });
        }
        self.keep(store::Record::Done {
            key: sent.key.clone(),
            path,
            at: unix_ms(now),
        });
        if let Some(hook) = &self.hook {
            hook.run(&done);
        }
        (true, Some(done))
    }

    /// Whether a link that allows `limit` completed downloads has no room for `client`: `limit`
    /// clients hold their copy through it and `client` is not one of them.
    pub fn link_spent(&self, link: &str, limit: u64, client: IpAddr) -> bool {
        self.state().spent(link, limit, client)
    }

    /// Completed downloads through a link.
    pub fn link_uses(&self, link: &str) -> usize {
        self.state().links.get(link).map_or(0, HashSet::len)
    }

    /// Every file's counts, most completed first.
    pub fn counts(&self) -> Vec<(String, Counts)> {
        let state = self.state();
        let mut all: Vec<(String, Counts)> = state
            .counts
            .iter()
            .map(|(p, (c, _))| (p.clone(), *c))
            .collect();
        all.sort_by(|a, b| b.1.total.cmp(&a.1.total).then_with(|| a.0.cmp(&b.0)));
        all
    }

    fn keep(&self, record: store::Record) {
        if let Some(store) = &self.store
            && let Err(err) = store.append(&record)
        {
            tracing::warn!(
                "cannot keep a download's progress in {}: {err}",
                store.path().display()
            );
        }
    }
}

impl Default for Downloads {
    fn default() -> Self {
        Downloads::new()
    }
}

impl State {
    fn spent(&self, link: &str, limit: u64, client: IpAddr) -> bool {
        self.links
            .get(link)
            .is_some_and(|done| done.len() as u64 >= limit && !done.contains(&client))
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// The copy of `key`, made if new (at the bound the least recently sent to is forgotten),
    /// marked as the most recently sent to. O(log n).
    /// Runs `f` on the copy of `key`, made if new (at the bound the least recently sent to is
    /// forgotten), and keeps it among the most recently sent to. One lookup for a copy seen
    /// before; its place in the order is moved only once it has drifted [`REORDER_AFTER`]
    /// ticks back (a busy copy is then never the oldest of [`MAX_TRACKED`]).
    fn with_copy<R>(&mut self, key: &Key, first: u64, f: impl FnOnce(&mut Copy) -> R) -> R {
        let clock = self.tick();
        if let Some(copy) = self.copies.get_mut(key) {
            if clock - copy.touched >= REORDER_AFTER {
                self.copy_order.remove(&copy.touched);
                copy.touched = clock;
                self.copy_order.insert(clock, Arc::clone(&copy.key));
            }
            return f(copy);
        }
        if self.copies.len() >= MAX_TRACKED
            && let Some((_, oldest)) = self.copy_order.pop_first()
        {
            self.copies.remove(&oldest);
        }
        let shared = Arc::new(key.clone());
        let mut copy = Copy {
            coverage: Coverage::default(),
            first,
            touched: clock,
            complete: false,
            kept: 0,
            key: Arc::clone(&shared),
        };
        let out = f(&mut copy);
        self.copy_order.insert(clock, Arc::clone(&shared));
        self.copies.insert(shared, copy);
        out
    }

    /// Counts one completed download of `path` (`now`: in this run, not read back), and the
    /// client among a limited link's.
    fn count(&mut self, path: &str, key: &Key, limited: bool, now: bool) {
        let clock = self.tick();
        if !self.counts.contains_key(path)
            && self.counts.len() >= MAX_FILES
            && let Some((_, oldest)) = self.count_order.pop_first()
        {
            self.counts.remove(&oldest);
        }
        let (counts, touched) = self.counts.entry(path.to_string()).or_default();
        self.count_order.remove(touched);
        counts.total += 1;
        if now {
            counts.since_start += 1;
        }
        *touched = clock;
        self.count_order.insert(clock, path.to_string());
        if limited {
            self.links
                .entry(key.link.clone())
                .or_default()
                .insert(key.client);
        }
    }

    fn replay(&mut self, record: store::Record) {
        match record {
            store::Record::Coverage {
                key,
                first,
                intervals,
            } => {
                self.with_copy(&key, first, |copy| {
                    if !copy.complete {
                        copy.coverage = Coverage::from_intervals(intervals);
                        copy.kept = copy.coverage.bytes();
                    }
                });
            }
            store::Record::Total { path, n } => {
                let clock = self.tick();
                let (counts, touched) = self.counts.entry(path.clone()).or_default();
                self.count_order.remove(touched);
                counts.total += n;
                *touched = clock;
                self.count_order.insert(clock, path);
            }
            store::Record::Done { key, path, .. } => {
                // A completion through any link keeps its client among the link's (stores
                // written before `used` records relied on it; an unlimited link is never
                // asked).
                let limited = !key.link.is_empty();
                self.count(&path, &key, limited, false);
                self.with_copy(&key, 0, |copy| copy.complete = true);
            }
            store::Record::Used { link, client, .. } => {
                self.links.entry(link).or_default().insert(client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Downloads {
        fn record_now(
            &self,
            (sent, range): (Counting, std::ops::Range<u64>),
            now: SystemTime,
        ) -> (bool, Option<Completed>) {
            self.record(&sent, range, now, true)
        }
    }

    fn sent(
        client: &str,
        range: std::ops::Range<u64>,
        link: &str,
    ) -> (Counting, std::ops::Range<u64>) {
        let counting = Counting {
            key: Key {
                version: Version::Archive("v1".into()),
                client: client.parse().unwrap(),
                link: link.into(),
            },
            len: 100,
            start: 0,
            file: Arc::new(FileIdentity::new(b"a/b.bin".to_vec(), b"b.bin")),
            digests: None,
            limit: (!link.is_empty()).then_some((1, u64::MAX)),
        };
        (counting, range)
    }

    #[test]
    fn a_copy_counts_once_when_whole_however_it_came() {
        let d = Downloads::new();
        let now = SystemTime::now();
        assert!(!d.record_now(sent("10.0.0.1", 0..40, ""), now).0);
        assert!(!d.record_now(sent("10.0.0.1", 60..100, ""), now).0);
        // Another client's bytes are not this one's.
        assert!(!d.record_now(sent("10.0.0.2", 40..60, ""), now).0);
        let (whole, done) = d.record_now(sent("10.0.0.1", 30..70, ""), now);
        assert!(whole);
        let done = done.unwrap();
        assert_eq!((done.bytes, done.path.as_str()), (100, "a/b.bin"));
        // Again: whole, never counted again.
        assert_eq!(
            d.record_now(sent("10.0.0.1", 0..100, ""), now),
            (true, None)
        );
        assert_eq!(
            d.counts()[0].1,
            Counts {
                since_start: 1,
                total: 1
            }
        );
    }

    #[test]
    fn a_link_is_spent_for_others_once_its_clients_hold_their_copies() {
        let d = Downloads::new();
        let now = SystemTime::now();
        let one: IpAddr = "10.0.0.1".parse().unwrap();
        let two: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(!d.link_spent("L", 1, one));
        d.record_now(sent("10.0.0.1", 0..100, "L"), now);
        assert!(!d.link_spent("L", 1, one), "its own client may fetch again");
        assert!(d.link_spent("L", 1, two));
        assert!(!d.link_spent("L", 2, two));
        assert_eq!(d.link_uses("L"), 1);
        // Without the link, the same client's copy is another key.
        assert!(!d.record_now(sent("10.0.0.1", 0..10, ""), now).0);
    }

    #[test]
    fn a_link_s_clients_come_back_from_completions_or_used_records() {
        let key = |client: &str| Key {
            version: Version::Archive("v".into()),
            client: client.parse().unwrap(),
            link: "L".into(),
        };
        let from_done = Downloads::default();
        from_done.state().replay(store::Record::Done {
            key: key("10.0.0.1"),
            path: "f".into(),
            at: 1,
        });
        let from_used = Downloads::default();
        from_used.state().replay(store::Record::Used {
            link: "L".into(),
            client: "10.0.0.1".parse().unwrap(),
            until: u64::MAX,
        });
        for d in [from_done, from_used] {
            assert!(d.link_spent("L", 1, "10.0.0.2".parse().unwrap()));
            assert!(!d.link_spent("L", 1, "10.0.0.1".parse().unwrap()));
        }
    }

    #[test]
    fn at_the_bound_the_least_recently_sent_copy_is_forgotten() {
        let d = Downloads::new();
        let now = SystemTime::now();
        for i in 0..(MAX_TRACKED as u32 + 5) {
            let ip = IpAddr::from(i.to_be_bytes());
            let (mut s, range) = sent("10.0.0.1", 0..1, "");
            s.key.client = ip;
            d.record(&s, range, now, true);
        }
        assert_eq!(d.state().copies.len(), MAX_TRACKED);
    }
}
