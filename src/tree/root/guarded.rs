//! The guarded open below a directory root: `openat2(RESOLVE_BENEATH)` (the kernel refuses any
//! way out), the one-by-one resolution after `EXDEV` (an absolute symlink that stays inside),
//! and the check of where the path really led (`links::allowed`: no hidden target, nothing out
//! of a signed folder link's folder).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::{TreeRoot, as_path};
use crate::fs::cached_io;
use crate::tree::links;

/// An `O_PATH` handle opened below a tree root, and whether a symlink was on the way.
pub(crate) struct Opened {
    pub fd: OwnedFd,
    pub linked: bool,
}

impl TreeRoot {
    /// `O_PATH` open of `rel` below the root. `Ok(None)`: would block (only when not blocking)
    /// or leads outside the root. Without `--follow-symlinks`, what it resolved to must also be
    /// [`links::allowed`] (no hidden target, inside `within`), else it is not found; the result
    /// says whether a symlink was on the way (its handle is then never kept: a kept handle is
    /// reused by path, without this check).
    pub(crate) fn open_path(
        &self,
        rel: &[u8],
        blocking: bool,
        within: &[u8],
    ) -> io::Result<Option<Opened>> {
        let path = as_path(rel);
        let flags = OFlags::PATH | OFlags::CLOEXEC;
        let resolve = self.resolve_flags();
        let fd = if !blocking {
            match cached_io::try_open_at(&self.fd, path, flags, resolve) {
                Ok(Some(fd)) => fd,
                // EXDEV may be an absolute symlink that stays inside: decide that off the runtime.
                Err(err) if err.raw_os_error() == Some(Errno::XDEV.raw_os_error()) => {
                    return Ok(None);
                }
                Ok(None) => return Ok(None),
                Err(err) => return Err(err),
            }
        } else {
            match rustix::fs::openat2(&self.fd, path, flags, Mode::empty(), resolve) {
                Ok(fd) => fd,
                Err(Errno::XDEV) => match self.open_through_absolute_links(rel)? {
                    Some(fd) => fd,
                    None => return Ok(None),
                },
                Err(errno) => return Err(errno.into()),
            }
        };
        if self.follow_symlinks {
            return Ok(Some(Opened { fd, linked: false }));
        }
        let Ok(real) = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())) else {
            // No /proc: where it led cannot be told; the kernel's guard still kept it inside.
            return Ok(Some(Opened { fd, linked: false }));
        };
        let real = real.as_os_str().as_bytes();
        let root = self.path.as_os_str().as_bytes();
        let real_rel = match real.strip_prefix(root) {
            Some(b"") => &b""[..],
            Some(rest) => match rest.strip_prefix(b"/") {
                Some(rest) => rest,
                None => return Ok(None),
            },
            None => return Ok(None),
        };
        if real_rel == rel {
            return Ok(Some(Opened { fd, linked: false }));
        }
        if !links::allowed(real_rel, self.hidden, within) {
            return Err(Errno::NOENT.into());
        }
        Ok(Some(Opened { fd, linked: true }))
    }

    /// After `EXDEV`: resolves `rel`'s symlinks one by one (see [`links::resolve`]: each must
    /// lead inside the root, absolute ones included), then opens what it resolved to under the
    /// usual guard. `None`: a symlink on the way leads outside.
    fn open_through_absolute_links(&self, rel: &[u8]) -> io::Result<Option<OwnedFd>> {
        let root = self.path.as_os_str().as_bytes();
        let resolved = links::resolve(root, rel, |prefix| {
            match rustix::fs::readlinkat(&self.fd, as_path(prefix), Vec::new()) {
                Ok(target) => links::Step::Link(target.into_bytes()),
                Err(Errno::INVAL) => links::Step::NotLink,
                Err(_) => links::Step::Missing,
            }
        });
        let Some(resolved) = resolved else {
            return Ok(None);
        };
        let flags = OFlags::PATH | OFlags::CLOEXEC;
        match rustix::fs::openat2(
            &self.fd,
            as_path(&resolved),
            flags,
            Mode::empty(),
            self.resolve_flags(),
        ) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::XDEV) => Ok(None),
            Err(errno) => Err(errno.into()),
        }
    }
}
