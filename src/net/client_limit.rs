//! `--max-connections-per-client`: connections counted per client address, decided like
//! nginx's `limit_conn` — the connections past the limit are answered 503 with `Retry-After`,
//! not queued (a download client then retries, and one client cannot hold the connection slots
//! everyone shares).

use std::net::{IpAddr, SocketAddr};

use crate::handler::Shared;

/// Who a connection is from, and whether it is past `--max-connections-per-client` (then
/// every request on it gets 503); decided once, when the connection is counted.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub peer: SocketAddr,
    pub busy: bool,
}

/// One connection of a client address, counted while it lives.
pub struct ClientSlot<'a> {
    shared: &'a Shared,
    ip: IpAddr,
    /// This connection is past the limit: its requests get 503.
    pub over: bool,
}

impl<'a> ClientSlot<'a> {
    /// Counts a connection from `peer`; `None` when there is no per-client limit.
    pub fn enter(shared: &'a Shared, peer: SocketAddr) -> Option<ClientSlot<'a>> {
        let max = shared.config.max_per_client?;
        let mut counts = shared
            .per_client
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let open = counts.entry(peer.ip()).or_default();
        *open += 1;
        Some(ClientSlot {
            shared,
            ip: peer.ip(),
            over: *open > max,
        })
    }
}

impl Drop for ClientSlot<'_> {
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
