//! Open handles kept per path, so a request for a file that has not changed costs one `statx` of
//! its path instead of `openat2` + `fstat` + `close` (and, below a `--dir` root, the `O_PATH`
//! open and the reopen as well).
//!
//! A request `statx`es the path and reuses the cached handle only when the version stamp it
//! finds — device, inode, size, mtime and ctime, to the nanosecond — equals the one the handle
//! was opened with; anything else opens anew through the usual, kernel-guarded path. Why that
//! sees exactly what a fresh open + `fstat` would:
//! - rename-replace, delete-and-recreate: the path names another inode (another `ino`, or the
//!   old one's `ctime` moved when it lost its link) → reopen;
//! - delete: `statx` fails → the entry is dropped and the lookup says not found, as an open would;
//! - in-place write, append, truncate: the mtime (and size) move → reopen, so the validators,
//!   the length and the bytes are the new version's;
//! - chmod, chown (a file made unreadable): the ctime moves → reopen, which is refused as an open
//!   always was (403);
//! - a path whose components were swapped for a symlink leading elsewhere: `statx` follows it, but
//!   the inode it reaches can only match the cached stamp if it is the very inode that was opened
//!   through the guarded path (a new link to it would have moved its ctime).
//!
//! The `statx` runs inline: the cached handle pins its dentry chain in the kernel's dcache, so the
//! walk needs no disk. It is only tried for paths in the cache; everything else goes the usual way.
//! Bounded by count (least recently used out first; the count is sized inside the descriptor
//! limit at start-up); an entry is dropped when its file vanishes (a sweep each second closes
//! the handles of unlinked files, so their space is freed), and all are closed when the last
//! connection ends (an idle server holds no file open) or when descriptors run out.

use std::collections::HashMap;
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::fs::stamp::Stamp;
use crate::representation::FileIdentity;

/// Default for `--open-files`.
pub const DEFAULT_OPEN_FILES: usize = 1024;

/// A cached handle and the version it was opened as.
#[derive(Debug, Clone)]
pub struct Cached {
    pub file: Arc<File>,
    pub stamp: Stamp,
    /// The provisional `ETag` of `stamp` (made once, not per request).
    pub etag: String,
    pub identity: Arc<FileIdentity>,
    used: u64,
}

impl Cached {
    pub fn new(file: Arc<File>, stamp: Stamp, identity: Arc<FileIdentity>) -> Cached {
        Cached {
            file,
            etag: stamp.etag(),
            stamp,
            identity,
            used: 0,
        }
    }
}

/// Handles by path, at most `capacity` of them (0: none kept).
#[derive(Debug)]
pub struct Handles {
    entries: Mutex<HashMap<Vec<u8>, Cached>>,
    capacity: usize,
    tick: AtomicU64,
}

impl Handles {
    pub fn new(capacity: usize) -> Handles {
        Handles {
            entries: Mutex::new(HashMap::new()),
            capacity,
            tick: AtomicU64::new(0),
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<Vec<u8>, Cached>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a handle is cached for `key`.
    #[cfg(test)]
    pub fn has(&self, key: &[u8]) -> bool {
        self.capacity > 0 && self.entries().contains_key(key)
    }

    /// The cached handle for `key` if the path's current stamp `now` is the one it was opened
    /// with; a stale entry is dropped. ([`Handles::kept`] then [`Handles::check`], for a caller
    /// that has the stamp already.)
    #[cfg(test)]
    pub fn get(&self, key: &[u8], now: &Stamp) -> Option<Cached> {
        let kept = self.kept(key)?;
        self.check(key, kept, now)
    }

    /// The handle kept for `key`, if any, marked as just used. Its stamp is still to be compared
    /// with a `statx` of the path ([`Handles::check`]): taking it first lets one lookup answer
    /// both "is a `statx` worth it" and "which handle".
    pub fn kept(&self, key: &[u8]) -> Option<Cached> {
        if self.capacity == 0 {
            return None;
        }
        let mut entries = self.entries();
        let entry = entries.get_mut(key)?;
        entry.used = self.tick.fetch_add(1, Ordering::Relaxed);
        Some(entry.clone())
    }

    /// `kept` if the path's current stamp `now` is the one it was opened with. Else `None`, and
    /// the stale entry is dropped (unless a request has meanwhile kept a newer handle).
    pub fn check(&self, key: &[u8], kept: Cached, now: &Stamp) -> Option<Cached> {
        if kept.stamp == *now {
            return Some(kept);
        }
        let mut entries = self.entries();
        if entries
            .get(key)
            .is_some_and(|entry| entry.stamp == kept.stamp)
        {
            entries.remove(key);
        }
        None
    }

    /// Keeps a freshly opened handle, evicting the least recently used one when full.
    pub fn put(&self, key: &[u8], mut cached: Cached) {
        if self.capacity == 0 {
            return;
        }
        cached.used = self.tick.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.entries();
        if entries.len() >= self.capacity
            && !entries.contains_key(key)
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(key.to_vec(), cached);
    }

    /// Drops the entry for `key` (its file vanished).
    pub fn remove(&self, key: &[u8]) {
        if self.capacity > 0 {
            self.entries().remove(key);
        }
    }

    /// Closes every kept handle.
    pub fn clear(&self) {
        self.entries().clear();
    }

    /// Closes the handles whose file has no name left (`st_nlink` 0: unlinked, or replaced by
    /// rename); returns how many.
    #[allow(clippy::unnecessary_cast)] // st_nlink's type differs between architectures
    pub fn close_unlinked(&self) -> usize {
        let mut entries = self.entries();
        let before = entries.len();
        entries.retain(|_, kept| {
            rustix::fs::fstat(kept.file.as_ref()).is_ok_and(|stat| stat.st_nlink as u64 > 0)
        });
        before - entries.len()
    }

    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(ino: u64) -> Cached {
        Cached::new(
            Arc::new(tempfile::tempfile().unwrap()),
            stamp(ino),
            Arc::new(FileIdentity::new(b"f".to_vec(), b"f")),
        )
    }

    fn stamp(ino: u64) -> Stamp {
        Stamp {
            dev: 1,
            ino,
            size: 10,
            mtime: (5, 6),
            ctime: (7, 8),
        }
    }

    #[test]
    fn a_stale_check_drops_only_the_entry_it_took() {
        let handles = Handles::new(4);
        handles.put(b"a", cached(1));
        let old = handles.kept(b"a").unwrap();
        // Another request keeps a newer version meanwhile; the stale check must not drop it.
        handles.put(b"a", cached(2));
        assert!(handles.check(b"a", old.clone(), &stamp(3)).is_none());
        assert!(
            handles.get(b"a", &stamp(2)).is_some(),
            "the newer entry stays"
        );
        // With nothing newer, the stale entry goes.
        let newer = handles.kept(b"a").unwrap();
        assert!(handles.check(b"a", newer, &stamp(5)).is_none());
        assert!(!handles.has(b"a"));
        assert!(
            handles.check(b"a", old, &stamp(1)).is_some(),
            "an equal stamp passes"
        );
        assert!(Handles::new(0).kept(b"a").is_none());
    }

    #[test]
    fn a_handle_is_reused_only_for_the_very_same_stamp() {
        let handles = Handles::new(4);
        handles.put(b"a", cached(1));
        assert!(handles.has(b"a"));
        assert!(handles.get(b"a", &stamp(1)).is_some());
        for changed in [
            Stamp { ino: 2, ..stamp(1) },
            Stamp {
                size: 11,
                ..stamp(1)
            },
            Stamp {
                mtime: (5, 7),
                ..stamp(1)
            },
            Stamp {
                ctime: (7, 9),
                ..stamp(1)
            },
            Stamp { dev: 2, ..stamp(1) },
        ] {
            handles.put(b"a", cached(1));
            assert!(handles.get(b"a", &changed).is_none(), "{changed:?}");
            assert!(!handles.has(b"a"), "a stale entry is dropped");
        }
    }

    #[test]
    fn the_least_recently_used_goes_first_and_zero_keeps_nothing() {
        let handles = Handles::new(2);
        handles.put(b"a", cached(1));
        handles.put(b"b", cached(2));
        assert!(handles.get(b"a", &stamp(1)).is_some()); // a is now the most recent
        handles.put(b"c", cached(3));
        assert!(handles.has(b"a") && handles.has(b"c") && !handles.has(b"b"));
        assert_eq!(handles.len(), 2);
        handles.remove(b"a");
        assert!(!handles.has(b"a"));
        let none = Handles::new(0);
        none.put(b"a", cached(1));
        assert!(none.is_empty() && !none.has(b"a"));
    }
}
