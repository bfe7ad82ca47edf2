//! `--max-connections-per-client`: connections counted per client address, decided like
//! nginx's `limit_conn` — a connection past the limit is not counted, gets one answer (503 with
//! `Retry-After` and `Connection: close`) and is closed at once. It is decided when the
//! connection is accepted, and a connection past the limit gives its `--max-connections` slot
//! back and takes one of the few [`BUSY_CONNECTIONS`] slots instead, for at most
//! `--header-timeout`: so one address never holds more than its number of connection slots (a
//! download client then retries).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::handler::Shared;

/// Connections past the per-client limit being answered at once, at most; past it one is
/// closed without an answer.
pub const BUSY_CONNECTIONS: usize = 64;

/// Who a connection is from, and whether it is past `--max-connections-per-client` (then its
/// one request gets 503 and it is closed); decided once, when the connection is admitted.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub peer: SocketAddr,
    pub busy: bool,
}

/// What the per-client limit says of a new connection.
pub enum Admission {
    /// No per-client limit.
    Unlimited,
    /// Counted until dropped.
    Counted(ClientSlot),
    /// Over the limit: not counted; answer 503 once and close.
    Over,
}

impl Admission {
    pub fn is_over(&self) -> bool {
        matches!(self, Admission::Over)
    }
}

/// One connection of a client address, counted while it lives.
pub struct ClientSlot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

/// Counts a connection from `peer` unless its address already has the most it may.
pub fn admit(shared: &Arc<Shared>, peer: SocketAddr) -> Admission {
    let Some(max) = shared.config.max_per_client else {
        return Admission::Unlimited;
    };
    let mut counts = shared
        .per_client
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // One client is an IPv4 address or an IPv6 /64 (see `share::client`).
    let client = crate::share::client::client(peer.ip());
    let open = counts.entry(client).or_default();
    if *open >= max {
        return Admission::Over;
    }
    *open += 1;
    Admission::Counted(ClientSlot {
        shared: Arc::clone(shared),
        ip: client,
    })
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut counts = self
            .shared
            .per_client
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}
