//! A directory's entries as read from disk (blocking: run on the blocking pool): each servable
//! entry with its stamp and mode, hidden names and what is neither a file nor a directory left
//! out; and the walk that finds the largest file for the banner.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, OFlags};

use crate::fs::stamp::{Stamp, file_mode, file_type};
use crate::tree::listing::{Entry, Kind};
use crate::tree::named::NamedFile;
use crate::tree::root::{Dir, Root, TreeRoot};
use crate::tree::route::Found;

/// An entry as read from a directory, with what the hasher and the archives need.
#[derive(Debug, Clone)]
pub struct Listed {
    pub entry: Entry,
    /// Its version stamp (of the target, for a followed symlink).
    pub stamp: Stamp,
    /// Permission bits.
    pub mode: u32,
    /// Its path relative to the root.
    pub rel: Vec<u8>,
}

impl Listed {
    pub fn is_file(&self) -> bool {
        matches!(self.entry.kind, Kind::File { .. })
    }
}

impl Root {
    /// The servable entries of a directory (blocking: run it on the blocking pool), unsorted.
    pub fn entries(&self, dir: &Dir) -> io::Result<Vec<Listed>> {
        self.entries_at_most(dir, usize::MAX)
    }

    /// [`Root::entries`], at most `limit` of them (in the directory's own order).
    pub fn entries_at_most(&self, dir: &Dir, limit: usize) -> io::Result<Vec<Listed>> {
        match (self, dir) {
            (Root::Tree(tree), Dir::Tree { fd, rel, within }) => {
                tree.entries(fd, rel, within, limit)
            }
            (Root::Files(files), _) => Ok(files.iter().filter_map(listed_named).collect()),
            (Root::Tree(_), Dir::Files) => Ok(Vec::new()),
        }
    }

    /// The largest file among the first `limit` entries of a breadth-first walk (for the
    /// banner; blocking): its relative path and size.
    pub fn largest_file(&self, limit: usize) -> Option<(Vec<u8>, u64)> {
        let mut largest: Option<(Vec<u8>, u64)> = None;
        let mut pending = std::collections::VecDeque::from([Vec::new()]);
        let mut seen = 0;
        while let Some(rel) = pending.pop_front() {
            let Found::Dir(dir) = self.lookup(&rel, true) else {
                continue;
            };
            for item in self
                .entries_at_most(&dir, limit.saturating_sub(seen) + 1)
                .unwrap_or_default()
            {
                seen += 1;
                if seen > limit {
                    return largest;
                }
                let mut child = rel.clone();
                if !child.is_empty() {
                    child.push(b'/');
                }
                child.extend_from_slice(&item.entry.name);
                match item.entry.kind {
                    Kind::Dir => pending.push_back(child),
                    Kind::File { size } => {
                        if largest.as_ref().is_none_or(|(_, most)| size > *most) {
                            largest = Some((child, size));
                        }
                    }
                }
            }
        }
        largest
    }
}

impl TreeRoot {
    fn entries(
        &self,
        dir_fd: &OwnedFd,
        rel: &[u8],
        within: &[u8],
        limit: usize,
    ) -> io::Result<Vec<Listed>> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NONBLOCK;
        let dir = self.reopen(dir_fd, rel, flags)?;
        let mut listed = Vec::new();
        for item in rustix::fs::Dir::read_from(&dir)? {
            if listed.len() >= limit {
                break;
            }
            let item = item?;
            let name = item.file_name().to_bytes();
            if name == b"." || name == b".." || (!self.hidden && name.first() == Some(&b'.')) {
                continue;
            }
            let mut child_rel = rel.to_vec();
            if !child_rel.is_empty() {
                child_rel.push(b'/');
            }
            child_rel.extend_from_slice(name);
            let Some(stat) = self.entry_stat(&dir, name, &child_rel, within) else {
                continue;
            };
            let stamp = Stamp::of(&stat);
            let kind = match file_type(&stat) {
                FileType::Directory => Kind::Dir,
                FileType::RegularFile => Kind::File { size: stamp.size },
                _ => continue,
            };
            listed.push(Listed {
                entry: Entry {
                    name: name.to_vec(),
                    kind,
                    modified: stamp.modified(),
                    sha256: None,
                    magnet: crate::tree::listing::Magnet::None,
                },
                stamp,
                mode: file_mode(&stat),
                rel: child_rel,
            });
        }
        Ok(listed)
    }

    /// The metadata an entry is listed with: its own, or for a symlink its target's when the
    /// rules allow following it — inside the root, not hidden, inside `within` (`None`: not
    /// listed, as it would not be served).
    fn entry_stat(
        &self,
        dir: &OwnedFd,
        name: &[u8],
        rel: &[u8],
        within: &[u8],
    ) -> Option<rustix::fs::Stat> {
        let name = Path::new(OsStr::from_bytes(name));
        let own = rustix::fs::statat(dir.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        if file_type(&own) != FileType::Symlink {
            return Some(own);
        }
        if self.follow_symlinks {
            return rustix::fs::statat(dir.as_fd(), name, AtFlags::empty()).ok();
        }
        let opened = self.open_path(rel, true, within).ok()??;
        rustix::fs::fstat(&opened.fd).ok()
    }
}

fn listed_named(file: &NamedFile) -> Option<Listed> {
    let stat = rustix::fs::stat(&file.path).ok()?;
    if file_type(&stat) != FileType::RegularFile {
        return None;
    }
    let stamp = Stamp::of(&stat);
    Some(Listed {
        entry: Entry {
            name: file.identity.name.clone(),
            kind: Kind::File { size: stamp.size },
            modified: stamp.modified(),
            sha256: None,
            magnet: crate::tree::listing::Magnet::None,
        },
        stamp,
        mode: file_mode(&stat),
        rel: file.identity.rel.clone(),
    })
}
