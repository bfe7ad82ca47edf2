//! The connections being served, counted for the kept handles: when the last one ends, every
//! kept handle is closed (an idle server holds no file open, so a deleted file's space is freed
//! and a filesystem can be unmounted). The metrics read the same count.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::tree::root::Root;

/// How many connections are being served.
#[derive(Debug, Default)]
pub struct Connections(AtomicUsize);

/// One connection being served: counted until dropped.
#[derive(Debug)]
pub struct Connected<'a> {
    connections: &'a Connections,
    root: &'a Root,
}

impl Connections {
    /// Counts a connection to `root` until the guard is dropped.
    pub fn enter<'a>(&'a self, root: &'a Root) -> Connected<'a> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Connected {
            connections: self,
            root,
        }
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

impl Drop for Connected<'_> {
    fn drop(&mut self) {
        if self.connections.0.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.root.forget_handles();
        }
    }
}
