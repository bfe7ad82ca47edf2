//! Socket options set on every accepted connection.

use std::net::SocketAddr;

/// Unsent bytes the kernel may queue per connection (`TCP_NOTSENT_LOWAT`). Without it the send
/// buffer autotunes to 4 MiB even for a client that reads nothing, so 300 stalled clients pin
/// over a gigabyte of kernel memory; bytes in flight (and so throughput over long links) are not
/// limited by it. The body's read sizes rely on this bound (see `body::GROW_AFTER`).
pub const NOTSENT_LOWAT: u32 = 128 * 1024;

/// `TCP_NODELAY` (responses are written in whole frames already) and [`NOTSENT_LOWAT`]; a
/// failure is only logged (the connection works without them).
pub fn tune(stream: &tokio::net::TcpStream, peer: SocketAddr) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!("TCP_NODELAY on {peer}: {err}");
    }
    if let Err(err) = socket2::SockRef::from(stream).set_tcp_notsent_lowat(NOTSENT_LOWAT) {
        tracing::debug!("TCP_NOTSENT_LOWAT on {peer}: {err}");
    }
}
