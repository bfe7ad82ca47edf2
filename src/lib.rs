//! rangeserve serves files and folders over HTTP/1.1 and HTTP/2 (plain or TLS) so that
//! interrupted downloads resume exactly where they stopped, following RFC 9110 (validators §8.8,
//! conditional requests §13, range requests §14, 206 §15.3.7, 416 §15.5.17).
//!
//! The layers, bottom up (each uses only those below it):
//! - [`error`] and [`text`]: start-up errors and the one map from a file error to a status;
//!   sizes, shell words. They import nothing from the crate.
//! - [`http`]: the pure RFC logic — fields and the Host check, `Range`, the preconditions,
//!   [`http::decide`] (both, for one entity), body segments and multipart framing, field
//!   values (dates, ETags, `Content-Range`, URL segments, hex, base64), the digest fields.
//! - [`fs`]: a version's stamp (and its provisional ETag), file syscalls done inline when the
//!   kernel's caches can answer, reused read buffers. [`archive`]: tar and zip layouts (pure).
//! - [`representation`] (one opened version of a file per request) and [`body`] (positioned
//!   reads of a file or an archive's members, streamed as segments).
//! - [`tree`]: the root and its kernel-guarded lookups, the pure route, kept handles, directory
//!   entries, folder archives, the listings (pure), and [`tree::entity::Entity`] — a file, an
//!   archive or a generated document, what every response serves.
//! - [`digest`]: each version's SHA-256 and CRC-32, hashed on a thread, kept across restarts.
//! - [`share`]: rate buckets, Basic credentials, signed links, the kept secrets.
//! - [`handler`]: gates → route → entity → `decide` → response → observed body; [`access_log`]
//!   logs each response when its body ends (and counts it for the metrics, the live view and
//!   the rate limits).
//! - [`net`]: bind, accept (up to a limit), TLS, hyper on per-CPU runtimes with the idle and
//!   send-stall timeouts, drain on shutdown. [`ops`]: the banner, metrics, the live view, JSON
//!   logs.
//! - [`cli`] (the command line as values) and [`startup`] (opening the root, the secrets).

#![forbid(unsafe_code)]

pub mod access_log;
pub mod archive;
pub mod body;
pub mod cli;
pub mod digest;
pub mod downloads;
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
pub mod torrent;
pub mod tree;
