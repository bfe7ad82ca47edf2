//! rangeserve serves files and folders over HTTP/1.1 and HTTP/2 (plain or TLS) so that
//! interrupted downloads resume exactly where they stopped, following RFC 9110 (validators §8.8,
//! conditional requests §13, range requests §14, 206 §15.3.7, 416 §15.5.17).
//!
//! The pure parts decide: [`range`] (the `Range` header against a length), [`conditional`] (the
//! precondition fields in the §13.2.2 order), [`multipart`] (byteranges framing with an exact
//! length), [`headers`] (value formatting), [`archive`] (tar and zip layouts of a folder),
//! `tree::route` (a request path → what it names) and `tree::listing` (listings and manifests),
//! [`share`] (rate buckets, Basic credentials, signed links) and [`ops`] (the banner's addresses
//! and QR code, transfers in flight, log and metrics formats).
//! The I/O parts are thin: [`tree`] holds the root and looks paths up below it (kernel-guarded
//! opens, kept handles, folder archives), [`representation`] is one opened version of a file per
//! request, [`cached_io`] does file syscalls inline when the kernel's caches can answer them,
//! [`body`] streams bytes in positioned reads (from a file or an archive's members) into
//! [`read_buffers`] (reused, not zeroed per read), [`handler`]
//! turns a request into a [`handler::Plan`] and the plan into a response, [`access_log`] logs
//! each response when its body ends (and counts it for the metrics, the live view and the rate
//! limits), [`digest`] hashes each version of each file (SHA-256 and CRC-32) and keeps the
//! digests across restarts, [`net`] accepts connections (up to a limit), does TLS, serves them
//! on per-CPU runtimes with the idle and send-stall timeouts, and drains them on shutdown.
//! [`cli`] turns the command line into a checked [`cli::Config`].

#![forbid(unsafe_code)]

pub mod access_log;
pub mod archive;
pub mod body;
pub mod cli;
pub mod digest;
pub mod error;
pub mod fs;
pub mod handler;
pub mod http;
pub mod net;
pub mod ops;
pub mod representation;
pub mod share;
pub mod startup;
pub mod text;
pub mod tree;
