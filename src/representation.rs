//! What is served: the file's fixed facts (name, URL path, type, disposition), computed once, and
//! one opened version of it per request (handle, length, modification time, ETag).
//!
//! Every request opens the path anew and reads the metadata from that handle (`fstat`), so the
//! validators, the status, the lengths and the bytes of one response all describe one version,
//! even if the file is replaced by rename while the response streams. Opening is done inline when
//! the kernel can do it from its caches (see `cached_io`), else on the blocking pool.

use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use hyper::header::HeaderValue;

use crate::headers;

/// The facts about the served file that do not change while the server runs.
#[derive(Debug, Clone)]
pub struct FileIdentity {
    /// The path as given on the command line, made absolute.
    pub path: PathBuf,
    /// The file name's bytes (matched against request paths).
    pub name: Vec<u8>,
    /// The file name for display and headers (lossy UTF-8).
    pub display_name: String,
    /// `/` + the percent-encoded name.
    pub url_path: String,
    /// Guessed from the extension; `application/octet-stream` when unknown.
    pub content_type: String,
    /// `attachment` with both forms of the name (RFC 6266).
    pub content_disposition: String,
    /// The two above as ready header values (they go on every file response).
    pub content_type_value: HeaderValue,
    pub content_disposition_value: HeaderValue,
}

impl FileIdentity {
    pub fn new(path: &Path) -> io::Result<FileIdentity> {
        let path = std::path::absolute(path)?;
        let name = path
            .file_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_default();
        let display_name = String::from_utf8_lossy(&name).into_owned();
        let content_type = mime_guess::from_path(&path)
            .first_or_octet_stream()
            .to_string();
        let content_disposition = headers::content_disposition(&display_name);
        Ok(FileIdentity {
            url_path: headers::url_path(&name),
            content_type_value: HeaderValue::from_str(&content_type)
                .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
            content_disposition_value: HeaderValue::from_str(&content_disposition)
                .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            content_type,
            content_disposition,
            display_name,
            name,
            path,
        })
    }
}

/// One version of the file, as opened for one request.
#[derive(Debug, Clone)]
pub struct Representation {
    pub file: Arc<File>,
    pub len: u64,
    pub modified: SystemTime,
    pub etag: String,
}

impl Representation {
    /// Opens `path` (blocking: for start-up and tokio's blocking pool) and reads its metadata
    /// from the handle. The open is non-blocking in the FIFO sense, so a path replaced by a FIFO
    /// cannot hang it; a directory is `IsADirectory`, a FIFO, socket or device `InvalidInput`.
    pub fn open(path: &Path) -> io::Result<Representation> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(crate::cached_io::open_flags().bits() as i32)
            .open(path)?;
        Representation::from_file(file)
    }

    /// The version behind an opened handle (`fstat`: no disk I/O for an open inode).
    pub fn from_file(file: File) -> io::Result<Representation> {
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(io::ErrorKind::IsADirectory.into());
        }
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file (a FIFO, socket or device)",
            ));
        }
        let modified = meta.modified()?;
        Ok(Representation {
            etag: headers::etag(meta.ino(), meta.len(), modified),
            len: meta.len(),
            modified,
            file: Arc::new(file),
        })
    }
}
