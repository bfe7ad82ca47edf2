//! The network layer: what comes in is a listening address and a [`crate::cli::Config`]; what
//! goes out is each accepted connection, served by hyper on a worker runtime with the request
//! handler. [`listener`] binds, prints the banner, accepts (up to the connection limit) and
//! drains on shutdown; [`workers`] runs the per-CPU runtimes; [`timed_io`] enforces the idle and
//! send-stall timeouts on the socket and [`streams`] on each HTTP/2 stream; [`tls`] loads and
//! reloads the certificate and [`self_signed`] makes one for `--tls-self-signed`; [`coalesce`]
//! gathers HTTP/2's per-frame writes into large ones.

pub mod coalesce;
pub mod listener;
pub mod self_signed;
pub mod streams;
pub mod timed_io;
pub mod tls;
pub mod workers;
