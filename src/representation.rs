//! What one served file is: its fixed facts ([`FileIdentity`]: name, type, disposition), its
//! version stamp ([`Stamp`]), and one opened version of it per request ([`Representation`]:
//! handle, length, modification time, ETag).
//!
//! Every request opens the path anew and reads the metadata from that handle (`fstat`), or reuses
//! a kept handle whose stamp equals what a `statx` of the path finds now (`tree::handles`), so the
//! validators, the status, the lengths and the bytes of one response all describe one version,
//! even if the file is replaced by rename while the response streams. Opening is done inline when
//! the kernel can do it from its caches (see `cached_io`), else on the blocking pool.

use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::header::HeaderValue;
use rustix::fs::{FileType, Stat};

use crate::archive::Layout;
use crate::body::Source;
use crate::headers;
use crate::tree::handles::Handles;

impl std::fmt::Debug for Representation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Representation")
            .field("len", &self.len)
            .field("etag", &self.etag)
            .field("name", &self.identity.display_name)
            .field("archive", &self.layout.is_some())
            .finish()
    }
}

/// The facts about a served file that follow from its name.
#[derive(Debug, Clone)]
pub struct FileIdentity {
    /// Its path relative to the root, `/`-separated (a named file's: its name). The key by
    /// which the hasher reopens it.
    pub rel: Vec<u8>,
    /// The file name for display and headers (lossy UTF-8).
    pub display_name: String,
    /// The last segment's bytes (the name as `sha256sum` lines write it).
    pub name: Vec<u8>,
    /// Guessed from the extension; `application/octet-stream` when unknown.
    pub content_type: HeaderValue,
    /// `attachment` with both forms of the name (RFC 6266).
    pub content_disposition: HeaderValue,
}

impl FileIdentity {
    /// The identity of the file at `rel` (below the root) whose last segment is `name`.
    pub fn new(rel: Vec<u8>, name: &[u8]) -> FileIdentity {
        let display_name = String::from_utf8_lossy(name).into_owned();
        let content_type = mime_guess::from_path(&display_name).first_or_octet_stream();
        FileIdentity {
            content_type: HeaderValue::from_str(content_type.essence_str())
                .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
            content_disposition: HeaderValue::from_str(&headers::content_disposition(
                &display_name,
            ))
            .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            display_name,
            name: name.to_vec(),
            rel,
        }
    }

    /// The `Content-Type` as text (for multipart part headers).
    pub fn content_type_str(&self) -> &str {
        self.content_type
            .to_str()
            .unwrap_or("application/octet-stream")
    }
}

/// A file named on the command line (`--file`): its absolute path and its identity.
#[derive(Debug, Clone)]
pub struct NamedFile {
    pub path: PathBuf,
    pub identity: Arc<FileIdentity>,
    /// `/` + the percent-encoded name.
    pub url_path: String,
    /// Its open handle, kept while the file is unchanged (see `tree::handles`).
    pub handle: Arc<Handles>,
}

impl NamedFile {
    /// `keep_open`: keep a handle between requests (`--open-files` above 0).
    pub fn new(path: &Path, keep_open: bool) -> io::Result<NamedFile> {
        let path = std::path::absolute(path)?;
        let name = path
            .file_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_default();
        Ok(NamedFile {
            handle: Arc::new(Handles::new(usize::from(keep_open))),
            url_path: headers::url_path(&name),
            identity: Arc::new(FileIdentity::new(name.clone(), &name)),
            path,
        })
    }
}

/// A version of a file: what must be unchanged for a stored digest (or an open handle) to still
/// describe it. The ctime covers what the others miss: an in-place rewrite that restores the
/// size and the mtime, a chmod or chown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    /// Modification time: seconds since the epoch (negative before 1970) and nanoseconds.
    pub mtime: (i64, u32),
    /// Status change time, likewise.
    pub ctime: (i64, u32),
}

impl Stamp {
    // The `stat` field types differ between architectures: the casts are no-ops only on some.
    #[allow(clippy::unnecessary_cast)]
    pub fn of(stat: &Stat) -> Stamp {
        Stamp {
            dev: stat.st_dev as u64,
            ino: stat.st_ino as u64,
            size: stat.st_size.max(0) as u64,
            mtime: (stat.st_mtime as i64, stat.st_mtime_nsec as u32),
            ctime: (stat.st_ctime as i64, stat.st_ctime_nsec as u32),
        }
    }

    /// The modification time as a `SystemTime`.
    pub fn modified(&self) -> SystemTime {
        let (secs, nanos) = self.mtime;
        if secs >= 0 {
            UNIX_EPOCH + Duration::new(secs as u64, nanos)
        } else {
            UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
                + Duration::from_nanos(nanos.into())
        }
    }
}

/// The permission bits of a `stat` result.
// The field's type differs between architectures: the cast is a no-op only on some.
#[allow(clippy::unnecessary_cast)]
pub fn file_mode(stat: &Stat) -> u32 {
    (stat.st_mode as u32) & 0o7777
}

/// The file type of a `stat` result.
pub fn file_type(stat: &Stat) -> FileType {
    FileType::from_raw_mode(stat.st_mode as _)
}

/// One version of what is served (a file, or a folder as an archive), as opened for one
/// request.
#[derive(Clone)]
pub struct Representation {
    /// Where its bytes come from: the open file, or an archive's members.
    pub source: Source,
    /// For an archive: how its byte ranges map onto framing and members.
    pub layout: Option<Arc<Layout>>,
    pub len: u64,
    pub modified: SystemTime,
    /// The strong ETag sent: the content tag once the SHA-256 is known, else the provisional.
    pub etag: String,
    /// The provisional tag, when `etag` is the content tag (both name this version).
    pub also: Option<String>,
    pub stamp: Stamp,
    /// Hard links when opened (a file unlinked or replaced by rename while it is sent has
    /// fewer, and only a new ctime: its bytes did not change).
    pub links: u64,
    pub identity: Arc<FileIdentity>,
}

impl Representation {
    /// Opens `path` (blocking: for start-up and tokio's blocking pool) and reads its metadata
    /// from the handle. The open is non-blocking in the FIFO sense, so a path replaced by a FIFO
    /// cannot hang it; a directory is `IsADirectory`, a FIFO, socket or device `InvalidInput`.
    pub fn open(path: &Path, identity: Arc<FileIdentity>) -> io::Result<Representation> {
        let file = rustix::fs::open(
            path,
            crate::cached_io::open_flags(),
            rustix::fs::Mode::empty(),
        )?;
        Representation::from_file(File::from(file), identity)
    }

    /// The version behind an opened handle (`fstat`: no disk I/O for an open inode).
    pub fn from_file(file: File, identity: Arc<FileIdentity>) -> io::Result<Representation> {
        let stat = rustix::fs::fstat(&file)?;
        Representation::from_stat(file, &stat, identity)
    }

    /// The version described by `stat`, which must be the handle's own.
    pub fn from_stat(
        file: File,
        stat: &Stat,
        identity: Arc<FileIdentity>,
    ) -> io::Result<Representation> {
        Representation::from_shared(Arc::new(file), stat, identity)
    }

    /// The version of a shared (cached) handle described by `stat`, which must be its own.
    pub fn from_shared(
        file: Arc<File>,
        stat: &Stat,
        identity: Arc<FileIdentity>,
    ) -> io::Result<Representation> {
        let etag = headers::etag(&Stamp::of(stat));
        Representation::from_tagged(file, stat, identity, etag)
    }

    /// Like [`Representation::from_shared`], with the provisional tag of `stat`'s stamp already
    /// made (a kept handle keeps it: `headers::etag` is a function of the stamp alone).
    #[allow(clippy::unnecessary_cast)] // st_nlink's type differs between architectures
    pub fn from_tagged(
        file: Arc<File>,
        stat: &Stat,
        identity: Arc<FileIdentity>,
        etag: String,
    ) -> io::Result<Representation> {
        match file_type(stat) {
            FileType::RegularFile => {}
            FileType::Directory => return Err(io::ErrorKind::IsADirectory.into()),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not a regular file (a FIFO, socket or device)",
                ));
            }
        }
        let stamp = Stamp::of(stat);
        let modified = stamp.modified();
        debug_assert_eq!(etag, headers::etag(&stamp));
        Ok(Representation {
            etag,
            also: None,
            links: stat.st_nlink as u64,
            len: stamp.size,
            modified,
            stamp,
            source: Source::File(file),
            layout: None,
            identity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_stamp_changes_with_size_mtime_and_ctime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        File::create(&path).unwrap().write_all(b"abc").unwrap();
        let before = Stamp::of(&rustix::fs::stat(&path).unwrap());
        assert_eq!(before.size, 3);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(before.modified(), meta.modified().unwrap());
        // chmod changes only the ctime.
        std::thread::sleep(Duration::from_millis(10));
        let mut perms = meta.permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
        std::fs::set_permissions(&path, perms).unwrap();
        let after = Stamp::of(&rustix::fs::stat(&path).unwrap());
        assert_eq!((after.size, after.mtime), (before.size, before.mtime));
        assert_ne!(after, before);
    }

    #[test]
    fn times_before_1970_convert() {
        let stamp = Stamp {
            dev: 0,
            ino: 0,
            size: 0,
            mtime: (-2, 500_000_000),
            ctime: (0, 0),
        };
        assert_eq!(stamp.modified(), UNIX_EPOCH - Duration::from_millis(1500));
    }

    #[test]
    fn identities_guess_the_type_and_quote_the_name() {
        let id = FileIdentity::new(b"sub/love film.mp4".to_vec(), b"love film.mp4");
        assert_eq!(id.content_type, "video/mp4");
        assert_eq!(
            id.content_disposition,
            "attachment; filename=\"love film.mp4\"; filename*=UTF-8''love%20film.mp4"
        );
        let odd = FileIdentity::new(b"\xff".to_vec(), b"\xff");
        assert_eq!(odd.content_type, "application/octet-stream");
        assert_eq!(odd.display_name, "\u{fffd}");
    }
}
