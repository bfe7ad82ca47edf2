//! Starting the digests: open the store under the state directory (one given explicitly must
//! work; the default one may not, and then digests last only as long as the process) and start
//! the hashing thread.

use std::path::PathBuf;
use std::sync::Arc;

use crate::digest::Digests;
use crate::digest::store::Store;
use crate::error::StartupError;
use crate::tree::root::Root;

/// Opens the digest store (a `--state-dir` given explicitly must work; the default one may
/// not, and then digests last only as long as the process) and starts the hashing thread.
pub fn start(
    state_dir: Option<&(PathBuf, bool)>,
    root: &Arc<Root>,
) -> Result<Arc<Digests>, StartupError> {
    let (store, loaded) = match state_dir {
        Some((dir, explicit)) => match Store::open(dir) {
            Ok((store, loaded)) => {
                tracing::info!(
                    "digest store {}: {} digest(s) from earlier runs",
                    store.path().display(),
                    loaded.len()
                );
                (Some(store), loaded)
            }
            Err(source) if *explicit => {
                return Err(StartupError::StateDir {
                    path: dir.clone(),
                    source,
                });
            }
            Err(err) => {
                tracing::warn!(
                    "cannot keep digests in {}: {} (they will be computed again after a restart)",
                    dir.display(),
                    crate::error::describe(&err)
                );
                (None, Default::default())
            }
        },
        None => {
            tracing::warn!("no state directory (no HOME): digests are not kept across restarts");
            (None, Default::default())
        }
    };
    let (opener, locator) = (Arc::clone(root), Arc::clone(root));
    Digests::start(
        store,
        loaded,
        Box::new(move |rel| opener.open_file(rel)),
        Box::new(move |rel| locator.absolute(rel)),
    )
    .map_err(StartupError::Runtime)
}
