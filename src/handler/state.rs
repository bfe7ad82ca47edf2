//! What every request shares: the configuration, the digests, the archive layouts computed so
//! far, the rate-limit buckets, the users (and their failed logins) and the connections per client.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::cli::Config;
use crate::digest::Digests;
use crate::share::throttle::Buckets;
use crate::share::users::Users;
use crate::tree::archives::ArchiveCache;
use crate::tree::connections::Connections;
use crate::tree::rendered::Live;

/// What every request needs: the configuration, the digests (absent with `--no-digest`), and
/// the archive layouts computed so far.
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    /// The port the server listens on (for absolute URLs when a `Host` has none).
    pub port: u16,
    pub digests: Option<Arc<Digests>>,
    pub archives: Arc<ArchiveCache>,
    /// Connections being served (the last one to end closes the kept file handles).
    pub connections: Connections,
    /// The rate-limit buckets shared between responses (per client, total).
    pub buckets: Buckets,
    /// `--auth` and `--auth-file`: the users, what was checked, the wrong attempts.
    pub users: Users,
    /// Connections open per client address (for `--max-connections-per-client`).
    pub per_client: Mutex<HashMap<IpAddr, usize>>,
    /// Turns for what reads a whole directory or tree into memory (listings, manifests,
    /// archive walks): at most [`WALKS_AT_ONCE`] at a time, so the memory many requests for a
    /// huge folder can make the server hold is that of a few, not of one per request.
    pub walks: tokio::sync::Semaphore,
    /// Listings being sent, shared by the requests that render the same bytes.
    pub listings: Live,
    /// Folder Metalinks being sent, one copy per document.
    pub held: super::metalink::Held,
    /// Folders whose torrent was made (for their magnet links).
    pub torrents: super::torrent::Made,
    /// Downloads counted by the bytes each client holds.
    pub downloads: Arc<crate::downloads::Downloads>,
}

/// Listings, manifests and archive walks read at once, at most (the others wait their turn).
pub const WALKS_AT_ONCE: usize = 4;

impl Shared {
    /// The state for serving with `config` (and its digests, when hashing is on).
    pub fn new(config: Config, digests: Option<Arc<Digests>>, port: u16) -> Shared {
        Shared {
            port,
            users: Users::new(config.auth.clone(), config.auth_file.clone()),
            config,
            digests,
            archives: Arc::default(),
            connections: Default::default(),
            buckets: Default::default(),
            per_client: Default::default(),
            walks: tokio::sync::Semaphore::new(WALKS_AT_ONCE),
            listings: Live::default(),
            held: Default::default(),
            torrents: Default::default(),
            downloads: Default::default(),
        }
    }

    /// `https` when the server speaks TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        self.config.scheme()
    }
}
