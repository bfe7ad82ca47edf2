//! The named-file watcher: with `--file`, each new version of a file is hashed as soon as it
//! appears (requests also start it), not only when first asked for.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::digest::{Digests, Sha256Digest, Status};
use crate::representation::{FileIdentity, Representation};

/// How often a named file's metadata is checked for a new version to hash.
const VERSION_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Watches the file at `path` for new versions and has each hashed; calls `on_first` with the
/// first digest that is ready (the banner prints it). Runs until the runtime ends.
pub async fn watch_versions(
    digests: Arc<Digests>,
    path: PathBuf,
    identity: Arc<FileIdentity>,
    on_first: impl Fn(&Sha256Digest) + Send + 'static,
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
                    on_first(&sum);
                }
                announced = Some(rep.etag);
                interval = tokio::time::interval(VERSION_POLL_INTERVAL);
            }
            _ => {}
        }
    }
}
