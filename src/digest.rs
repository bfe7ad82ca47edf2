//! The SHA-256 of each version of the file, for `Repr-Digest` (RFC 9530 §3) and the
//! `/<name>.sha256` sidecar, so that a resumed download can be proven whole.
//!
//! A version is keyed by its strong ETag (inode, size, modification time). [`Digests::ensure`]
//! starts hashing a version the first time it is seen, on its own thread at the lowest CPU
//! priority and standing back while large responses stream (serving comes first), reading through that
//! version's open handle (positioned reads, so no request's reads are disturbed); a newer version
//! cancels the hashing of an older one. A digest is only ever looked up by the ETag of the handle
//! a response streams from, so an old digest is never paired with a new version's bytes. If the
//! file's size or modification time changes while it is hashed (written in place), the result is
//! dropped, not cached.
//!
//! The pure parts (header values, `Want-Repr-Digest`, the sidecar line) are plain functions.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use hyper::header::HeaderValue;
use sha2::{Digest, Sha256};

use crate::representation::Representation;

/// Bytes per read while hashing: large, so the hash runs at disk or SHA speed.
const HASH_READ_SIZE: usize = 1 << 20;
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

/// A SHA-256 digest.
pub type Sha256Digest = [u8; 32];

/// Where the hashing of the current version stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Known for this version: the digest, and its `Repr-Digest` field value.
    Ready {
        sum: Sha256Digest,
        field: HeaderValue,
    },
    /// Being computed: bytes done of the total, and the bytes per second so far.
    Hashing { done: u64, total: u64, rate: f64 },
}

/// The digests of the file's versions; cheap to share across requests.
#[derive(Debug, Default)]
pub struct Digests {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The newest version hashed, its digest, and its `Repr-Digest` value (formatted once).
    ready: Option<(String, Sha256Digest, HeaderValue)>,
    /// The version being hashed, if any.
    job: Option<Job>,
}

#[derive(Debug, Clone)]
struct Job {
    etag: String,
    total: u64,
    started: Instant,
    done: Arc<AtomicU64>,
    cancel: Arc<AtomicBool>,
}

impl Digests {
    pub fn new() -> Arc<Digests> {
        Arc::new(Digests::default())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State inconsistent (plain field writes).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Where this version stands, starting its hashing if nobody has yet.
    pub fn ensure(self: &Arc<Self>, rep: &Representation, name: &str) -> Status {
        let mut state = self.state();
        if let Some((etag, sum, field)) = &state.ready
            && *etag == rep.etag
        {
            return Status::Ready {
                sum: *sum,
                field: field.clone(),
            };
        }
        if let Some(job) = &state.job {
            if job.etag == rep.etag {
                let done = job.done.load(Ordering::Relaxed);
                let rate = done as f64 / job.started.elapsed().as_secs_f64().max(1e-3);
                return Status::Hashing {
                    done,
                    total: job.total,
                    rate,
                };
            }
            job.cancel.store(true, Ordering::Relaxed);
        }
        let job = Job {
            etag: rep.etag.clone(),
            total: rep.len,
            started: Instant::now(),
            done: Arc::new(AtomicU64::new(0)),
            cancel: Arc::new(AtomicBool::new(false)),
        };
        state.job = Some(job.clone());
        let (digests, file, modified, owned_name) = (
            Arc::clone(self),
            Arc::clone(&rep.file),
            rep.modified,
            name.to_string(),
        );
        let spawned = std::thread::Builder::new()
            .name("sha256".into())
            .spawn(move || digests.run(job, &file, modified, &owned_name));
        if let Err(err) = spawned {
            tracing::warn!("cannot start hashing {name}: {err}");
            state.job = None;
        }
        Status::Hashing {
            done: 0,
            total: rep.len,
            rate: 0.0,
        }
    }

    /// The hashing thread: hash, check the version did not change underneath, publish.
    fn run(&self, job: Job, file: &File, modified: SystemTime, name: &str) {
        // Serving comes first: at the lowest priority, the hash only uses idle CPU. (Linux
        // applies a thread id's priority to that thread alone.)
        if let Err(err) =
            rustix::process::setpriority_process(Some(rustix::thread::gettid()), HASH_NICE)
        {
            tracing::debug!("cannot lower the hashing thread's priority: {err}");
        }
        let outcome = hash_file(file, job.total, &job.done, &job.cancel, |done, rate| {
            let percent = if job.total == 0 {
                100.0
            } else {
                done as f64 * 100.0 / job.total as f64
            };
            tracing::info!(
                "hashing {name}: {percent:.0}% ({} of {} MiB, {:.0} MB/s)",
                done >> 20,
                job.total >> 20,
                rate / 1e6
            );
        });
        let unchanged = file.metadata().is_ok_and(|meta| {
            meta.len() == job.total && meta.modified().is_ok_and(|m| m == modified)
        });
        let mut state = self.state();
        let current_job = state.job.as_ref().is_some_and(|j| j.etag == job.etag);
        if current_job {
            state.job = None;
        }
        match outcome {
            Ok(digest) if unchanged => {
                let seconds = job.started.elapsed().as_secs_f64();
                tracing::info!(
                    "sha256 of {name}: {} ({} MiB in {seconds:.2} s, {:.0} MB/s)",
                    hex(&digest),
                    job.total >> 20,
                    job.total as f64 / seconds.max(1e-6) / 1e6
                );
                if current_job {
                    let field = HeaderValue::from_str(&repr_digest_value(&digest))
                        .unwrap_or_else(|_| HeaderValue::from_static(""));
                    state.ready = Some((job.etag, digest, field));
                }
            }
            Ok(_) => tracing::info!("{name} changed while it was hashed; the digest is dropped"),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {
                tracing::debug!("hashing of an older version of {name} cancelled");
            }
            Err(err) => tracing::warn!("hashing {name} failed: {err}"),
        }
    }
}

/// Hashes `len` bytes of `file` with positioned reads, counting progress into `done`, and
/// calling `progress(done, bytes_per_second)` every [`PROGRESS_INTERVAL`]. A file shorter than
/// `len` is an error; `cancel` makes it stop with `Interrupted`.
fn hash_file(
    file: &File,
    len: u64,
    done: &AtomicU64,
    cancel: &AtomicBool,
    mut progress: impl FnMut(u64, f64),
) -> std::io::Result<Sha256Digest> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; HASH_READ_SIZE];
    let started = Instant::now();
    let mut last_report = started;
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
        hasher.update(&buf[..n]);
        offset += n as u64;
        done.store(offset, Ordering::Relaxed);
        if last_report.elapsed() >= PROGRESS_INTERVAL {
            last_report = Instant::now();
            progress(offset, offset as f64 / started.elapsed().as_secs_f64());
        }
    }
    Ok(hasher.finalize().into())
}

/// The `Repr-Digest` field value (RFC 9530 §3): a Structured Field Dictionary with one member.
pub fn repr_digest_value(digest: &Sha256Digest) -> String {
    format!("sha-256=:{}:", base64(digest))
}

/// Whether to send `Repr-Digest: sha-256` given the request's `Want-Repr-Digest` (RFC 9530 §4).
/// Absent or unparseable → yes (the field may be sent unsolicited). Otherwise yes unless the
/// client gave `sha-256` the weight 0 ("not acceptable"): for a preference of algorithms we do
/// not have, our sha-256 is still better than nothing (§4 lets a server send what it supports).
pub fn wants_sha256(want_repr_digest: Option<&str>) -> bool {
    let Some(value) = want_repr_digest else {
        return true;
    };
    for member in value.split(',') {
        let Some((key, weight)) = member.split_once('=') else {
            continue;
        };
        if key.trim() == "sha-256" {
            return weight.split(';').next().map(str::trim) != Some("0");
        }
    }
    true
}

/// The `sha256sum` line for the sidecar: `HEX  NAME\n`.
pub fn sidecar_line(digest: &Sha256Digest, name: &str) -> String {
    format!("{}  {name}\n", hex(digest))
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

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Standard base64 with padding (RFC 4648 §4), as Structured Fields' byte sequences use.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn base64_matches_rfc_4648_test_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn repr_digest_is_a_structured_field_byte_sequence_rfc_9530_section_3() {
        // The empty string's SHA-256, in hex and in the field's base64 form.
        let empty: Sha256Digest = Sha256::digest(b"").into();
        assert_eq!(
            hex(&empty),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            repr_digest_value(&empty),
            "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
        );
    }

    #[test]
    fn want_repr_digest_only_refuses_sha256_at_weight_zero_rfc_9530_section_4() {
        assert!(wants_sha256(None));
        assert!(wants_sha256(Some("sha-256=1")));
        assert!(wants_sha256(Some("sha-512=3, sha-256=10")));
        assert!(wants_sha256(Some("sha-512=3")));
        assert!(wants_sha256(Some("garbage")));
        assert!(!wants_sha256(Some("sha-256=0")));
        assert!(!wants_sha256(Some("sha-512=10, sha-256=0")));
    }

    #[test]
    fn the_sidecar_line_is_what_sha256sum_prints() {
        let digest: Sha256Digest = Sha256::digest(b"abc").into();
        assert_eq!(
            sidecar_line(&digest, "love.rmvb"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  love.rmvb\n"
        );
    }

    #[test]
    fn retry_after_estimates_the_remaining_time_within_bounds() {
        assert_eq!(retry_after(0, 100, 0.0), 1);
        assert_eq!(retry_after(50, 100, 10.0), 5);
        assert_eq!(retry_after(0, 1 << 40, 1.0), 60);
        assert_eq!(retry_after(100, 100, 10.0), 1);
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
        let digest = hash_file(
            &temp_with(&data),
            data.len() as u64,
            &done,
            &AtomicBool::new(false),
            |_, _| {},
        )
        .unwrap();
        assert_eq!(digest, <Sha256Digest>::from(Sha256::digest(&data)));
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
