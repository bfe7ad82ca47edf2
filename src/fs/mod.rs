//! The file-system layer under the tree: a version's [`stamp`], file syscalls done inline when
//! the kernel's caches can answer them ([`cached_io`]), and the pool of read buffers
//! ([`read_buffers`]). In: paths, handles and `stat` results; out: stamps, handles, bytes.

pub mod cached_io;
pub mod descriptors;
pub mod read_buffers;
pub mod stamp;
