//! A folder as one archive: the I/O around the pure `archive` module. Walks the visible tree
//! below a directory (the listing's rules: hidden names, symlinks, no FIFOs), turns it into
//! members, and serves it as a normal [`Representation`] whose ETag is derived from every
//! member's version stamp, so any member added, removed or changed makes a new ETag.
//!
//! The layout (member offsets and framing) is computed once per archive version and cached; the
//! walk, a `statx` per entry, is what tells whether the version is still the same. While the
//! body streams, each member is opened when reached and must still have the stamp the archive
//! announced, at its open and when its last byte is read: a member that changed cuts the
//! connection, as a truncated file does, so no archive that claims success mixes versions.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use crate::archive::{self, Format, Layout, Member};
use crate::body::{Members, Source};
use crate::digest::{Digests, Wanted};
use crate::representation::{FileIdentity, Representation, Stamp, file_mode};
use crate::tree::listing::Kind;
use crate::tree::root::{Dir, Root};
use crate::tree::route::Found;

/// Most members one archive may have (a guard against walking an endless tree).
pub const MAX_MEMBERS: usize = 1_000_000;
/// Archive layouts kept (each is about 0.6 KiB per member).
const CACHED_LAYOUTS: usize = 32;

/// An archive's key: the directory's path below the root, and the format.
type ArchiveKey = (Vec<u8>, Format);

/// Layouts by archive, each with the ETag of the version it was computed for.
#[derive(Debug, Default)]
pub struct ArchiveCache {
    layouts: Mutex<HashMap<ArchiveKey, (String, Arc<Layout>)>>,
}

/// What preparing an archive gives.
#[derive(Debug)]
pub enum Prepared {
    Ready(Representation),
    /// A zip whose members' CRC-32s are not all known yet: this many bytes are still to hash.
    Pending(u64),
}

/// The member files of one archive version, opened through the root as the body reaches them.
pub struct MemberFiles {
    root: Arc<Root>,
    /// By member index: the file's path below the root and the stamp announced (`None` for a
    /// directory).
    files: Vec<Option<(Vec<u8>, Stamp)>>,
}

impl MemberFiles {
    fn expected(&self, index: usize) -> io::Result<&(Vec<u8>, Stamp)> {
        self.files
            .get(index)
            .and_then(Option::as_ref)
            .ok_or_else(|| io::Error::other("no such archive member"))
    }

    fn changed(rel: &[u8]) -> io::Error {
        io::Error::other(format!(
            "archive member '{}' changed since the archive was announced",
            String::from_utf8_lossy(rel)
        ))
    }

    fn opened(
        &self,
        index: usize,
        found: Found<Representation, Dir>,
    ) -> io::Result<Option<Arc<File>>> {
        let (rel, stamp) = self.expected(index)?;
        match found {
            Found::File(rep) if rep.stamp == *stamp => match rep.source {
                Source::File(file) => Ok(Some(file)),
                Source::Members(_) => Err(Self::changed(rel)),
            },
            Found::WouldBlock => Ok(None),
            Found::Failed(err) => Err(err),
            _ => Err(Self::changed(rel)),
        }
    }
}

impl Members for MemberFiles {
    fn try_open(&self, index: usize) -> io::Result<Option<Arc<File>>> {
        let (rel, _) = self.expected(index)?;
        self.opened(index, self.root.lookup(rel, false))
    }

    fn open(&self, index: usize) -> io::Result<Arc<File>> {
        let (rel, _) = self.expected(index)?;
        self.opened(index, self.root.lookup(rel, true))?
            .ok_or_else(|| Self::changed(rel))
    }

    fn check(&self, index: usize, file: &File) -> io::Result<()> {
        let (rel, stamp) = self.expected(index)?;
        let now = Stamp::of(&rustix::fs::fstat(file)?);
        if now == *stamp {
            Ok(())
        } else {
            Err(Self::changed(rel))
        }
    }
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
) -> io::Result<()> {
    let mut entries = root.entries(dir)?;
    entries.sort_by(|a, b| a.entry.name.cmp(&b.entry.name));
    for item in entries {
        if out.len() >= MAX_MEMBERS {
            return Err(io::Error::other(format!(
                "more than {MAX_MEMBERS} entries: too many for one archive"
            )));
        }
        let mut path = prefix.to_vec();
        path.push(b'/');
        path.extend_from_slice(&item.entry.name);
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
                out.push(Walked {
                    member,
                    file: None,
                    stamp: item.stamp,
                });
                if let Found::Dir(child) = root.lookup(&item.rel, true) {
                    walk(root, &child, &path, ancestors, out)?;
                }
                ancestors.remove(&key);
            }
        }
    }
    Ok(())
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
        crate::digest::hex(&sum[..12])
    )
}

/// Prepares the archive of `dir` (at `rel`, named `name`) in `format` (blocking: run it on the
/// blocking pool). A zip needs every member's CRC-32 from the hasher: until all are known it is
/// [`Prepared::Pending`] (and the missing ones are queued).
pub fn prepare(
    root: &Arc<Root>,
    dir: &Dir,
    format: Format,
    name: &[u8],
    digests: Option<&Digests>,
    cache: &ArchiveCache,
) -> io::Result<Prepared> {
    let top = match dir {
        Dir::Tree { fd, .. } => Stamp::of(&rustix::fs::fstat(fd)?),
        Dir::Files => return Err(io::ErrorKind::NotFound.into()),
    };
    let top_mode = match dir {
        Dir::Tree { fd, .. } => file_mode(&rustix::fs::fstat(fd)?),
        Dir::Files => 0o755,
    };
    let stem = name
        .strip_suffix(format.extension())
        .unwrap_or(name)
        .to_vec();
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
    walk(root, dir, &stem, &mut ancestors, &mut walked)?;
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
            return Ok(Prepared::Pending(pending));
        }
    }
    let etag = etag_of(format, &walked);
    let dir_rel = dir.rel().to_vec();
    let layout = {
        let mut layouts = cache
            .layouts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match layouts.get(&(dir_rel.clone(), format)) {
            Some((tag, layout)) if *tag == etag => Arc::clone(layout),
            _ => {
                let members: Vec<Member> = walked.iter().map(|w| w.member.clone()).collect();
                let layout = Arc::new(match format {
                    Format::Tar => archive::tar::layout(&members),
                    Format::Zip => archive::zip::layout(&members),
                });
                if layouts.len() >= CACHED_LAYOUTS {
                    layouts.clear();
                }
                layouts.insert((dir_rel, format), (etag.clone(), Arc::clone(&layout)));
                layout
            }
        }
    };
    let newest = walked
        .iter()
        .map(|w| w.stamp.modified())
        .max()
        .unwrap_or(UNIX_EPOCH);
    let files = MemberFiles {
        root: Arc::clone(root),
        files: walked.into_iter().map(|w| w.file).collect(),
    };
    let mut rel = dir.rel().to_vec();
    if !rel.is_empty() {
        rel.push(b'/');
    }
    rel.extend_from_slice(name);
    Ok(Prepared::Ready(Representation {
        len: layout.len(),
        layout: Some(layout),
        source: Source::Members(Arc::new(files)),
        modified: newest.min(SystemTime::now().max(newest)),
        etag,
        stamp: top,
        identity: Arc::new(FileIdentity::new(rel, name)),
    }))
}
