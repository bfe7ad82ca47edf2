//! The named-file watcher: with `--file`, each new version of a file is hashed as soon as it
//! appears (requests also start it), not only when first asked for.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::digest::{Digests, Pieces, PiecesStatus, Sha256Digest, Status};
use crate::representation::{FileIdentity, Representation};

/// How often a named file's metadata is checked for a new version to hash.
const VERSION_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The first version's facts the banner prints.
#[derive(Debug, Clone)]
pub struct FirstDigest {
    pub sum: Sha256Digest,
    pub size: u64,
    /// Its pieces, if they could be had (read back from the store, or made by the hash).
    pub pieces: Option<Pieces>,
}

/// Watches the file at `path` for new versions and has each hashed; calls `on_first` with the
/// first digest that is ready (the banner prints it). Runs until the runtime ends.
pub async fn watch_versions(
    digests: Arc<Digests>,
    path: PathBuf,
    identity: Arc<FileIdentity>,
    on_first: impl Fn(&FirstDigest) + Send + 'static,
) {
    let mut announced: Option<String> = None;
    // Often until the first digest is ready (the banner waits for it), then every 2 s.
    let mut interval = tokio::time::interval(VERSION_POLL_INTERVAL / 8);
    loop {
        interval.tick().await;
        let (path, identity) = (path.clone(), Arc::clone(&identity));
        let Ok(Ok(rep)) =
            tokio::task::spawn_blocking(move || Representation::open(&path, identity)).await
        else {
            continue;
        };
        match digests.ensure(&rep.stamp, &rep.identity.rel) {
            Status::Ready { sum, .. } if announced.as_ref() != Some(&rep.etag) => {
                if announced.is_none() {
                    let (digests, stamp) = (Arc::clone(&digests), rep.stamp);
                    let rel = rep.identity.rel.clone();
                    let pieces =
                        tokio::task::spawn_blocking(move || match digests.pieces(&stamp, &rel) {
                            PiecesStatus::Ready { pieces, .. } => Some(pieces),
                            PiecesStatus::Hashing { .. } => None,
                        })
                        .await
                        .ok()
                        .flatten();
                    on_first(&FirstDigest {
                        sum,
                        size: rep.stamp.size,
                        pieces,
                    });
                }
                announced = Some(rep.etag);
                interval = tokio::time::interval(VERSION_POLL_INTERVAL);
            }
            _ => {}
        }
    }
}
