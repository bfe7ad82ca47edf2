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
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use hyper::header::HeaderValue;
use rustix::fs::{FileType, Stat};

use crate::archive::Layout;
use crate::body::Source;
use crate::fs::stamp::{Stamp, file_type};
use crate::http::format;

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
    /// Its URL path below the mount, segments percent-encoded (`/a%20b/c.mkv`): made once,
    /// for the `Link` fields every response of it carries.
    pub url_path: String,
    /// Whether a Metalink can carry its name (`tree::metalink::representable`): decided once,
    /// since every response of it may point at its `.meta4`.
    pub describable: bool,
}

impl FileIdentity {
    /// The identity of the file at `rel` (below the root) whose last segment is `name`.
    pub fn new(rel: Vec<u8>, name: &[u8]) -> FileIdentity {
        let display_name = String::from_utf8_lossy(name).into_owned();
        let content_type = mime_guess::from_path(&display_name).first_or_octet_stream();
        FileIdentity {
            content_type: HeaderValue::from_str(content_type.essence_str())
                .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
            content_disposition: HeaderValue::from_str(&format::content_disposition(&display_name))
                .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            display_name,
            name: name.to_vec(),
            url_path: format::url_segments(rel.split(|&b| b == b'/')),
            describable: crate::tree::metalink::representable(name),
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
            crate::fs::cached_io::open_flags(),
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
        let stamp = Stamp::of(stat);
        // A version changed within the racy window may share its stamp with the next one (two
        // writes in one timestamp tick): its tag is weak until it has settled, so `If-Range`
        // (a strong comparison) never splices two versions under one tag, and `If-Match` fails.
        let etag = match stamp.unsettled_for(std::time::SystemTime::now()) {
            Some(_) => format!("W/{}", stamp.etag()),
            None => stamp.etag(),
        };
        Representation::from_tagged(file, stat, identity, etag)
    }

    /// Like [`Representation::from_shared`], with the provisional tag of `stat`'s stamp already
    /// made (a kept handle keeps it: `Stamp::etag` is a function of the stamp alone).
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
        debug_assert_eq!(etag.trim_start_matches("W/"), stamp.etag());
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
