//! The downloads kept across restarts: `downloads-v1` under the state directory, one line per
//! record, appended (one `write` each) as copies grow and complete. A line counts only if it is
//! whole (ends in a newline) and well formed, so a write torn by a crash costs that record and
//! nothing else (as the digest store does). At start-up the file is compacted (write, sync,
//! rename): the last coverage of each copy still in progress, the completions, and the older
//! completions folded into per-file totals.
//!
//! Lines (fields hex-encoded where they could hold spaces):
//! `cov VERSION CLIENT LINK FIRST_MS A-B,C-D`, `done VERSION CLIENT LINK PATH AT_MS`,
//! `total PATH N` (LINK is `-` for none).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::Key;
use crate::http::format::hex;

pub const FILE_NAME: &str = "downloads-v1";
/// Completions kept one by one at compaction; older ones become per-file totals.
pub const KEPT_COMPLETIONS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Coverage {
        key: Key,
        first: u64,
        intervals: Vec<std::ops::Range<u64>>,
    },
    Done {
        key: Key,
        path: String,
        at: u64,
    },
    /// Completions of a file folded together (no client, no version).
    Total {
        path: String,
        n: u64,
    },
    /// A client holds its copy through a download-limited link valid until `until` (Unix
    /// seconds): kept, never folded, until the link expires.
    Used {
        link: String,
        client: IpAddr,
        until: u64,
    },
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn unhex_text(text: &str) -> Option<String> {
    String::from_utf8(unhex(text)?).ok()
}

fn link_field(link: &str) -> &str {
    if link.is_empty() { "-" } else { link }
}

/// One record as its line (with the newline).
pub fn format_line(record: &Record) -> String {
    match record {
        Record::Coverage {
            key,
            first,
            intervals,
        } => {
            let ranges: Vec<String> = intervals
                .iter()
                .map(|r| format!("{}-{}", r.start, r.end))
                .collect();
            format!(
                "cov {} {} {} {first} {}\n",
                hex(key.version.text().as_bytes()),
                key.client,
                link_field(&key.link),
                ranges.join(",")
            )
        }
        Record::Done { key, path, at } => format!(
            "done {} {} {} {} {at}\n",
            hex(key.version.text().as_bytes()),
            key.client,
            link_field(&key.link),
            hex(path.as_bytes())
        ),
        Record::Total { path, n } => format!("total {} {n}\n", hex(path.as_bytes())),
        Record::Used {
            link,
            client,
            until,
        } => format!("used {link} {client} {until}\n"),
    }
}

/// A line (without its newline) back, if well formed.
pub fn parse_line(line: &str) -> Option<Record> {
    let fields: Vec<&str> = line.split(' ').collect();
    let key = |version: &str, client: &str, link: &str| -> Option<Key> {
        Some(Key {
            version: super::Version::parse(&unhex_text(version)?)?,
            client: client.parse::<IpAddr>().ok()?,
            link: if link == "-" {
                String::new()
            } else {
                link.to_string()
            },
        })
    };
    match fields.as_slice() {
        ["cov", version, client, link, first, ranges] => {
            let mut intervals = Vec::new();
            for range in ranges.split(',').filter(|r| !r.is_empty()) {
                let (a, b) = range.split_once('-')?;
                let (a, b) = (a.parse().ok()?, b.parse().ok()?);
                if a > b {
                    return None;
                }
                intervals.push(a..b);
            }
            Some(Record::Coverage {
                key: key(version, client, link)?,
                first: first.parse().ok()?,
                intervals,
            })
        }
        ["done", version, client, link, path, at] => Some(Record::Done {
            key: key(version, client, link)?,
            path: unhex_text(path)?,
            at: at.parse().ok()?,
        }),
        ["total", path, n] => Some(Record::Total {
            path: unhex_text(path)?,
            n: n.parse().ok()?,
        }),
        ["used", link, client, until] => Some(Record::Used {
            link: link.to_string(),
            client: client.parse().ok()?,
            until: until.parse().ok()?,
        }),
        _ => None,
    }
}

/// The records of a file's text (whole, well-formed lines only) and how many lines were not.
pub fn parse(text: &[u8]) -> (Vec<Record>, usize) {
    let mut records = Vec::new();
    let mut waste = 0;
    let complete = match text.iter().rposition(|&b| b == b'\n') {
        Some(end) => &text[..=end],
        None => &text[..0],
    };
    if complete.len() < text.len() {
        waste += 1;
    }
    for line in complete.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match std::str::from_utf8(line).ok().and_then(parse_line) {
            Some(record) => records.push(record),
            None => waste += 1,
        }
    }
    (records, waste)
}

/// Compacted (at Unix second `now`): the last coverage of each copy that did not complete (the
/// newest [`super::MAX_TRACKED`]: no more are ever read back), the last [`KEPT_COMPLETIONS`]
/// completions, the older ones (and earlier totals) as one total per file (the largest
/// [`super::MAX_FILES`]), and every unexpired use of a download-limited link.
pub fn compact(records: Vec<Record>, now: u64) -> Vec<Record> {
    let mut coverage: HashMap<Key, (usize, Record)> = HashMap::new();
    let mut done = Vec::new();
    let mut totals: HashMap<String, u64> = HashMap::new();
    let mut used: HashMap<(String, IpAddr), u64> = HashMap::new();
    for (i, record) in records.into_iter().enumerate() {
        match record {
            Record::Coverage { ref key, .. } => {
                coverage.insert(key.clone(), (i, record));
            }
            Record::Done { ref key, .. } => {
                coverage.remove(key);
                done.push(record);
            }
            Record::Total { path, n } => *totals.entry(path).or_default() += n,
            Record::Used {
                link,
                client,
                until,
            } => {
                if until >= now {
                    used.insert((link, client), until);
                }
            }
        }
    }
    let folded = done.len().saturating_sub(KEPT_COMPLETIONS);
    for record in done.drain(..folded) {
        if let Record::Done { path, .. } = record {
            *totals.entry(path).or_default() += 1;
        }
    }
    let mut totals: Vec<(String, u64)> = totals.into_iter().collect();
    totals.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    totals.truncate(super::MAX_FILES);
    let mut out: Vec<Record> = totals
        .into_iter()
        .map(|(path, n)| Record::Total { path, n })
        .collect();
    let mut used: Vec<((String, IpAddr), u64)> = used.into_iter().collect();
    used.sort();
    out.extend(
        used.into_iter()
            .map(|((link, client), until)| Record::Used {
                link,
                client,
                until,
            }),
    );
    out.extend(done);
    let mut pending: Vec<(usize, Record)> = coverage.into_values().collect();
    pending.sort_by_key(|(i, _)| *i);
    let skip = pending.len().saturating_sub(super::MAX_TRACKED);
    out.extend(pending.into_iter().skip(skip).map(|(_, r)| r));
    out
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Lines appended past those a compaction left, at least, before the next compaction while
/// running (then: as many as it left, so the file stays within about twice what is live).
pub const COMPACT_AFTER: u64 = 100_000;

/// The open file.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    file: File,
    /// Lines the last compaction left, and lines appended since.
    kept: u64,
    appended: u64,
    /// A compaction is running (on a thread of its own).
    compacting: bool,
}

/// Writes `records` then `tail` (raw lines) to a temporary file in `path`'s folder, syncs it,
/// renames it over `path` and syncs the folder.
fn rewrite(path: &Path, records: &[Record], tail: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = dir.join(format!("{FILE_NAME}.tmp.{}", std::process::id()));
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)?;
    let text: String = records.iter().map(format_line).collect();
    file.write_all(text.as_bytes())?;
    file.write_all(tail)?;
    file.sync_all()?;
    std::fs::rename(&temp, path)?;
    File::open(dir)?.sync_all()
}

fn read_from(path: &Path, from: u64) -> io::Result<Vec<u8>> {
    use std::io::{Read as _, Seek as _};
    let mut file = File::open(path)?;
    file.seek(io::SeekFrom::Start(from))?;
    let mut out = Vec::new();
    file.read_to_end(&mut out)?;
    Ok(out)
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

impl Store {
    /// Opens (creating) `downloads-v1` in `dir`, compacts it, and returns its records.
    pub fn open(dir: &Path) -> io::Result<(Store, Vec<Record>)> {
        std::fs::create_dir_all(dir)?;
        // Temporary files a crash left mid-compaction are waste.
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                if name
                    .to_string_lossy()
                    .starts_with(&format!("{FILE_NAME}.tmp."))
                {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let path = dir.join(FILE_NAME);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(err) => return Err(err),
        };
        let (records, waste) = parse(&text);
        let count = records.len();
        let records = compact(records, unix_now());
        if waste > 0 || records.len() < count {
            rewrite(&path, &records, &[])?;
        }
        let inner = Inner {
            file: open_append(&path)?,
            kept: records.len() as u64,
            appended: 0,
            compacting: false,
        };
        Ok((
            Store {
                path,
                inner: Arc::new(Mutex::new(inner)),
            },
            records,
        ))
    }

    /// Appends one record (one `write` of one line). Once the file has grown past
    /// [`COMPACT_AFTER`] lines and as many as the last compaction left, a thread compacts it
    /// while appends go on (only its final rewrite holds them).
    pub fn append(&self, record: &Record) -> io::Result<()> {
        let line = format_line(record);
        let mut inner = lock(&self.inner);
        inner.file.write_all(line.as_bytes())?;
        inner.appended += 1;
        if inner.appended > inner.kept.max(COMPACT_AFTER) && !inner.compacting {
            inner.compacting = true;
            let (path, shared) = (self.path.clone(), Arc::clone(&self.inner));
            let length = inner.file.metadata().map(|m| m.len());
            drop(inner);
            let spawned = std::thread::Builder::new()
                .name("downloads-compact".into())
                .spawn(move || compact_running(&path, &shared, length));
            if let Err(err) = spawned {
                let mut inner = lock(&self.inner);
                inner.compacting = false;
                inner.appended = 0;
                tracing::warn!("cannot compact {}: {err}", self.path.display());
            }
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|p| p.into_inner())
}

/// Compacts the first `length` bytes (whole lines: each append is one write of one line) while
/// appends go on; then, holding them, writes the result and what was appended meanwhile, and
/// reopens. A failure is logged, and tried again only after as many appends again.
fn compact_running(path: &Path, inner: &Mutex<Inner>, length: io::Result<u64>) {
    let result = (|| -> io::Result<u64> {
        let length = length?;
        let head = read_prefix(path, length)?;
        let records = compact(parse(&head).0, unix_now());
        let mut inner = lock(inner);
        let tail = read_from(path, length)?;
        rewrite(path, &records, &tail)?;
        inner.file = open_append(path)?;
        let lines = records.len() as u64 + tail.iter().filter(|&&b| b == b'\n').count() as u64;
        inner.kept = lines;
        Ok(lines)
    })();
    let mut inner = lock(inner);
    inner.compacting = false;
    inner.appended = 0;
    match result {
        Ok(lines) => tracing::debug!("compacted {} to {lines} lines", path.display()),
        Err(err) => tracing::warn!(
            "cannot compact {}: {err} (tried again after {COMPACT_AFTER} more lines)",
            path.display()
        ),
    }
}

fn read_prefix(path: &Path, length: u64) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut out = Vec::new();
    File::open(path)?.take(length).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(client: &str, link: &str) -> Key {
        Key {
            version: crate::downloads::Version::File(crate::fs::stamp::Stamp {
                dev: 1,
                ino: 2,
                size: 3,
                mtime: (-4, 5),
                ctime: (6, 7),
            }),
            client: client.parse().unwrap(),
            link: link.into(),
        }
    }

    #[test]
    fn records_round_trip_and_torn_or_damaged_lines_are_waste() {
        let records = [
            Record::Coverage {
                key: key("10.0.0.1", ""),
                first: 5,
                intervals: vec![0..10, 20..30],
            },
            Record::Done {
                key: key("2001:db8::", "abcd"),
                path: "a b/c\n.bin".into(),
                at: 9,
            },
            Record::Total {
                path: "x".into(),
                n: 3,
            },
        ];
        let mut text: String = records.iter().map(format_line).collect();
        assert_eq!(parse(text.as_bytes()), (records.to_vec(), 0));
        text.push_str("cov zz\ndone 00 1.2.3.4 - 61 1");
        let (back, waste) = parse(text.as_bytes());
        assert_eq!((back.len(), waste), (3, 2));
    }

    #[test]
    fn compaction_keeps_copies_in_progress_and_every_completion() {
        let cov = |client: &str, end: u64| Record::Coverage {
            key: key(client, ""),
            first: 1,
            intervals: std::iter::once(0..end).collect(),
        };
        let done = |client: &str| Record::Done {
            key: key(client, ""),
            path: "f".into(),
            at: 2,
        };
        let out = compact(
            vec![
                cov("10.0.0.1", 5),
                cov("10.0.0.2", 5),
                cov("10.0.0.1", 9),
                done("10.0.0.2"),
            ],
            0,
        );
        assert_eq!(out, vec![done("10.0.0.2"), cov("10.0.0.1", 9)]);
    }

    #[test]
    fn a_limited_link_s_clients_outlive_folding_until_the_link_expires() {
        let used = |client: &str, until: u64| Record::Used {
            link: "L".into(),
            client: client.parse().unwrap(),
            until,
        };
        let mut records = vec![used("10.0.0.1", 100), used("10.0.0.2", 5)];
        for i in 0..(KEPT_COMPLETIONS as u32 + 3) {
            records.push(Record::Done {
                key: Key {
                    version: crate::downloads::Version::Archive("\"t a g\"".into()),
                    client: std::net::IpAddr::from(i.to_be_bytes()),
                    link: String::new(),
                },
                path: "f".into(),
                at: 1,
            });
        }
        let out = compact(records, 10);
        assert!(out.contains(&used("10.0.0.1", 100)), "kept while valid");
        assert!(!out.contains(&used("10.0.0.2", 5)), "dropped once expired");
        assert!(out.contains(&Record::Total {
            path: "f".into(),
            n: 3
        }));
    }

    #[test]
    fn a_running_store_compacts_itself_when_it_has_grown() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        let cov = |end: u64| Record::Coverage {
            key: key("10.0.0.1", ""),
            first: 1,
            intervals: std::iter::once(0..end).collect(),
        };
        for end in 1..=(COMPACT_AFTER + 5) {
            store.append(&cov(end)).unwrap();
        }
        // On its own thread: a few lines once it is done (bounded wait).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let records = loop {
            let text = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
            let (records, waste) = parse(&text);
            assert_eq!(waste, 0);
            if records.len() < 10 {
                break records;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} lines",
                records.len()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert_eq!(records.last(), Some(&cov(COMPACT_AFTER + 5)));
        // Appends after it go on to the new file.
        store.append(&cov(COMPACT_AFTER + 6)).unwrap();
        let text = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(parse(&text).0.last(), Some(&cov(COMPACT_AFTER + 6)));
    }

    #[test]
    fn the_store_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let (store, records) = Store::open(dir.path()).unwrap();
        assert!(records.is_empty());
        let done = Record::Done {
            key: key("10.0.0.1", "L"),
            path: "f".into(),
            at: 1,
        };
        store.append(&done).unwrap();
        drop(store);
        let (_, records) = Store::open(dir.path()).unwrap();
        assert_eq!(records, vec![done]);
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic_the_loader(text in proptest::collection::vec(any::<u8>(), 0..400)) {
            let (records, _) = parse(&text);
            prop_assert!(records.len() <= text.len() / 8 + 1);
        }
    }
}
