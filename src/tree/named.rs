//! A file named on the command line (`--file`): its path, its identity and its kept handle.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::http::format;
use crate::representation::FileIdentity;
use crate::tree::handles::Handles;

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
            url_path: format::url_path(&name),
            identity: Arc::new(FileIdentity::new(name.clone(), &name)),
            path,
        })
    }
}
