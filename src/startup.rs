//! From the command line to what the server runs with: open the root (a directory, or the named
//! files, each checked now so that a bad one is an error before anything listens), find the
//! state directory, and load or make the secrets kept there.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::args::Args;
use crate::cli::config::{Config, TlsSource};
use crate::error::StartupError;
use crate::fs::descriptors;
use crate::net::tls::KeyFiles;
use crate::representation::Representation;
use crate::tree::named::NamedFile;
use crate::tree::root::Root;

/// Checks what is served (each file must open for reading and be a regular file; a directory
/// must be one and readable), loads or makes the secrets, and builds the config.
pub fn configure(args: Args) -> Result<Config, StartupError> {
    let limit = descriptors::raise();
    let budget = descriptors::budget(limit, args.max_connections, args.open_files);
    if budget.connections < args.max_connections || budget.open_files < args.open_files {
        tracing::warn!(
            "file descriptors: a limit of {limit} fits {} connection(s) and {} kept file(s) \
             (asked: {} and {}); raise the limit (ulimit -n, LimitNOFILE=) to serve more",
            budget.connections,
            budget.open_files,
            args.max_connections,
            args.open_files
        );
    }
    let root = match (&args.dir, args.file.as_slice()) {
        (Some(_), [_, ..]) => {
            return Err(StartupError::Usage(
                "--dir and --file cannot be used together: serve a folder or files",
            ));
        }
        (Some(dir), []) => Root::tree(dir, args.hidden, args.follow_symlinks, budget.open_files)
            .map_err(|source| StartupError::Dir {
                path: dir.clone(),
                source,
            })?,
        (None, files) => Root::Files(named_files(files, budget.open_files > 0)?),
    };
    let state_dir = match &args.state_dir {
        Some(dir) => Some((dir.clone(), true)),
        None => default_state_dir().map(|dir| (dir, false)),
    };
    let secret = if args.secret_path {
        Some(keep_secret(&state_dir, "secret-path", args.new_secret, 16)?)
    } else {
        None
    };
    let link_key = if args.signed_links {
        Some(link_key(args.link_key.as_deref(), &state_dir)?)
    } else {
        None
    };
    Ok(Config {
        root: Arc::new(root),
        state_dir,
        cache_control: args.cache_control.clone(),
        addr: SocketAddr::new(args.bind, args.port),
        chunk_size: args.chunk_size,
        max_ranges: args.max_ranges,
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
        header_timeout: Duration::from_secs(args.header_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        send_timeout: Duration::from_secs(args.send_timeout),
        max_connections: budget.connections,
        max_header_bytes: args.max_header_bytes,
        tls: match (args.tls_cert, args.tls_key, args.tls_self_signed) {
            (Some(cert), Some(key), _) => Some(TlsSource::Files(KeyFiles { cert, key })),
            (_, _, true) => Some(TlsSource::SelfSigned),
            _ => None,
        },
        max_streams: args.max_streams,
        qr: args.qr,
        metrics: args.metrics,
        auth: args.auth.clone(),
        auth_file: match &args.auth_file {
            Some(path) => Some((
                path.clone(),
                crate::share::users::read_file(path).map_err(|why| StartupError::Key {
                    path: path.clone(),
                    source: std::io::Error::other(why),
                })?,
            )),
            None => None,
        },
        secret,
        link_key,
        max_per_client: args.max_connections_per_client,
        limits: crate::share::throttle::Limits {
            per_response: args.limit_rate,
            after: args.limit_rate_after,
            per_client: args.limit_rate_per_client,
            total: args.limit_rate_total,
        },
        digest: !args.no_digest,
        public_url: args.public_url.clone(),
        mirrors: args.mirror.clone(),
        offer_metalink: args.offer_metalink,
        trackers: args.tracker.clone(),
        on_complete: args.on_complete.clone(),
        workers: args
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    })
}

/// A secret kept in the state directory (made on first use, or afresh).
fn keep_secret(
    state_dir: &Option<(PathBuf, bool)>,
    name: &str,
    fresh: bool,
    bytes: usize,
) -> Result<String, StartupError> {
    let Some((dir, _)) = state_dir else {
        return Err(StartupError::Usage(
            "--secret-path and --signed-links keep their secret in the state directory: give --state-dir",
        ));
    };
    let path = dir.join(name);
    crate::share::keys::load_or_create(&path, fresh, bytes)
        .map_err(|source| StartupError::StateDir { path, source })
}

/// The shortest `--link-key` accepted, in bytes (HMAC-SHA-256's own output length).
pub const MIN_LINK_KEY: usize = 32;

/// The link-signing key: `--link-key FILE` (its bytes, trimmed; private, at least
/// [`MIN_LINK_KEY`] bytes), else the state directory's.
pub fn link_key(
    file: Option<&std::path::Path>,
    state_dir: &Option<(PathBuf, bool)>,
) -> Result<Vec<u8>, StartupError> {
    match file {
        Some(path) => match crate::share::keys::read_private(path) {
            Ok(bytes) if bytes.trim_ascii().len() >= MIN_LINK_KEY => {
                Ok(bytes.trim_ascii().to_vec())
            }
            Ok(bytes) => Err(StartupError::Key {
                path: path.to_path_buf(),
                source: std::io::Error::other(format!(
                    "a link key of {} bytes: at least {MIN_LINK_KEY} are needed (e.g. head -c 32 /dev/urandom | base64 > FILE)",
                    bytes.trim_ascii().len()
                )),
            }),
            Err(source) => Err(StartupError::Key {
                path: path.to_path_buf(),
                source,
            }),
        },
        None => Ok(keep_secret(state_dir, "link-key", false, 32)?.into_bytes()),
    }
}

/// Checks each file and that no two share a name.
fn named_files(paths: &[PathBuf], keep_open: bool) -> Result<Vec<NamedFile>, StartupError> {
    let mut files: Vec<NamedFile> = Vec::with_capacity(paths.len());
    for path in paths {
        let file_error = |source| StartupError::File {
            path: path.clone(),
            source,
        };
        let named = NamedFile::new(path, keep_open).map_err(file_error)?;
        Representation::open(&named.path, Arc::clone(&named.identity)).map_err(file_error)?;
        if let Some(first) = files
            .iter()
            .find(|f| f.identity.name == named.identity.name)
        {
            return Err(StartupError::DuplicateName {
                first: first.path.clone(),
                second: named.path,
            });
        }
        files.push(named);
    }
    Ok(files)
}

/// `$XDG_STATE_HOME/rangeserve`, else `~/.local/state/rangeserve` (XDG Base Directory
/// specification); `None` without a usable home.
pub fn default_state_dir() -> Option<PathBuf> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    absolute("XDG_STATE_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".local/state")))
        .map(|dir| dir.join("rangeserve"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[test]
    fn a_dir_and_files_together_are_a_usage_error() {
        let both = Args::try_parse_from(["rangeserve", "--dir", "d", "--file", "f"]).unwrap();
        assert!(matches!(configure(both), Err(StartupError::Usage(_))));
    }
}
