//! The network layer: what comes in is a listening address and a [`crate::cli::Config`]; what
//! goes out is each accepted connection, served by hyper on a worker runtime with the request
//! handler. [`server`] starts up, binds, prints the banner, accepts (up to the connection limit)
//! and drains on shutdown; [`connection`] serves one connection (protocol by ALPN or preface,
//! hyper's builders); [`client_limit`] counts connections per address; [`socket`] sets the
//! socket options; [`signals`] listens for the shutdown and reload signals; [`workers`] runs
//! the per-CPU runtimes; [`timed_io`] enforces the idle and send-stall timeouts on the socket and
//! [`streams`] on each HTTP/2 stream; [`tls`] parses the certificate and holds the swappable
//! key, [`tls_server`] loads it at start-up and reloads it, and [`self_signed`] makes one for
//! `--tls-self-signed`; [`coalesce`] gathers HTTP/2's per-frame writes into large ones;
//! [`activation`] takes the sockets a service manager passes and tells it when serving starts
//! and stops.

pub mod activation;
pub mod client_limit;
pub mod coalesce;
pub mod connection;
pub mod self_signed;
pub mod server;
pub mod signals;
pub mod socket;
pub mod streams;
pub mod timed_io;
pub mod tls;
pub mod tls_server;
pub mod workers;
