//! What is served: the file's fixed facts (name, URL path, type, disposition), computed once, and
//! one opened version of it per request (handle, length, modification time, ETag).
//!
//! Every request opens the path anew and reads the metadata from that handle (`fstat`), so the
//! validators, the status, the lengths and the bytes of one response all describe one version,
//! even if the file is replaced by rename while the response streams.

use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

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
}

impl FileIdentity {
    pub fn new(path: &Path) -> io::Result<FileIdentity> {
        let path = std::path::absolute(path)?;
        let name = path
            .file_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_default();
        let display_name = String::from_utf8_lossy(&name).into_owned();
        Ok(FileIdentity {
            url_path: headers::url_path(&name),
            content_type: mime_guess::from_path(&path)
                .first_or_octet_stream()
                .to_string(),
            content_disposition: headers::content_disposition(&display_name),
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
    /// Opens `path` and reads its metadata from the handle. A directory is `IsADirectory`; a
    /// FIFO, socket or device is `InvalidInput` (checked before opening: opening a FIFO blocks).
    pub fn open(path: &Path) -> io::Result<Representation> {
        check_regular(&std::fs::metadata(path)?)?;
        let file = File::open(path)?;
        let meta = file.metadata()?;
        check_regular(&meta)?;
        let modified = meta.modified()?;
        Ok(Representation {
            etag: headers::etag(meta.ino(), meta.len(), modified),
            len: meta.len(),
            modified,
            file: Arc::new(file),
        })
    }
}

fn check_regular(meta: &std::fs::Metadata) -> io::Result<()> {
    if meta.is_dir() {
        Err(io::ErrorKind::IsADirectory.into())
    } else if !meta.is_file() {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, socket or device)",
        ))
    } else {
        Ok(())
    }
}
