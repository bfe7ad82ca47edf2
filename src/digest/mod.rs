//! The SHA-256 of each version of each served file, for `Repr-Digest` (RFC 9530 §3), the
//! `<name>.sha256` sidecars and the `SHA256SUMS` manifests, so that a resumed download can be
//! proven whole.
//!
//! Hashing is lazy and bounded: a version is queued when a response, a sidecar, a listing or a
//! manifest first asks for it (a response or sidecar at the front of the queue, a listing's
//! files at the back), and one hashing thread works through the queue at the lowest CPU
//! priority, standing back while large responses stream (serving comes first). It reopens each
//! file through the root (so the kernel's guard applies) and reads with positioned reads.
//!
//! Each digest is keyed by the [`Stamp`] of the version it was computed for (device, inode,
//! size, mtime, ctime), and a response only ever looks it up by the stamp of the very handle it
//! streams from, so an old digest is never paired with a new version's bytes. If the stamp
//! changes while a file is hashed (written in place), the result is dropped. A newer version of
//! the file being hashed cancels that hash. With a [`store::Store`], digests survive restarts.
//!
//! In: file versions (stamps) and a way to reopen them; out: digests and the hashing's progress.
//! [`startup`] opens the store and starts the thread, [`watch`] hashes each new version of a
//! `--file` as it appears; the digest fields themselves are written by `http::digest_fields`.

pub mod folders;
pub mod pieces;
pub mod startup;
pub mod store;
mod thread;
pub mod watch;

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use hyper::header::HeaderValue;

use crate::fs::stamp::Stamp;
use store::{Store, Stored};

/// A SHA-256 digest.
pub type Sha256Digest = [u8; 32];

/// What one read of a file computes: its SHA-256 (for `Repr-Digest`, sidecars, manifests) and
/// its CRC-32 (for zip archives, which need it in their headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sums {
    pub sha256: Sha256Digest,
    pub crc32: u32,
}

/// Opens a queued file again for hashing, by its path relative to the root (blocking).
pub type Opener = Box<dyn Fn(&[u8]) -> std::io::Result<File> + Send + Sync>;

/// Where the file at a relative path is, absolutely (the store keys its lines by it).
pub type Locator = Box<dyn Fn(&[u8]) -> Option<PathBuf> + Send + Sync>;

/// Where a version's digest stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Known: the digest, and its `Repr-Digest` field value.
    Ready {
        sum: Sha256Digest,
        field: HeaderValue,
        /// The content `ETag` (`format::content_etag` of `sum`), made once per version.
        etag: String,
    },
    /// Queued or being computed: bytes done of the total, and an estimated hashing rate in bytes
    /// per second (0 when nothing has been measured yet).
    Hashing { done: u64, total: u64, rate: f64 },
}

/// A file to hash: the version asked for, where to find it, and its name for the log.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub stamp: Stamp,
    pub rel: Vec<u8>,
    pub name: String,
}

/// The digests of every version seen; shared by all requests and the hashing thread.
pub struct Digests {
    state: Mutex<State>,
    wake: Condvar,
    store: Option<Store>,
    open: Opener,
    locate: Locator,
    /// Folders' torrent pieces (see [`folders`]), made by a thread of their own.
    folders: Mutex<folders::Folders>,
    folders_wake: Condvar,
}

impl std::fmt::Debug for Digests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Digests")
            .field("store", &self.store)
            .finish()
    }
}

#[derive(Debug, Default)]
struct State {
    known: HashMap<Stamp, Known, StampHash>,
    /// The version of each path whose digest is known: when a newer one is hashed, the older
    /// digest is dropped, so `known` holds about one version per file served.
    latest: HashMap<PathBuf, Stamp>,
    queue: VecDeque<Wanted>,
    /// Versions taken from the queue that had changed too recently to be hashed, and when to
    /// try them again (at most one entry per queued stamp).
    deferred: Vec<(Instant, Wanted)>,
    /// The stamps in `queue` and `deferred`, so a version is queued once.
    queued: HashSet<Stamp, StampHash>,
    current: Option<Job>,
    /// The last hashing rate measured (for `Retry-After` of queued files).
    rate: f64,
}

/// A version's digests and the field values made from them once (every response sends them).
#[derive(Debug)]
struct Known {
    sums: Sums,
    field: HeaderValue,
    etag: String,
    /// Its pieces' SHA-256s (see [`pieces`]): made in the same read; after a restart read back
    /// from the store when first asked for.
    pieces: Option<Pieces>,
}

/// A version's piece hashes (SHA-256 and SHA-1), shared.
pub type Pieces = Arc<pieces::PieceHashes>;

impl Known {
    fn new(sums: Sums, pieces: Option<Pieces>) -> Known {
        Known {
            field: field_value(&sums.sha256),
            etag: crate::http::format::content_etag(&sums.sha256),
            sums,
            pieces,
        }
    }
}

/// Where a version's pieces stand.
#[derive(Debug, Clone, PartialEq)]
pub enum PiecesStatus {
    /// Known: the file's SHA-256 and its pieces' (see [`pieces::piece_length`]).
    Ready { sum: Sha256Digest, pieces: Pieces },
    /// Queued or being computed, as [`Status::Hashing`].
    Hashing { done: u64, total: u64, rate: f64 },
}

/// The maps keyed by version stamps hash them with [`StampHasher`]: SipHash cost ~500 instructions
/// per request here (callgrind), and a stamp is file metadata, not text a client sends.
type StampHash = std::hash::BuildHasherDefault<StampHasher>;

/// A multiply-rotate hasher (FxHash's step) over the stamp's integers.
#[derive(Debug, Default)]
struct StampHasher(u64);

impl std::hash::Hasher for StampHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(n.into());
    }
}

#[derive(Debug, Clone)]
struct Job {
    stamp: Stamp,
    rel: Vec<u8>,
    started: Instant,
    done: Arc<AtomicU64>,
    cancel: Arc<AtomicBool>,
}

impl Digests {
    /// Starts the hashing thread. `loaded` are digests from the store (if any).
    pub fn start(
        store: Option<Store>,
        loaded: HashMap<Stamp, Stored>,
        open: Opener,
        locate: Locator,
    ) -> std::io::Result<Arc<Digests>> {
        let mut state = State::default();
        for (stamp, stored) in loaded {
            if let Some(path) = stored.path {
                state.latest.insert(path, stamp);
            }
            state.known.insert(stamp, Known::new(stored.sums, None));
        }
        let digests = Arc::new(Digests {
            state: Mutex::new(state),
            wake: Condvar::new(),
            store,
            open,
            locate,
            folders: Mutex::default(),
            folders_wake: Condvar::new(),
        });
        let worker = Arc::clone(&digests);
        std::thread::Builder::new()
            .name("sha256".into())
            .spawn(move || worker.run())?;
        let worker = Arc::clone(&digests);
        std::thread::Builder::new()
            .name("folder-sha1".into())
            .spawn(move || worker.run_folders())?;
        Ok(digests)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State inconsistent (plain field writes).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Files waiting to be hashed.
    pub fn queue_len(&self) -> usize {
        self.state().queue.len()
    }

    /// The digest of this version, if known (queues nothing).
    pub fn known(&self, stamp: &Stamp) -> Option<Sha256Digest> {
        self.state().known.get(stamp).map(|known| known.sums.sha256)
    }

    /// The pieces of this version (blocking: they may be read back from the store). Unknown
    /// ones are queued first in line, as [`Digests::ensure`] does, and hashed again if the store
    /// lost them.
    pub fn pieces(&self, stamp: &Stamp, rel: &[u8]) -> PiecesStatus {
        let stored_sum = {
            let state = self.state();
            match state.known.get(stamp) {
                Some(Known {
                    sums,
                    pieces: Some(pieces),
                    ..
                }) => {
                    return PiecesStatus::Ready {
                        sum: sums.sha256,
                        pieces: Arc::clone(pieces),
                    };
                }
                Some(known) => Some(known.sums.sha256),
                None => None,
            }
        };
        if let (Some(sum), Some(store)) = (stored_sum, &self.store)
            && let Some(pieces) = store.pieces(&sum, stamp.size)
        {
            let pieces: Pieces = Arc::new(pieces);
            if let Some(known) = self.state().known.get_mut(stamp) {
                known.pieces = Some(Arc::clone(&pieces));
            }
            return PiecesStatus::Ready { sum, pieces };
        }
        match self.queue_first(stamp, rel) {
            Status::Hashing { done, total, rate } => PiecesStatus::Hashing { done, total, rate },
            Status::Ready { .. } => PiecesStatus::Hashing {
                done: 0,
                total: stamp.size,
                rate: self.rate(),
            },
        }
    }

    /// The pieces of this version if its digest is known (blocking: they may be read back from
    /// the store); queues nothing.
    pub fn known_pieces(&self, stamp: &Stamp) -> Option<Pieces> {
        let sum = {
            let state = self.state();
            let known = state.known.get(stamp)?;
            if let Some(pieces) = &known.pieces {
                return Some(Arc::clone(pieces));
            }
            known.sums.sha256
        };
        let pieces: Pieces = Arc::new(self.store.as_ref()?.pieces(&sum, stamp.size)?);
        if let Some(known) = self.state().known.get_mut(stamp) {
            known.pieces = Some(Arc::clone(&pieces));
        }
        Some(pieces)
    }

    /// Where this version stands; if unknown and not yet queued, it goes first in line. If an
    /// older version of the same file is being hashed, that is cancelled.
    /// (`rel` is where the root finds the file; no allocation unless it must be queued.)
    pub fn ensure(&self, stamp: &Stamp, rel: &[u8]) -> Status {
        {
            let state = self.state();
            if let Some(known) = state.known.get(stamp) {
                return Status::Ready {
                    sum: known.sums.sha256,
                    field: known.field.clone(),
                    etag: known.etag.clone(),
                };
            }
        }
        self.queue_first(stamp, rel)
    }

    /// Queues `stamp` first in line unless it is being hashed (then: its progress).
    fn queue_first(&self, stamp: &Stamp, rel: &[u8]) -> Status {
        let mut state = self.state();
        if let Some(job) = &state.current {
            if job.stamp == *stamp {
                let done = job.done.load(Ordering::Relaxed);
                let elapsed = job.started.elapsed().as_secs_f64().max(1e-3);
                return Status::Hashing {
                    done,
                    total: stamp.size,
                    rate: done as f64 / elapsed,
                };
            }
            if job.rel == rel {
                job.cancel.store(true, Ordering::Relaxed);
            }
        }
        if state.queued.insert(*stamp) {
            state.queue.push_front(Wanted {
                stamp: *stamp,
                rel: rel.to_vec(),
                name: String::from_utf8_lossy(rel).into_owned(),
            });
            self.wake.notify_one();
        }
        Status::Hashing {
            done: 0,
            total: stamp.size,
            rate: state.rate,
        }
    }

    /// The last hashing rate measured, in bytes per second (0 before the first large file).
    pub fn rate(&self) -> f64 {
        self.state().rate
    }

    /// The digests of many versions (a listing's files), in order; the unknown ones are queued
    /// at the back.
    pub fn lookup_all(&self, files: &[Wanted]) -> Vec<Option<Sums>> {
        let mut state = self.state();
        let mut pending = false;
        let sums = files
            .iter()
            .map(|wanted| {
                if let Some(Known { sums, .. }) = state.known.get(&wanted.stamp) {
                    return Some(*sums);
                }
                pending = true;
                let hashing = state
                    .current
                    .as_ref()
                    .is_some_and(|j| j.stamp == wanted.stamp);
                if !hashing && state.queued.insert(wanted.stamp) {
                    state.queue.push_back(wanted.clone());
                }
                None
            })
            .collect();
        if pending {
            self.wake.notify_one();
        }
        sums
    }
}

fn field_value(sum: &Sha256Digest) -> HeaderValue {
    HeaderValue::from_str(&crate::http::digest_fields::repr_digest_value(sum))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Seconds a client should wait before asking for the sidecar again (`Retry-After`): the
/// estimated time to finish, between 1 and 60.
pub fn retry_after(done: u64, total: u64, rate: f64) -> u64 {
    if rate <= 0.0 {
        return 1;
    }
    let remaining = total.saturating_sub(done) as f64 / rate;
    (remaining.ceil() as u64).clamp(1, 60)
}

#[cfg(test)]
mod tests {
    use super::thread::{HASH_READ_SIZE, hash_file};
    use super::*;
    use sha2::{Digest as _, Sha256};
    use std::io::Write;
    use std::time::Duration;

    #[test]
    fn retry_after_estimates_the_remaining_time_within_bounds() {
        assert_eq!(retry_after(0, 100, 0.0), 1);
        assert_eq!(retry_after(50, 100, 10.0), 5);
        assert_eq!(retry_after(0, 1 << 40, 1.0), 60);
        assert_eq!(retry_after(100, 100, 10.0), 1);
    }

    fn wait_ready(digests: &Digests, wanted: &Wanted) -> Sha256Digest {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Status::Ready { sum, .. } = digests.ensure(&wanted.stamp, &wanted.rel) {
                return sum;
            }
            assert!(Instant::now() < deadline, "never hashed");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn wanted_for(dir: &std::path::Path, name: &str) -> Wanted {
        let stat = rustix::fs::stat(dir.join(name)).unwrap();
        Wanted {
            stamp: Stamp::of(&stat),
            rel: name.as_bytes().to_vec(),
            name: name.to_string(),
        }
    }

    #[test]
    fn the_queue_hashes_what_is_asked_and_keys_it_by_version() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"abc").unwrap();
        std::fs::write(dir.path().join("b"), b"").unwrap();
        let root = dir.path().to_path_buf();
        let digests = Digests::start(
            None,
            HashMap::new(),
            Box::new(move |rel| File::open(root.join(std::str::from_utf8(rel).unwrap()))),
            // No path known: every version keeps its digest.
            Box::new(|_| None),
        )
        .unwrap();
        let a = wanted_for(dir.path(), "a");
        let b = wanted_for(dir.path(), "b");
        assert_eq!(digests.known(&a.stamp), None);
        assert_eq!(
            wait_ready(&digests, &a),
            <Sha256Digest>::from(Sha256::digest(b"abc"))
        );
        // A listing queues at the back and answers with what is known so far.
        let first = digests.lookup_all(&[a.clone(), b.clone()]);
        assert_eq!(first[0].map(|s| s.sha256), digests.known(&a.stamp));
        assert_eq!(first[0].map(|s| s.crc32), Some(crc32fast::hash(b"abc")));
        wait_ready(&digests, &b);
        assert_eq!(
            digests.lookup_all(std::slice::from_ref(&b))[0].map(|s| s.sha256),
            Some(Sha256::digest(b"").into())
        );
        // A new version of `a` is a new key: the old digest never answers for it.
        std::thread::sleep(Duration::from_millis(10));
        std::fs::write(dir.path().join("a"), b"abd").unwrap();
        let newer = wanted_for(dir.path(), "a");
        assert_ne!(newer.stamp, a.stamp);
        assert!(
            matches!(
                digests.ensure(&newer.stamp, &newer.rel),
                Status::Hashing { .. }
            ) || digests.known(&newer.stamp).is_some()
        );
        assert_eq!(
            wait_ready(&digests, &newer),
            <Sha256Digest>::from(Sha256::digest(b"abd"))
        );
        assert_eq!(
            digests.known(&a.stamp),
            Some(Sha256::digest(b"abc").into()),
            "each version keeps its own"
        );
    }

    #[test]
    fn a_newer_version_of_a_path_replaces_the_older_digest_in_memory_and_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("state")).unwrap();
        let store_path = store.path().to_path_buf();
        let root = dir.path().to_path_buf();
        let located = root.clone();
        let digests = Digests::start(
            Some(store),
            HashMap::new(),
            Box::new(move |rel| File::open(root.join(std::str::from_utf8(rel).unwrap()))),
            Box::new(move |rel| Some(located.join(std::str::from_utf8(rel).unwrap()))),
        )
        .unwrap();
        let mut older = None;
        for round in 0..5u8 {
            std::thread::sleep(Duration::from_millis(5));
            std::fs::write(dir.path().join("f"), [round; 10]).unwrap();
            let wanted = wanted_for(dir.path(), "f");
            wait_ready(&digests, &wanted);
            if let Some(older) = older {
                assert_eq!(digests.known(&older), None, "round {round}");
            }
            older = Some(wanted.stamp);
        }
        assert_eq!(digests.state().known.len(), 1);
        // The store has a line per version until it is reopened: then only the current one.
        let lines = std::fs::read_to_string(&store_path).unwrap();
        assert_eq!(lines.lines().count(), 5, "{lines}");
        let (_, loaded) = Store::open(store_path.parent().unwrap()).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(
            std::fs::read_to_string(&store_path)
                .unwrap()
                .lines()
                .count(),
            1
        );
    }

    #[test]
    fn digests_loaded_from_a_store_are_known_at_once() {
        let stamp = Stamp {
            dev: 1,
            ino: 2,
            size: 3,
            mtime: (4, 5),
            ctime: (6, 7),
        };
        let digests = Digests::start(
            None,
            HashMap::from([(
                stamp,
                Stored {
                    sums: Sums {
                        sha256: [9u8; 32],
                        crc32: 0,
                    },
                    path: None,
                },
            )]),
            Box::new(|_| Err(std::io::ErrorKind::NotFound.into())),
            Box::new(|_| None),
        )
        .unwrap();
        let wanted = Wanted {
            stamp,
            rel: b"x".to_vec(),
            name: "x".into(),
        };
        assert!(
            matches!(digests.ensure(&wanted.stamp, &wanted.rel), Status::Ready { sum, .. } if sum == [9; 32])
        );
        // The field values made once are the ones a response would have made from the sum.
        let Status::Ready { field, etag, .. } = digests.ensure(&wanted.stamp, &wanted.rel) else {
            panic!("known");
        };
        assert_eq!(etag, crate::http::format::content_etag(&[9; 32]));
        assert_eq!(field, field_value(&[9; 32]));
        // Stamps that differ in any one field are different keys.
        for other in [
            Stamp { ino: 3, ..stamp },
            Stamp { size: 4, ..stamp },
            Stamp {
                mtime: (4, 6),
                ..stamp
            },
            Stamp {
                ctime: (7, 7),
                ..stamp
            },
            Stamp { dev: 2, ..stamp },
        ] {
            assert_eq!(digests.known(&other), None, "{other:?}");
        }
    }

    fn temp_with(data: &[u8]) -> File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(data).unwrap();
        file
    }

    #[test]
    fn hashing_reads_the_whole_file_and_counts_progress() {
        let data: Vec<u8> = (0..3 * HASH_READ_SIZE + 5)
            .map(|i| (i % 251) as u8)
            .collect();
        let done = AtomicU64::new(0);
        let (digest, pieces) = hash_file(
            &temp_with(&data),
            data.len() as u64,
            &done,
            &AtomicBool::new(false),
            |_, _| {},
        )
        .unwrap();
        assert_eq!(digest.sha256, <Sha256Digest>::from(Sha256::digest(&data)));
        assert_eq!(digest.crc32, crc32fast::hash(&data));
        assert_eq!(
            pieces.sha256.len(),
            4,
            "three pieces of 1 MiB and one of 5 bytes"
        );
        assert_eq!(
            pieces.sha256[3],
            <[u8; 32]>::from(Sha256::digest(&data[3 << 20..]))
        );
        assert_eq!(done.load(Ordering::Relaxed), data.len() as u64);
    }

    #[test]
    fn hashing_a_file_shorter_than_its_version_fails_and_cancel_stops_it() {
        let none = AtomicU64::new(0);
        let err = hash_file(
            &temp_with(b"short"),
            10,
            &none,
            &AtomicBool::new(false),
            |_, _| {},
        )
        .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        let err = hash_file(
            &temp_with(b"short"),
            5,
            &none,
            &AtomicBool::new(true),
            |_, _| {},
        )
        .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::Interrupted);
    }
}
