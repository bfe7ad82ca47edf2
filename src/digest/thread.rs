//! The hashing thread: it takes the next queued version, waits while it is racy, reads it once
//! (SHA-256, CRC-32 and the pieces' SHA-256s and SHA-1s together) standing back while large responses
//! stream, and publishes the result under the version's stamp if the stamp did not change.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{Digests, Job, Known, Pieces, Sums, Wanted, pieces};
use crate::fs::stamp::Stamp;

/// Bytes per read while hashing: large, so the hash runs at disk or SHA speed.
pub(super) const HASH_READ_SIZE: usize = 1 << 20;
/// The hashing thread's nice value: the lowest priority.
const HASH_NICE: i32 = 19;
/// While large responses stream, the hash waits in steps of this long before each read (few
/// wake-ups: a waking thread can preempt a busy one even at nice 19)...
const YIELD_STEP: Duration = Duration::from_millis(10);
/// ...for at most this long per read, so it still makes progress (≥ 10 MB/s) on a busy server.
/// Measured on 2 cores: without yielding, a 1 GiB download during the hash ran at 0.61× (the
/// hash competes for memory bandwidth and cache even at nice 19); with it, 0.72–0.99×.
const MAX_YIELD_PER_READ: Duration = Duration::from_millis(100);
/// How often a long hash logs its progress.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(2);
/// Files at least this large log when their hashing starts (small ones would flood the log when
/// a listing queues thousands).
const LOG_START_FROM: u64 = 64 << 20;

impl Digests {
    /// The hashing thread: forever, take the next queued version and hash it.
    pub(super) fn run(&self) {
        lowest_priority();
        loop {
            let wanted = {
                let mut state = self.state();
                loop {
                    let now = Instant::now();
                    if let Some(due) = state.deferred.iter().position(|(at, _)| *at <= now) {
                        break state.deferred.swap_remove(due).1;
                    }
                    if let Some(wanted) = state.queue.pop_front() {
                        break wanted;
                    }
                    let next = state.deferred.iter().map(|(at, _)| *at).min();
                    state = match next {
                        Some(at) => {
                            let wait = at.saturating_duration_since(now);
                            self.wake
                                .wait_timeout(state, wait)
                                .map(|(state, _)| state)
                                .unwrap_or_else(|poisoned| poisoned.into_inner().0)
                        }
                        None => self
                            .wake
                            .wait(state)
                            .unwrap_or_else(|poisoned| poisoned.into_inner()),
                    };
                }
            };
            if let Some(wait) = self.hash_one(&wanted) {
                // Changed too recently to be trusted: again once it has settled (still queued).
                self.state().deferred.push((Instant::now() + wait, wanted));
                continue;
            }
            self.state().queued.remove(&wanted.stamp);
        }
    }

    /// Opens, hashes and publishes one file. The digest is published under the stamp of the
    /// version actually opened (which may be newer than the one asked for), and only if that
    /// stamp did not change while it was read. A version changed too recently to be trusted
    /// (see [`Stamp::unsettled_for`]) is not read: how long until it may be is returned.
    fn hash_one(&self, wanted: &Wanted) -> Option<Duration> {
        let name = &wanted.name;
        if self
            .state()
            .known
            .get(&wanted.stamp)
            .is_some_and(|k| k.pieces.is_some())
        {
            return None;
        }
        let file = match (self.open)(&wanted.rel) {
            Ok(file) => file,
            Err(err) => {
                tracing::debug!("not hashing {name}: {}", crate::error::describe(&err));
                return None;
            }
        };
        let looked = std::time::SystemTime::now();
        let Ok(before) = rustix::fs::fstat(&file).map(|stat| Stamp::of(&stat)) else {
            return None;
        };
        if let Some(wait) = before.unsettled_for(looked) {
            tracing::debug!("not hashing {name} yet: changed {wait:?} too recently");
            // A little past the moment, so the next look is after it.
            return Some(wait + Duration::from_millis(10));
        }
        let job = Job {
            stamp: before,
            rel: wanted.rel.clone(),
            started: Instant::now(),
            done: Arc::new(AtomicU64::new(0)),
            cancel: Arc::new(AtomicBool::new(false)),
        };
        {
            let mut state = self.state();
            if state.known.get(&before).is_some_and(|k| k.pieces.is_some()) {
                return None;
            }
            state.current = Some(job.clone());
        }
        let total = before.size;
        if total >= LOG_START_FROM {
            tracing::info!("hashing {name} ({} MiB)", total >> 20);
        }
        let outcome = hash_file(&file, total, &job.done, &job.cancel, |done, rate| {
            let percent = done as f64 * 100.0 / total.max(1) as f64;
            tracing::info!(
                "hashing {name}: {percent:.0}% ({} of {} MiB, {:.0} MB/s)",
                done >> 20,
                total >> 20,
                rate / 1e6
            );
        });
        let after = rustix::fs::fstat(&file).map(|stat| Stamp::of(&stat));
        let seconds = job.started.elapsed().as_secs_f64();
        let mut state = self.state();
        state.current = None;
        match outcome {
            Ok((sums, pieces)) if after == Ok(before) => {
                if total >= HASH_READ_SIZE as u64 {
                    state.rate = total as f64 / seconds.max(1e-6);
                }
                let pieces: Pieces = Arc::new(pieces);
                state
                    .known
                    .insert(before, Known::new(sums, Some(Arc::clone(&pieces))));
                let path = (self.locate)(&wanted.rel);
                if let Some(path) = &path
                    && let Some(older) = state.latest.insert(path.clone(), before)
                    && older != before
                {
                    state.known.remove(&older);
                }
                let sum = sums.sha256;
                drop(state);
                tracing::info!(
                    "sha256 of {name}: {} ({} MiB in {seconds:.2} s, {:.0} MB/s)",
                    crate::http::format::hex(&sum),
                    total >> 20,
                    total as f64 / seconds.max(1e-6) / 1e6
                );
                if let Some(store) = &self.store
                    && let Err(err) = store
                        .add_pieces(&sums.sha256, &pieces)
                        .and_then(|()| store.add(&before, &sums, path.as_deref()))
                {
                    tracing::warn!(
                        "cannot store the digest of {name} in {}: {err}",
                        store.path().display()
                    );
                }
            }
            Ok(_) => tracing::info!("{name} changed while it was hashed; the digest is dropped"),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {
                tracing::debug!("hashing of an older version of {name} cancelled");
            }
            Err(err) => tracing::warn!("hashing {name} failed: {err}"),
        }
        None
    }
}

/// Serving comes first: at the lowest priority, a hashing thread only uses idle CPU. (Linux
/// applies a thread id's priority to that thread alone.)
pub(super) fn lowest_priority() {
    if let Err(err) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), HASH_NICE)
    {
        tracing::debug!("cannot lower a hashing thread's priority: {err}");
    }
}

/// Hashes (SHA-256, CRC-32 and the pieces' SHA-256s and SHA-1s, in one read) `len` bytes of
/// `file`, counting progress into `done` and calling `progress(done, bytes_per_second)` every
/// [`PROGRESS_INTERVAL`]. A file shorter than `len` is an error; `cancel` makes it stop with
/// `Interrupted`.
pub(super) fn hash_file(
    file: &File,
    len: u64,
    done: &AtomicU64,
    cancel: &AtomicBool,
    mut progress: impl FnMut(u64, f64),
) -> std::io::Result<(Sums, pieces::PieceHashes)> {
    let mut hasher = Sha256::new();
    let mut crc = crc32fast::Hasher::new();
    let mut pieces = pieces::PieceHasher::new(len);
    let started = Instant::now();
    let mut last_report = started;
    read_through(file, len, cancel, |bytes, offset| {
        hasher.update(bytes);
        crc.update(bytes);
        pieces.update(bytes);
        done.store(offset, Ordering::Relaxed);
        if last_report.elapsed() >= PROGRESS_INTERVAL {
            last_report = Instant::now();
            progress(offset, offset as f64 / started.elapsed().as_secs_f64());
        }
    })?;
    let sums = Sums {
        sha256: hasher.finalize().into(),
        crc32: crc.finalize(),
    };
    Ok((sums, pieces.finish()))
}

/// Reads `len` bytes of `file` in order with positioned reads, standing back while large
/// responses stream, handing each read's bytes and the offset after them to `each`. A file
/// shorter than `len` is an error; `cancel` makes it stop with `Interrupted`.
pub(super) fn read_through(
    file: &File,
    len: u64,
    cancel: &AtomicBool,
    mut each: impl FnMut(&[u8], u64),
) -> std::io::Result<()> {
    let mut buf = vec![0u8; HASH_READ_SIZE.min(len as usize)];
    let mut offset = 0u64;
    while offset < len {
        if cancel.load(Ordering::Relaxed) {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let mut waited = Duration::ZERO;
        while crate::body::large_bodies_streaming() && waited < MAX_YIELD_PER_READ {
            std::thread::sleep(YIELD_STEP);
            waited += YIELD_STEP;
        }
        let want = (len - offset).min(buf.len() as u64) as usize;
        let n = match file.read_at(&mut buf[..want], offset) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        crate::ops::metrics::HASHED_BYTES.fetch_add(n as u64, Ordering::Relaxed);
        offset += n as u64;
        each(&buf[..n], offset);
    }
    Ok(())
}
