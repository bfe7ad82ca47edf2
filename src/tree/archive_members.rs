//! An archive's member files, opened through the root (the kernel's guard applies) one at a
//! time as a body reaches them, and checked to be the version the archive announced: when
//! opened and when their last byte is read. Out of descriptors mid-body, an open waits for one.

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::body::{Members, Source};
use crate::fs::stamp::Stamp;
use crate::representation::Representation;
use crate::tree::root::{Dir, Root};
use crate::tree::route::Found;

/// How long a member's open mid-body waits for a file descriptor (out of them) before the
/// response is cut.
pub const DESCRIPTOR_WAIT: Duration = Duration::from_secs(10);

/// The member files of one archive version, opened through the root as the body reaches them.
pub struct MemberFiles {
    pub(crate) root: Arc<Root>,
    /// The folder symlinks must stay inside (a signed folder link's; empty: the root).
    pub(crate) within: Vec<u8>,
    /// By member index: the file's path below the root and the stamp announced (`None` for a
    /// directory).
    pub(crate) files: Vec<Option<(Vec<u8>, Stamp)>>,
    /// Set when a member was found changed: this version is not reused.
    pub(crate) stale: AtomicBool,
}

impl std::fmt::Debug for MemberFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberFiles")
            .field("members", &self.files.len())
            .field("stale", &self.stale)
            .finish()
    }
}

impl MemberFiles {
    fn expected(&self, index: usize) -> io::Result<&(Vec<u8>, Stamp)> {
        self.files
            .get(index)
            .and_then(Option::as_ref)
            .ok_or_else(|| io::Error::other("no such archive member"))
    }

    fn changed(&self, rel: &[u8]) -> io::Error {
        self.stale.store(true, Ordering::Relaxed);
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
                Source::Members(_) | Source::Document(_) => Err(self.changed(rel)),
            },
            Found::WouldBlock => Ok(None),
            Found::Failed(err) => Err(err),
            _ => Err(self.changed(rel)),
        }
    }
}

impl Members for MemberFiles {
    fn try_open(&self, index: usize) -> io::Result<Option<Arc<File>>> {
        let (rel, _) = self.expected(index)?;
        match self.opened(index, self.root.lookup_unkept(rel, &self.within, false)) {
            // No descriptor now: the blocking open waits for one.
            Err(err) if crate::error::out_of_descriptors(&err) => Ok(None),
            opened => opened,
        }
    }

    /// Out of descriptors mid-archive (the 200 is sent: failing would cut it), waits for one:
    /// other responses end and give theirs back. At most [`DESCRIPTOR_WAIT`] in all.
    fn open(&self, index: usize) -> io::Result<Arc<File>> {
        let (rel, _) = self.expected(index)?;
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            match self.opened(index, self.root.lookup_unkept(rel, &self.within, true)) {
                Err(err)
                    if crate::error::out_of_descriptors(&err)
                        && started.elapsed() < DESCRIPTOR_WAIT =>
                {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                opened => return opened?.ok_or_else(|| self.changed(rel)),
            }
        }
    }

    fn check(&self, index: usize, file: &File) -> io::Result<()> {
        let (rel, stamp) = self.expected(index)?;
        let now = Stamp::of(&rustix::fs::fstat(file)?);
        if now == *stamp {
            Ok(())
        } else {
            Err(self.changed(rel))
        }
    }
}
