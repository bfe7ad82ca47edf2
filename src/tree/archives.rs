//! A folder as one archive: the I/O around the pure `archive` module. Walks the visible tree
//! below a directory (the listing's rules: hidden names, symlinks, no FIFOs), turns it into
//! members, and serves it as a normal [`Representation`] whose ETag is derived from every
//! member's version stamp, so any member added, removed or changed makes a new ETag.
//!
//! The layout (member offsets and framing) is computed once per archive version and cached; the
//! walk, a `statx` per entry, is what tells whether the version is still the same. A version
//! whose walk started at most [`FRESH_FOR`] before a request is reused for it (so the range
//! requests of `aria2c -x 8` on a 10,000-member archive do not walk 10,000 entries each), unless
//! one of its members was found changed; an older one is walked again before the answer, so an
//! answer never announces a version older than the tree as it was [`FRESH_FOR`] before the
//! request. Walks of one archive are single-flight: requests that come during a walk wait for
//! it and share it. The cache holds at most [`CACHED_MEMBERS`] members, least recently used
//! versions out first.
//!
//! That reuse never sends a wrong byte: while a body streams, each member is opened when reached
//! and must still have the stamp the archive announced, at its open and when its last byte is
//! read; a member that changed cuts the connection (as a truncated file does) and retires the
//! cached version. So every response is exactly the version its ETag names, or is cut.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use crate::archive::{self, Format, Layout, Member, names};
use crate::body::{Members, Source};
use crate::digest::{Digests, Wanted};
use crate::fs::stamp::{Stamp, file_mode};
use crate::representation::{FileIdentity, Representation};
use crate::tree::archive_members::MemberFiles;
use crate::tree::entries::Listed;
use crate::tree::listing::Kind;
use crate::tree::root::{Dir, Root};
use crate::tree::route::Found;

/// Most members one archive may have (a guard against walking an endless tree).
pub const MAX_MEMBERS: usize = 1_000_000;
/// Members of all cached archive versions together, at most (each member costs about 2 KiB:
/// its framing, its path twice and its stamp); a version larger than this alone is still kept
/// while it is the only one.
pub const CACHED_MEMBERS: usize = 200_000;
/// How old a walk may be (from its start) and still answer a request. Changes show within this
/// long; a member found changed retires the version at once.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// An archive's key: the directory's path below the root, and the format.
/// An archive: its folder, the folder its symlinks must stay inside (see `Dir::Tree`), format.
type ArchiveKey = (Vec<u8>, Vec<u8>, Format);

/// The last version walked of each archive, and the walks under way.
#[derive(Debug, Default)]
pub struct ArchiveCache {
    versions: Mutex<Versions>,
    /// One lock per archive being walked: a request that finds none fresh walks under it, and
    /// the ones that come meanwhile wait and then use its walk.
    walks: Mutex<HashMap<ArchiveKey, Arc<Mutex<()>>>>,
}

/// Cached versions, with when each was last used (for the least-recently-used eviction).
#[derive(Debug, Default)]
struct Versions {
    by_key: HashMap<ArchiveKey, (Arc<Version>, u64)>,
    members: usize,
    tick: u64,
}

/// One walked version of an archive.
#[derive(Debug)]
struct Version {
    etag: String,
    layout: Arc<Layout>,
    files: Arc<MemberFiles>,
    newest: SystemTime,
    top: Stamp,
    /// When its walk started: the tree it describes is at least that recent.
    walk_started: Instant,
}

impl Version {
    /// Whether it may answer a request that came at `asked`.
    fn fresh_for(&self, asked: Instant) -> bool {
        !self.files.stale.load(Ordering::Relaxed)
            && asked.saturating_duration_since(self.walk_started) <= FRESH_FOR
    }
}

/// What preparing an archive gives.
#[derive(Debug)]
pub enum Prepared {
    Ready(Representation),
    /// A zip whose members' CRC-32s are not all known yet: this many bytes are still to hash.
    Pending(u64),
}

/// One walked member, with where its data is for a file.
struct Walked {
    member: Member,
    file: Option<(Vec<u8>, Stamp)>,
    stamp: Stamp,
}

/// Walks `dir` depth-first, names sorted bytewise, a directory before its contents, each path
/// prefixed with `prefix` (the directory's own name). With `--follow-symlinks` a link back up
/// the tree is not followed again (no loops).
fn walk(
    root: &Root,
    dir: &Dir,
    prefix: &[u8],
    ancestors: &mut HashSet<(u64, u64)>,
    out: &mut Vec<Walked>,
    max: usize,
) -> io::Result<()> {
    let mut entries = root.entries(dir)?;
    entries.sort_by(|a, b| a.entry.name.cmp(&b.entry.name));
    for item in entries {
        if out.len() >= max {
            return Err(io::Error::other(format!(
                "more than {max} entries: too many for one document"
            )));
        }
        let mut path = prefix.to_vec();
        path.push(b'/');
        path.extend_from_slice(&names::member_segment(&item.entry.name));
        let member = Member {
            path: path.clone(),
            size: match item.entry.kind {
                Kind::File { size } => Some(size),
                Kind::Dir => None,
            },
            mode: item.mode,
            mtime: item.stamp.mtime,
            crc32: 0,
        };
        match item.entry.kind {
            Kind::File { .. } => out.push(Walked {
                member,
                file: Some((item.rel, item.stamp)),
                stamp: item.stamp,
            }),
            Kind::Dir => {
                let key = (item.stamp.dev, item.stamp.ino);
                if !ancestors.insert(key) {
                    continue;
                }
                // A directory that cannot be read is an error, not an empty one: an archive
                // must not announce a version that silently lacks a folder's contents. One that
                // is gone (or no longer a directory) since it was listed is left out whole.
                let child = match root.lookup_within(&item.rel, dir.within(), true) {
                    Found::Dir(child) => child,
                    Found::Failed(err) => return Err(err),
                    _ => {
                        ancestors.remove(&key);
                        continue;
                    }
                };
                out.push(Walked {
                    member,
                    file: None,
                    stamp: item.stamp,
                });
                walk(root, &child, &path, ancestors, out, max)?;
                ancestors.remove(&key);
            }
        }
    }
    Ok(())
}

/// A file below a folder: its name in the folder's documents, its path below the root, its
/// stamp.
pub type FileBelow = (Vec<u8>, Vec<u8>, Stamp);

/// Every visible file below `dir`, in archive order (depth-first, names sorted bytewise): its
/// name as an archive would have it (`prefix/…`, mapped as archive names are), its path below
/// the root, and its stamp (blocking). For documents that describe a folder file by file.
pub fn files_below(root: &Root, dir: &Dir, prefix: &[u8]) -> io::Result<Vec<FileBelow>> {
    files_below_at_most(root, dir, prefix, MAX_MEMBERS)
}

/// [`files_below`], failing once the walk passes `max` entries (files and folders).
pub fn files_below_at_most(
    root: &Root,
    dir: &Dir,
    prefix: &[u8],
    max: usize,
) -> io::Result<Vec<FileBelow>> {
    let top = match dir {
        Dir::Tree { fd, .. } => Stamp::of(&rustix::fs::fstat(fd)?),
        Dir::Files => {
            // Named files: each at the top.
            let listed = root.entries(dir)?;
            return Ok(listed
                .into_iter()
                .filter(Listed::is_file)
                .map(|l| {
                    let mut name = prefix.to_vec();
                    name.push(b'/');
                    name.extend_from_slice(&l.entry.name);
                    (name, l.rel, l.stamp)
                })
                .collect());
        }
    };
    let mut ancestors = HashSet::from([(top.dev, top.ino)]);
    let mut walked = Vec::new();
    walk(
        root,
        dir,
        &names::member_segment(prefix),
        &mut ancestors,
        &mut walked,
        max,
    )?;
    Ok(walked
        .into_iter()
        .filter_map(|w| w.file.map(|(rel, stamp)| (w.member.path, rel, stamp)))
        .collect())
}

/// The archive's strong ETag: a digest of the format and every member's path, mode and
/// version stamp.
fn etag_of(format: Format, walked: &[Walked]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format.extension());
    for w in walked {
        hasher.update((w.member.path.len() as u64).to_le_bytes());
        hasher.update(&w.member.path);
        hasher.update([u8::from(w.member.size.is_some())]);
        hasher.update(w.member.mode.to_le_bytes());
        let s = &w.stamp;
        for n in [s.dev, s.ino, s.size, s.mtime.0 as u64, u64::from(s.mtime.1)] {
            hasher.update(n.to_le_bytes());
        }
        hasher.update((s.ctime.0 as u64).to_le_bytes());
        hasher.update(s.ctime.1.to_le_bytes());
    }
    let sum = hasher.finalize();
    format!(
        "\"{}-{}\"",
        &format.extension()[1..].escape_ascii(),
        crate::http::format::hex(&sum[..12])
    )
}

/// Prepares the archive of `dir` (at `rel`, named `name`) in `format` for a request that came
/// at `asked` (blocking: run it on the blocking pool). A zip needs every member's CRC-32 from the
/// hasher: until all are known it is [`Prepared::Pending`] (and the missing ones are queued).
pub fn prepare(
    root: &Arc<Root>,
    dir: &Dir,
    format: Format,
    name: &[u8],
    digests: Option<&Arc<Digests>>,
    cache: &ArchiveCache,
    asked: Instant,
) -> io::Result<Prepared> {
    let key = (dir.rel().to_vec(), dir.within().to_vec(), format);
    if let Some(version) = cache.get(&key).filter(|v| v.fresh_for(asked)) {
        return Ok(Prepared::Ready(representation(&version, dir, name)));
    }
    let walk = cache.walk_lock(&key);
    let walked = {
        let _walking = walk.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // A walk that ran while this request waited answers it too.
        let cached = cache.get(&key);
        match cached.as_ref().filter(|v| v.fresh_for(asked)) {
            Some(version) => Ok(Walk::Ready(Arc::clone(version))),
            None => walk_version(
                root,
                dir,
                format,
                name,
                digests.map(|d| &**d),
                cached.as_deref(),
            )
            .inspect(|walked| {
                if let Walk::Ready(version) = walked {
                    cache.put(key.clone(), Arc::clone(version));
                }
            }),
        }
    };
    cache.walk_done(&key, walk);
    match walked? {
        Walk::Ready(version) => Ok(Prepared::Ready(representation(&version, dir, name))),
        Walk::Pending(bytes) => Ok(Prepared::Pending(bytes)),
    }
}

impl ArchiveCache {
    fn versions(&self) -> std::sync::MutexGuard<'_, Versions> {
        self.versions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(&self, key: &ArchiveKey) -> Option<Arc<Version>> {
        let mut versions = self.versions();
        versions.tick += 1;
        let tick = versions.tick;
        let (version, used) = versions.by_key.get_mut(key)?;
        *used = tick;
        Some(Arc::clone(version))
    }

    /// Caches `version`, then evicts the least recently used others while the members of all
    /// exceed [`CACHED_MEMBERS`].
    fn put(&self, key: ArchiveKey, version: Arc<Version>) {
        let mut versions = self.versions();
        versions.tick += 1;
        let (tick, size) = (versions.tick, version.files.files.len());
        if let Some((old, _)) = versions.by_key.insert(key.clone(), (version, tick)) {
            versions.members -= old.files.files.len();
        }
        versions.members += size;
        while versions.members > CACHED_MEMBERS && versions.by_key.len() > 1 {
            let Some(oldest) = versions
                .by_key
                .iter()
                .filter(|(k, _)| **k != key)
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((gone, _)) = versions.by_key.remove(&oldest) {
                versions.members -= gone.files.files.len();
            }
        }
    }

    /// The lock a walk of `key` runs under.
    fn walk_lock(&self, key: &ArchiveKey) -> Arc<Mutex<()>> {
        let mut walks = self.walks.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(walks.entry(key.clone()).or_default())
    }

    /// Forgets the walk lock of `key` when no other request holds it.
    fn walk_done(&self, key: &ArchiveKey, lock: Arc<Mutex<()>>) {
        let mut walks = self.walks.lock().unwrap_or_else(|p| p.into_inner());
        // Ours and the map's: nobody else waits on it.
        if Arc::strong_count(&lock) <= 2 {
            walks.remove(key);
        }
    }

    /// Members of all cached versions (for tests and the metrics).
    pub fn members(&self) -> usize {
        self.versions().members
    }
}

/// A walk's outcome.
enum Walk {
    Ready(Arc<Version>),
    /// A zip still waiting for this many bytes of CRC-32s.
    Pending(u64),
}

/// Walks the tree and builds its version (reusing `cached`'s layout when the ETag is the same).
fn walk_version(
    root: &Arc<Root>,
    dir: &Dir,
    format: Format,
    name: &[u8],
    digests: Option<&Digests>,
    cached: Option<&Version>,
) -> io::Result<Walk> {
    // Before the first stat: the tree it describes is at least this recent.
    let started = Instant::now();
    let top = match dir {
        Dir::Tree { fd, .. } => Stamp::of(&rustix::fs::fstat(fd)?),
        Dir::Files => return Err(io::ErrorKind::NotFound.into()),
    };
    let top_mode = match dir {
        Dir::Tree { fd, .. } => file_mode(&rustix::fs::fstat(fd)?),
        Dir::Files => 0o755,
    };
    let stem =
        names::member_segment(name.strip_suffix(format.extension()).unwrap_or(name)).into_owned();
    let mut walked = vec![Walked {
        member: Member {
            path: stem.clone(),
            size: None,
            mode: top_mode,
            mtime: top.mtime,
            crc32: 0,
        },
        file: None,
        stamp: top,
    }];
    let mut ancestors = HashSet::from([(top.dev, top.ino)]);
    walk(root, dir, &stem, &mut ancestors, &mut walked, MAX_MEMBERS)?;
    tracing::debug!(
        "walked {} members for {} in {:?}",
        walked.len(),
        String::from_utf8_lossy(name),
        started.elapsed()
    );
    if format == Format::Zip {
        let Some(digests) = digests else {
            return Err(io::ErrorKind::NotFound.into());
        };
        let wanted: Vec<(usize, Wanted)> = walked
            .iter()
            .enumerate()
            .filter_map(|(i, w)| {
                let (rel, stamp) = w.file.as_ref()?;
                Some((
                    i,
                    Wanted {
                        stamp: *stamp,
                        rel: rel.clone(),
                        name: String::from_utf8_lossy(rel).into_owned(),
                    },
                ))
            })
            .collect();
        let list: Vec<Wanted> = wanted.iter().map(|(_, w)| w.clone()).collect();
        let sums = digests.lookup_all(&list);
        let (mut missing, mut pending) = (0, 0);
        for ((index, want), sum) in wanted.iter().zip(sums) {
            match sum {
                Some(sums) => walked[*index].member.crc32 = sums.crc32,
                None => {
                    missing += 1;
                    pending += want.stamp.size;
                }
            }
        }
        if missing > 0 {
            return Ok(Walk::Pending(pending));
        }
    }
    let etag = etag_of(format, &walked);
    let layout = match cached {
        Some(version) if version.etag == etag => Arc::clone(&version.layout),
        _ => {
            let members: Vec<Member> = walked.iter().map(|w| w.member.clone()).collect();
            Arc::new(match format {
                Format::Tar => archive::tar::layout(&members),
                Format::Zip => archive::zip::layout(&members),
            })
        }
    };
    let newest = walked
        .iter()
        .map(|w| w.stamp.modified())
        .max()
        .unwrap_or(UNIX_EPOCH);
    let version = Arc::new(Version {
        etag,
        layout,
        files: Arc::new(MemberFiles {
            root: Arc::clone(root),
            within: dir.within().to_vec(),
            files: walked.into_iter().map(|w| w.file).collect(),
            stale: AtomicBool::new(false),
        }),
        newest,
        top,
        walk_started: started,
    });
    Ok(Walk::Ready(version))
}

/// A request's representation of a walked version.
fn representation(version: &Version, dir: &Dir, name: &[u8]) -> Representation {
    let mut rel = dir.rel().to_vec();
    if !rel.is_empty() {
        rel.push(b'/');
    }
    rel.extend_from_slice(name);
    let files: Arc<dyn Members> = version.files.clone();
    Representation {
        len: version.layout.len(),
        layout: Some(Arc::clone(&version.layout)),
        source: Source::Members(files),
        modified: version.newest,
        etag: version.etag.clone(),
        also: None,
        stamp: version.top,
        links: 1,
        identity: Arc::new(FileIdentity::new(rel, name)),
    }
}
