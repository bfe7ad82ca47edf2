//! The network layer: what comes in is a listening address and a [`crate::cli::Config`]; what
//! goes out is each accepted connection, served by hyper on a worker runtime with the request
//! handler. [`listener`] binds, prints the banner, accepts (up to the connection limit) and
//! drains on shutdown; [`workers`] runs the per-CPU runtimes; [`timed_io`] enforces the idle and
//! send-stall timeouts on the socket.

pub mod listener;
pub mod timed_io;
pub mod workers;
