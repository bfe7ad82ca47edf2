//! rangeserve serves files and folders over HTTP/1.1 so that interrupted downloads resume exactly where
//! they stopped, following RFC 9110 (validators §8.8, conditional requests §13, range requests
//! §14, 206 §15.3.7, 416 §15.5.17).
//!
//! The pure parts decide: [`range`] (the `Range` header against a length), [`conditional`] (the
//! precondition fields in the §13.2.2 order), [`multipart`] (byteranges framing with an exact
//! length), [`headers`] (value formatting). The I/O parts are thin: [`representation`] opens one
//! version of the file per request, [`cached_io`] does file syscalls inline when the kernel's
//! caches can answer them, [`body`] streams its bytes in fixed-size positioned reads,
//! [`handler`] turns a request into a [`handler::Plan`] and the plan into a response,
//! [`access_log`] logs each response when its body ends, [`digest`] hashes each version
//! of the file for `Repr-Digest` and the `.sha256` sidecar, [`timed_io`] enforces the idle and
//! send-stall timeouts, [`server`] accepts connections (up to a limit) and drains them on
//! shutdown, and [`workers`] runs the per-CPU runtimes that serve them. [`cli`] turns the command line into a checked [`cli::Config`].

#![forbid(unsafe_code)]

pub mod access_log;
pub mod archive;
pub mod body;
pub mod cached_io;
pub mod cli;
pub mod conditional;
pub mod digest;
pub mod error;
pub mod handler;
pub mod headers;
pub mod multipart;
pub mod range;
pub mod representation;
pub mod server;
pub mod timed_io;
pub mod tree;
pub mod workers;
