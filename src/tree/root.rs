//! The root of what is served, and the I/O of looking things up below it: a directory handle
//! (`--dir`) or a set of named files (`--file`, repeatable).
//!
//! Below a directory root, the kernel is the guard: every path is resolved relative to the
//! root's handle with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`, so no `..`, symlink
//! or race can reach outside it (`EXDEV`). A symlink whose target lies inside the root is
//! followed; after `EXDEV`, the path's symlinks are resolved one by one (`links::resolve`), so
//! an absolute one that stays inside is followed and a path that passes outside at any step is
//! refused. Where a path led (`/proc/self/fd` says) must also be `links::allowed`: no hidden
//! target, nothing out of a signed folder link's folder. `--follow-symlinks` drops
//! `RESOLVE_BENEATH` and these checks (the route's string checks still refuse `..`).
//!
//! A path is first opened `O_PATH`, which opens nothing (no FIFO blocks, no device sees an
//! open); only a regular file is then reopened for reading, through its `/proc/self/fd` link,
//! and only a directory for listing. FIFOs, sockets and devices are neither listed nor opened.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::body::Source;
use crate::fs::cached_io;
use crate::fs::stamp::{Stamp, file_type};
use crate::representation::{FileIdentity, Representation};
use crate::tree::handles::{Cached, Handles};
use crate::tree::named::NamedFile;
use crate::tree::route::{Found, Rules};

mod guarded;
use guarded::Opened;

/// What a request is resolved against.
#[derive(Debug)]
pub enum Root {
    /// `--dir`: the tree below a directory.
    Tree(TreeRoot),
    /// `--file`, once or more: each file at `/<its name>`; with one file, also at `/`.
    Files(Vec<NamedFile>),
}

/// A directory served with everything below it.
#[derive(Debug)]
pub struct TreeRoot {
    /// `O_PATH | O_DIRECTORY` handle on the root: every lookup starts here.
    fd: OwnedFd,
    /// The root's canonical path (for logs, and to check where an absolute symlink led).
    pub path: PathBuf,
    pub hidden: bool,
    pub follow_symlinks: bool,
    /// Open handles of unchanged files, by relative path.
    handles: Handles,
}

/// A directory found by a lookup.
#[derive(Debug)]
pub enum Dir {
    /// A directory below a tree root: its `O_PATH` handle, its path relative to the root, and
    /// the folder its entries' symlinks must stay inside (a signed folder link's; empty: the
    /// root).
    Tree {
        fd: OwnedFd,
        rel: Vec<u8>,
        within: Vec<u8>,
    },
    /// The root of a set of named files (served as a listing when there are several).
    Files,
}

impl Dir {
    /// Another handle on the same directory.
    pub fn try_clone(&self) -> io::Result<Dir> {
        Ok(match self {
            Dir::Tree { fd, rel, within } => Dir::Tree {
                fd: fd.try_clone()?,
                rel: rel.clone(),
                within: within.clone(),
            },
            Dir::Files => Dir::Files,
        })
    }

    /// The directory's path relative to the root (empty for the root).
    pub fn rel(&self) -> &[u8] {
        match self {
            Dir::Tree { rel, .. } => rel,
            Dir::Files => b"",
        }
    }

    /// The folder symlinks below it must stay inside (see [`Dir::Tree`]).
    pub fn within(&self) -> &[u8] {
        match self {
            Dir::Tree { within, .. } => within,
            Dir::Files => b"",
        }
    }
}

/// A lookup's outcome.
pub type Lookup = Found<Representation, Dir>;

impl Root {
    /// Opens `path` as a directory root. A missing path, a file, or an unreadable directory is
    /// an error (the caller names the path).
    /// `open_files` bounds the handles kept open between requests (0: none).
    pub fn tree(
        path: &Path,
        hidden: bool,
        follow_symlinks: bool,
        open_files: usize,
    ) -> io::Result<Root> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|errno| match errno {
            Errno::NOTDIR => io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
            other => other.into(),
        })?;
        // Reading it is what a listing does: refuse an unreadable root now, not per request.
        rustix::fs::Dir::read_from(&fd)?;
        let path = std::fs::canonicalize(path)?;
        Ok(Root::Tree(TreeRoot {
            fd,
            path,
            hidden,
            follow_symlinks,
            handles: Handles::new(open_files),
        }))
    }

    /// The rules the route applies for this root.
    pub fn rules(&self, checksums: bool) -> Rules<'_> {
        Rules {
            hidden: matches!(self, Root::Tree(t) if t.hidden),
            checksums,
            root_name: self.name(),
        }
    }

    /// The root directory's own name (names its archives); empty for named files.
    pub fn name(&self) -> &[u8] {
        match self {
            Root::Tree(tree) => tree.path.file_name().map_or(b"root", |n| n.as_bytes()),
            Root::Files(_) => b"",
        }
    }

    /// Looks up `rel` (a checked relative path, `/`-separated; empty for the root). With
    /// `blocking` false it only does what the kernel's caches can answer, else says
    /// `WouldBlock`; with `blocking` true it may wait for the disk (blocking pool only).
    pub fn lookup(&self, rel: &[u8], blocking: bool) -> Lookup {
        self.lookup_keeping(rel, b"", blocking, true)
    }

    /// [`Root::lookup`] for a request under a signed folder link for `within`: a symlink on
    /// the way must lead inside that folder (see `links`).
    pub fn lookup_within(&self, rel: &[u8], within: &[u8], blocking: bool) -> Lookup {
        self.lookup_keeping(rel, within, blocking, true)
    }

    /// [`Root::lookup`]; `keep` false leaves the kept handles alone (a background reader's
    /// opens must not fill them, nor put back a handle on a file deleted meanwhile).
    ///
    /// Out of descriptors, the kept handles are closed and the lookup tried once more.
    fn lookup_keeping(&self, rel: &[u8], within: &[u8], blocking: bool, keep: bool) -> Lookup {
        let once = || match self {
            Root::Tree(tree) => tree.lookup(rel, within, blocking, keep),
            Root::Files(files) => lookup_named(files, rel, blocking, keep),
        };
        match once() {
            Found::Failed(err) if crate::error::out_of_descriptors(&err) => {
                self.forget_handles();
                once()
            }
            found => found,
        }
    }

    /// [`Root::lookup`] without keeping the handle it opens (an archive's members: a response
    /// holds one at a time and closes it when done with it).
    pub fn lookup_unkept(&self, rel: &[u8], within: &[u8], blocking: bool) -> Lookup {
        self.lookup_keeping(rel, within, blocking, false)
    }

    /// Runs `op`; out of descriptors, closes the kept handles and runs it once more.
    pub fn retrying<T>(&self, mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
        match op() {
            Err(err) if crate::error::out_of_descriptors(&err) => {
                self.forget_handles();
                op()
            }
            done => done,
        }
    }

    /// Closes the kept handles of files that have lost their last name (an unlinked file's
    /// space is freed only when its last descriptor closes). Cheap: an `fstat` per kept handle.
    pub fn close_unlinked(&self) -> usize {
        match self {
            Root::Tree(tree) => tree.handles.close_unlinked(),
            Root::Files(files) => files.iter().map(|f| f.handle.close_unlinked()).sum(),
        }
    }

    /// Closes every kept handle (when no connection is left: an idle server holds no file open,
    /// so a deleted file's space is freed and a filesystem can be unmounted).
    pub fn forget_handles(&self) {
        match self {
            Root::Tree(tree) => tree.handles.clear(),
            Root::Files(files) => files.iter().for_each(|f| f.handle.clear()),
        }
    }

    /// The absolute path of the file at `rel` (for the digest store's lines; not for opening:
    /// opens go through the guarded lookups).
    pub fn absolute(&self, rel: &[u8]) -> Option<PathBuf> {
        match self {
            Root::Tree(tree) => Some(tree.path.join(as_path(rel))),
            Root::Files(files) => files
                .iter()
                .find(|f| f.identity.rel == rel)
                .map(|f| f.path.clone()),
        }
    }

    /// Opens the file at `rel` for hashing (blocking).
    pub fn open_file(&self, rel: &[u8]) -> io::Result<File> {
        match self.lookup_keeping(rel, b"", true, false) {
            Found::File(rep) => match rep.source {
                Source::File(file) => Arc::try_unwrap(file).or_else(|file| file.try_clone()),
                Source::Members(_) | Source::Document(_) => Err(io::ErrorKind::InvalidInput.into()),
            },
            Found::Failed(err) => Err(err),
            _ => Err(io::ErrorKind::NotFound.into()),
        }
    }
}

/// `rel` as a path for the `*at` calls: `.` for the root.
fn as_path(rel: &[u8]) -> &Path {
    if rel.is_empty() {
        Path::new(".")
    } else {
        Path::new(OsStr::from_bytes(rel))
    }
}

/// The last segment of a relative path.
fn last_segment(rel: &[u8]) -> &[u8] {
    rel.rsplit(|&b| b == b'/').next().unwrap_or(rel)
}

impl TreeRoot {
    /// Reopens `fd`, the `O_PATH` handle of `rel`, with real access `flags`, through its
    /// `/proc/self/fd` link (a check of permissions as for an open by path). Without `/proc`,
    /// `rel` is opened again below the root, under the same guard.
    pub(super) fn reopen(&self, fd: &OwnedFd, rel: &[u8], flags: OFlags) -> io::Result<OwnedFd> {
        let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
        match rustix::fs::open(link.as_str(), flags | OFlags::CLOEXEC, Mode::empty()) {
            Ok(opened) => Ok(opened),
            Err(Errno::NOENT) => Ok(rustix::fs::openat2(
                &self.fd,
                as_path(rel),
                flags,
                Mode::empty(),
                self.resolve_flags(),
            )?),
            Err(errno) => Err(errno.into()),
        }
    }

    pub(super) fn resolve_flags(&self) -> ResolveFlags {
        if self.follow_symlinks {
            ResolveFlags::NO_MAGICLINKS
        } else {
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS
        }
    }

    fn lookup(&self, rel: &[u8], within: &[u8], blocking: bool, keep_handle: bool) -> Lookup {
        // Without RESOLVE_BENEATH (--follow-symlinks) the kernel would walk `..`: refuse it here
        // too, whatever the caller checked.
        if self.follow_symlinks
            && (rel.first() == Some(&b'/') || rel.split(|&b| b == b'/').any(|s| s == b".."))
        {
            return Found::Missing;
        }
        // A kept handle is reused by a `statx` of the path, which follows symlinks without the
        // checks below: under a folder link (where a symlink swapped in later must not lead out
        // of the folder), every lookup goes the guarded way.
        if within.is_empty()
            && let Some(found) = self.cached(rel)
        {
            return found;
        }
        let looked = SystemTime::now();
        let Opened { fd, linked } = match self.open_path(rel, blocking, within) {
            Ok(Some(opened)) => opened,
            Ok(None) if blocking => return Found::Missing,
            Ok(None) => return Found::WouldBlock,
            Err(err) => return missing_or_failed(err),
        };
        let stat = match rustix::fs::fstat(&fd) {
            Ok(stat) => stat,
            Err(errno) => return Found::Failed(errno.into()),
        };
        match file_type(&stat) {
            FileType::Directory => Found::Dir(Dir::Tree {
                fd,
                rel: rel.to_vec(),
                within: within.to_vec(),
            }),
            FileType::RegularFile => {
                let flags = cached_io::open_flags() | OFlags::NOCTTY;
                let opened = self.reopen(&fd, rel, flags);
                let identity = Arc::new(FileIdentity::new(rel.to_vec(), last_segment(rel)));
                // The reopened handle is the same inode: the O_PATH handle's stat describes it
                // (unless /proc was missing and the path changed in between: check that case).
                let built = opened.and_then(|file| {
                    let file = File::from(file);
                    let same = rustix::fs::fstat(&file)?;
                    Representation::from_stat(file, &same, identity)
                });
                found_file(&self.handles, rel, keep_handle && !linked, looked, built)
            }
            _ => Found::Missing,
        }
    }

    /// The cached handle of `rel`, if it has one and the path's stamp is still its own.
    fn cached(&self, rel: &[u8]) -> Option<Lookup> {
        if rel.is_empty() {
            return None;
        }
        let kept = self.handles.kept(rel)?;
        reuse(
            &self.handles,
            rel,
            kept,
            rustix::fs::statat(&self.fd, as_path(rel), AtFlags::empty()),
        )
    }
}

/// A failed open: gone, not a directory on the way, a symlink loop or leading outside → not
/// found (no reason given to the client); anything else → the error.
fn missing_or_failed(err: io::Error) -> Lookup {
    let missing = [
        Errno::NOENT,
        Errno::NOTDIR,
        Errno::LOOP,
        Errno::XDEV,
        Errno::NAMETOOLONG,
    ];
    match err.raw_os_error() {
        Some(code) if missing.iter().any(|e| e.raw_os_error() == code) => Found::Missing,
        _ if err.kind() == io::ErrorKind::InvalidInput => Found::Missing,
        _ => Found::Failed(err),
    }
}

/// Reuses `kept`, the cached handle of `key`, if `stat` (of its path, now) shows the same version.
fn reuse(
    handles: &Handles,
    key: &[u8],
    kept: Cached,
    stat: rustix::io::Result<rustix::fs::Stat>,
) -> Option<Lookup> {
    let stat = match stat {
        Ok(stat) if file_type(&stat) == FileType::RegularFile => stat,
        _ => {
            // Gone or no longer a file: forget it and look it up the usual way.
            handles.remove(key);
            return None;
        }
    };
    let cached = handles.check(key, kept, &Stamp::of(&stat))?;
    match Representation::from_tagged(cached.file, &stat, cached.identity, cached.etag) {
        Ok(rep) => Some(Found::File(rep)),
        Err(_) => None,
    }
}

/// The lookup of a freshly opened file; its handle is kept for the next request when
/// `keep_handle` and the version has settled (its times are not within the racy window of
/// `looked`, taken before its `stat`: see `Stamp::unsettled_for`). A handle kept for a version
/// a same-tick write could still change would be reused, by its unchanged stamp, for bytes
/// that are no longer that version.
fn found_file(
    handles: &Handles,
    key: &[u8],
    keep_handle: bool,
    looked: SystemTime,
    opened: io::Result<Representation>,
) -> Lookup {
    match opened {
        Ok(rep) => {
            if keep_handle
                && rep.stamp.unsettled_for(looked).is_none()
                && let Source::File(file) = &rep.source
            {
                let cached = Cached::new(Arc::clone(file), rep.stamp, Arc::clone(&rep.identity));
                handles.put(key, cached);
            }
            Found::File(rep)
        }
        Err(err) => missing_or_failed(err),
    }
}

fn lookup_named(files: &[NamedFile], rel: &[u8], blocking: bool, keep_handle: bool) -> Lookup {
    let named = match (files, rel) {
        ([only], b"") => only,
        (_, b"") => return Found::Dir(Dir::Files),
        _ => match files.iter().find(|f| f.identity.rel == rel) {
            Some(file) => file,
            None => return Found::Missing,
        },
    };
    let key = &named.identity.rel;
    if let Some(kept) = named.handle.kept(key)
        && let Some(found) = reuse(&named.handle, key, kept, rustix::fs::stat(&named.path))
    {
        return found;
    }
    let identity = Arc::clone(&named.identity);
    let looked = SystemTime::now();
    let opened = if blocking {
        Representation::open(&named.path, identity)
    } else {
        match cached_io::try_open(&named.path) {
            Ok(Some(file)) => Representation::from_file(file, identity),
            Ok(None) => return Found::WouldBlock,
            Err(err) => Err(err),
        }
    };
    found_file(&named.handle, key, keep_handle, looked, opened)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, tempfile::TempDir, Root) {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"secret").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a.txt"), b"a").unwrap();
        std::fs::write(root.join(".dot"), b"dot").unwrap();
        symlink("sub/a.txt", root.join("inside")).unwrap();
        symlink(root.join("sub/a.txt"), root.join("absolute-inside")).unwrap();
        symlink(outside.path().join("secret"), root.join("escape")).unwrap();
        symlink("../../../../../../../../../etc/passwd", root.join("sub/up")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let served = Root::tree(root, false, false, 16).unwrap();
        (dir, outside, served)
    }

    fn kind(root: &Root, rel: &[u8]) -> &'static str {
        match root.lookup(rel, true) {
            Found::File(_) => "file",
            Found::Dir(_) => "dir",
            Found::Missing => "missing",
            Found::Failed(_) => "failed",
            Found::WouldBlock => "would block",
        }
    }

    #[test]
    fn the_kernel_stops_what_the_string_checks_would_not_see() {
        let (_dir, _outside, root) = tree();
        assert_eq!(kind(&root, b""), "dir");
        assert_eq!(kind(&root, b"sub"), "dir");
        assert_eq!(kind(&root, b"sub/a.txt"), "file");
        assert_eq!(kind(&root, b"inside"), "file");
        assert_eq!(kind(&root, b"absolute-inside"), "file");
        assert_eq!(kind(&root, b"escape"), "missing");
        assert_eq!(kind(&root, b"sub/up"), "missing");
        assert_eq!(kind(&root, b"fifo"), "missing", "a FIFO is never opened");
        // Paths the route would refuse, handed straight to the lookup: the kernel refuses them.
        assert_eq!(kind(&root, b".."), "missing");
        assert_eq!(kind(&root, b"sub/../../etc/passwd"), "missing");
        assert_eq!(kind(&root, b"/etc/passwd"), "missing");
    }

    #[test]
    fn follow_symlinks_follows_links_that_leave_the_root() {
        let (dir, _outside, _) = tree();
        let root = Root::tree(dir.path(), false, true, 16).unwrap();
        assert_eq!(kind(&root, b"escape"), "file");
        assert_eq!(kind(&root, b"sub/a.txt"), "file");
        assert_eq!(kind(&root, b"sub/../../etc/passwd"), "missing");
        assert_eq!(kind(&root, b"/etc/passwd"), "missing");
    }

    #[test]
    fn listings_skip_hidden_fifos_and_escaping_links() {
        let (_dir, _outside, root) = tree();
        let Found::Dir(dir) = root.lookup(b"", true) else {
            panic!("root is a directory")
        };
        let mut names: Vec<_> = root
            .entries(&dir)
            .unwrap()
            .into_iter()
            .map(|l| String::from_utf8(l.entry.name).unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["absolute-inside", "inside", "sub"]);
    }

    #[test]
    fn a_file_root_is_refused_as_not_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"").unwrap();
        let err = Root::tree(&dir.path().join("f"), false, false, 16).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotADirectory);
        let err = Root::tree(&dir.path().join("missing"), false, false, 16).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
