//! The process's file-descriptor limit: raised to the hard limit at start-up (as Go's runtime
//! and nginx's `worker_rlimit_nofile` do), then shared out ([`budget`], pure) so that the
//! connections and the kept handles fit inside it with room for everything else. Past it, an
//! open fails with `EMFILE`: the kept handles are closed and the open retried once, then the
//! request gets 503 with `Retry-After` (see `tree::root` and `error::status_for`).

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept for what is neither a connection nor a kept handle: the listeners, the
/// digest store, the hashing thread's file, directory walks and listings on the blocking pool,
/// the TLS key files, stdio.
pub const RESERVED: u64 = 64;

/// Where the soft limit is raised to when the hard limit is unlimited.
const UNLIMITED_CAP: u64 = 1 << 20;

/// What fits inside a descriptor limit. Connections get at most three quarters of what is not
/// reserved (two descriptors each); kept handles a quarter of what is left after them; the rest
/// is slack for what comes and goes (HTTP/2 streams reading files, archive members, walks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Connections served at once (each holds its socket and the file its response reads).
    pub connections: usize,
    /// Handles kept open between requests: a quarter of what is left after the connections.
    pub open_files: usize,
}

/// The share of `limit` descriptors: `max_connections` and `open_files` as asked, or less when
/// they do not fit. At least one connection, whatever the limit.
pub fn budget(limit: u64, max_connections: usize, open_files: usize) -> Budget {
    let available = limit.saturating_sub(RESERVED);
    let connections = usize::try_from(available * 3 / 8)
        .unwrap_or(usize::MAX)
        .clamp(1, max_connections.max(1));
    let left = available.saturating_sub(2 * connections as u64);
    let open_files = usize::try_from(left / 4)
        .unwrap_or(usize::MAX)
        .min(open_files);
    Budget {
        connections,
        open_files,
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft limit in force (the
/// old one when it cannot be raised, which is logged).
pub fn raise() -> u64 {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    let soft = current.unwrap_or(UNLIMITED_CAP);
    let hard = maximum.unwrap_or(UNLIMITED_CAP);
    if soft >= hard {
        return soft;
    }
    let raised = Rlimit {
        current: Some(hard),
        maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            tracing::info!("file descriptors: soft limit raised from {soft} to {hard}");
            hard
        }
        Err(err) => {
            tracing::warn!("file descriptors: cannot raise the soft limit {soft} to {hard}: {err}");
            soft
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_limit_gives_what_was_asked() {
        assert_eq!(
            budget(1 << 20, 4096, 1024),
            Budget {
                connections: 4096,
                open_files: 1024
            }
        );
    }

    #[test]
    fn the_usual_soft_limit_shares_out_connections_then_a_quarter_for_handles() {
        // 1024 - 64 = 960: 360 connections (720 descriptors), 240 left, 60 kept.
        assert_eq!(
            budget(1024, 4096, 1024),
            Budget {
                connections: 360,
                open_files: 60
            }
        );
        // 256 - 64 = 192: 72 connections, 48 left, 12 kept.
        assert_eq!(
            budget(256, 4096, 1024),
            Budget {
                connections: 72,
                open_files: 12
            }
        );
    }

    #[test]
    fn a_tiny_limit_still_serves_one_connection() {
        assert_eq!(
            budget(10, 4096, 1024),
            Budget {
                connections: 1,
                open_files: 0
            }
        );
    }

    proptest::proptest! {
        /// Whatever is asked, connections and kept handles fit inside the limit, less the reserve
        /// (once the limit leaves room for one connection), and never exceed what was asked.
        #[test]
        fn the_budget_fits(limit in 0u64..1 << 22, conns in 1usize..100_000, files in 0usize..100_000) {
            let b = budget(limit, conns, files);
            proptest::prop_assert!(b.connections >= 1 && b.connections <= conns);
            proptest::prop_assert!(b.open_files <= files);
            if limit >= RESERVED + 2 {
                proptest::prop_assert!(
                    2 * b.connections as u64 + b.open_files as u64 + RESERVED <= limit
                );
            }
        }
    }
}
