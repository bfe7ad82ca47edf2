//! A folder's BitTorrent v1 pieces: SHA-1 over its files end to end (BEP 3 multi-file), which
//! no file's own pieces give (a piece spans files). Made on demand, when a folder's `.torrent`
//! is first asked for, by a thread of their own at the lowest priority, from the very versions
//! the request saw: each file is reopened through the root and its stamp checked before and
//! after it is read, so a file changed meanwhile drops the job (the next request makes it
//! again) instead of describing bytes nobody serves.
//!
//! Keyed by the content ([`key`]: the piece length and each file's size and SHA-256, in order),
//! so a replica, a restart or a renamed folder with the same bytes finds them again: kept in
//! memory (the last [`CACHED`]) and in the store. Bounded: at most [`QUEUED`] folders wait (a
//! request beyond that gets a `Retry-After` and nothing is held for it).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use sha2::{Digest as _, Sha256};

use super::{Digests, Sha256Digest, pieces, thread};
use crate::fs::stamp::Stamp;

/// Folders whose pieces are kept in memory.
pub const CACHED: usize = 32;
/// Folders waiting for their pieces, at most.
pub const QUEUED: usize = 4;

/// A folder's SHA-1 pieces, shared.
pub type Sha1s = Arc<Vec<[u8; 20]>>;

/// A file of a folder, as its request saw it.
#[derive(Debug, Clone)]
pub struct FolderFile {
    pub rel: Vec<u8>,
    pub stamp: Stamp,
    pub sha256: Sha256Digest,
}

/// Where a folder's pieces stand.
#[derive(Debug, Clone)]
pub enum FolderStatus {
    Ready(Sha1s),
    /// Queued or being made: bytes done of the total, and the rate (0: not measured yet).
    Hashing {
        done: u64,
        total: u64,
        rate: f64,
    },
}

/// Pure: the content key of a folder's pieces.
pub fn key(piece_length: u64, files: &[FolderFile]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"rangeserve-folder-pieces-v1\n");
    hasher.update(piece_length.to_le_bytes());
    for file in files {
        hasher.update(file.stamp.size.to_le_bytes());
        hasher.update(file.sha256);
    }
    hasher.finalize().into()
}

#[derive(Debug)]
struct Job {
    key: [u8; 32],
    piece_length: u64,
    files: Vec<FolderFile>,
    total: u64,
}

#[derive(Debug, Clone)]
struct Current {
    key: [u8; 32],
    total: u64,
    done: Arc<AtomicU64>,
    started: Instant,
}

/// The folder jobs and the pieces made (inside [`Digests`]).
#[derive(Debug, Default)]
pub(super) struct Folders {
    cache: VecDeque<([u8; 32], Sha1s)>,
    queue: VecDeque<Job>,
    current: Option<Current>,
    rate: f64,
}

impl Folders {
    fn cached(&self, key: &[u8; 32]) -> Option<Sha1s> {
        self.cache
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, p)| Arc::clone(p))
    }

    fn keep(&mut self, key: [u8; 32], pieces: Sha1s) {
        self.cache.retain(|(k, _)| *k != key);
        if self.cache.len() >= CACHED {
            self.cache.pop_front();
        }
        self.cache.push_back((key, pieces));
    }
}

impl Digests {
    fn folders(&self) -> std::sync::MutexGuard<'_, Folders> {
        self.folders
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The SHA-1 pieces of `files` end to end with `piece_length` (blocking: they may be read
    /// from the store); unknown ones are queued. `files` must all have known digests.
    pub fn folder_pieces(&self, piece_length: u64, files: Vec<FolderFile>) -> FolderStatus {
        let key = key(piece_length, &files);
        let total: u64 = files.iter().map(|f| f.stamp.size).sum();
        let count = total.div_ceil(piece_length.max(1));
        {
            let folders = self.folders();
            if let Some(pieces) = folders.cached(&key) {
                return FolderStatus::Ready(pieces);
            }
            if let Some(current) = folders.current.as_ref().filter(|c| c.key == key) {
                let done = current.done.load(Ordering::Relaxed);
                let elapsed = current.started.elapsed().as_secs_f64().max(1e-3);
                return FolderStatus::Hashing {
                    done,
                    total: current.total,
                    rate: done as f64 / elapsed,
                };
            }
        }
        if let Some(pieces) = self
            .store
            .as_ref()
            .and_then(|s| s.folder_pieces(&key, count))
        {
            let pieces = Arc::new(pieces);
            self.folders().keep(key, Arc::clone(&pieces));
            return FolderStatus::Ready(pieces);
        }
        let mut folders = self.folders();
        let rate = folders.rate;
        if !folders.queue.iter().any(|job| job.key == key) && folders.queue.len() < QUEUED {
            folders.queue.push_back(Job {
                key,
                piece_length,
                files,
                total,
            });
            self.folders_wake.notify_one();
        }
        FolderStatus::Hashing {
            done: 0,
            total,
            rate,
        }
    }

    /// The folder pieces' thread: forever, take the next folder and hash it.
    pub(super) fn run_folders(&self) {
        thread::lowest_priority();
        loop {
            let job = {
                let mut folders = self.folders();
                loop {
                    if let Some(job) = folders.queue.pop_front() {
                        break job;
                    }
                    folders = self
                        .folders_wake
                        .wait(folders)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
            };
            // Made meanwhile (a request between this job's queueing and another's end)?
            if self.folders().cached(&job.key).is_some() {
                continue;
            }
            let count = job.total.div_ceil(job.piece_length.max(1));
            if let Some(pieces) = self
                .store
                .as_ref()
                .and_then(|s| s.folder_pieces(&job.key, count))
            {
                self.folders().keep(job.key, Arc::new(pieces));
                continue;
            }
            let current = Current {
                key: job.key,
                total: job.total,
                done: Arc::new(AtomicU64::new(0)),
                started: Instant::now(),
            };
            self.folders().current = Some(current.clone());
            let outcome = self.hash_folder(&job, &current.done);
            let seconds = current.started.elapsed().as_secs_f64().max(1e-6);
            let mut folders = self.folders();
            folders.current = None;
            match outcome {
                Ok(pieces) => {
                    if job.total >= thread::HASH_READ_SIZE as u64 {
                        folders.rate = job.total as f64 / seconds;
                    }
                    let pieces = Arc::new(pieces);
                    folders.keep(job.key, Arc::clone(&pieces));
                    drop(folders);
                    tracing::info!(
                        "folder pieces of {} file(s), {} MiB, in {seconds:.2} s",
                        job.files.len(),
                        job.total >> 20
                    );
                    if let Some(store) = &self.store
                        && let Err(err) = store.add_folder_pieces(&job.key, &pieces)
                    {
                        tracing::warn!("cannot store a folder's pieces: {err}");
                    }
                }
                Err(err) => {
                    drop(folders);
                    tracing::info!("a folder's pieces were not made: {err}");
                }
            }
        }
    }

    /// Reads the job's files end to end, each checked to be the version asked for.
    fn hash_folder(&self, job: &Job, done: &AtomicU64) -> std::io::Result<Vec<[u8; 20]>> {
        let mut hasher = pieces::Sha1Pieces::new(job.piece_length);
        let never = AtomicBool::new(false);
        let mut before = 0u64;
        for file in &job.files {
            let name = String::from_utf8_lossy(&file.rel).into_owned();
            let changed = || std::io::Error::other(format!("{name} changed"));
            let opened = (self.open)(&file.rel)?;
            let stamp = |f: &std::fs::File| rustix::fs::fstat(f).map(|s| Stamp::of(&s));
            if stamp(&opened)? != file.stamp {
                return Err(changed());
            }
            thread::read_through(&opened, file.stamp.size, &never, |bytes, offset| {
                hasher.update(bytes);
                done.store(before + offset, Ordering::Relaxed);
            })?;
            if stamp(&opened)? != file.stamp {
                return Err(changed());
            }
            before += file.stamp.size;
        }
        Ok(hasher.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64, sum: u8) -> FolderFile {
        FolderFile {
            rel: b"x".to_vec(),
            stamp: Stamp {
                dev: 1,
                ino: 2,
                size,
                mtime: (3, 0),
                ctime: (4, 0),
            },
            sha256: [sum; 32],
        }
    }

    #[test]
    fn at_most_queued_folders_wait_and_a_changed_file_drops_the_job() {
        let gate = Arc::new(std::sync::Mutex::new(()));
        let held = gate.lock().unwrap();
        let opened = Arc::new(AtomicU64::new(0));
        let (g, o) = (Arc::clone(&gate), Arc::clone(&opened));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let digests = Digests::start(
            None,
            Default::default(),
            Box::new(move |_| {
                o.fetch_add(1, Ordering::SeqCst);
                let _wait = g.lock();
                std::fs::File::open(&path)
            }),
            Box::new(|_| None),
        )
        .unwrap();
        // The first job is taken and waits in its open; the next QUEUED wait; the rest are not
        // held (each still answered "hashing").
        for n in 0..(QUEUED as u8 + 10) {
            let status = digests.folder_pieces(1 << 20, vec![file(3, n)]);
            assert!(matches!(status, FolderStatus::Hashing { total: 3, .. }));
            if n == 0 {
                while opened.load(Ordering::SeqCst) == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
        }
        assert_eq!(digests.folders().queue.len(), QUEUED);
        drop(held);
        // Its stamp is not the file's: every job is dropped, nothing is kept.
        while !digests.folders().queue.is_empty() || digests.folders().current.is_some() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(digests.folders().cache.is_empty());
    }

    #[test]
    fn the_key_depends_on_the_bytes_and_the_piece_length_only() {
        let a = [file(5, 1), file(7, 2)];
        let mut renamed = a.clone();
        renamed[0].rel = b"elsewhere/y".to_vec();
        renamed[1].stamp.ino = 99;
        assert_eq!(key(1 << 20, &a), key(1 << 20, &renamed));
        assert_ne!(key(1 << 20, &a), key(2 << 20, &a));
        assert_ne!(key(1 << 20, &a), key(1 << 20, &[file(5, 1), file(7, 3)]));
        assert_ne!(key(1 << 20, &a), key(1 << 20, &[file(7, 2), file(5, 1)]));
    }
}
