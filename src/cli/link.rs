//! `rangeserve link`: expiring URLs for a server started with `--signed-links` (the key read
//! from `--link-key` or the state directory).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::cli::args::LinkArgs;
use crate::error::StartupError;
use crate::startup::{default_state_dir, link_key};

/// The URLs `rangeserve link` prints.
pub fn link_urls(args: &LinkArgs, now: std::time::SystemTime) -> Result<Vec<String>, StartupError> {
    use std::os::unix::ffi::OsStrExt as _;
    let state_dir = match &args.state_dir {
        Some(dir) => Some((dir.clone(), true)),
        None => default_state_dir().map(|dir| (dir, false)),
    };
    let key = link_key(args.link_key.as_deref(), &state_dir)?;
    let expiry = now
        .checked_add(args.expires)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(u64::MAX, |d| d.as_secs());
    let base = match &args.base_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8000);
            let first =
                crate::ops::addresses::reachable(any, &crate::ops::addresses::interfaces(), true)
                    .first()
                    .copied()
                    .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8000));
            format!("http://{first}")
        }
    };
    let root = match &args.dir {
        Some(dir) => Some(dir.canonicalize().map_err(|source| StartupError::Dir {
            path: dir.clone(),
            source,
        })?),
        None => None,
    };
    let mut urls = Vec::new();
    for path in &args.paths {
        let not_found = |source| StartupError::File {
            path: path.clone(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(not_found)?;
        let segments: Vec<Vec<u8>> = match &root {
            Some(root) => {
                let full = path.canonicalize().map_err(not_found)?;
                let rel = full.strip_prefix(root).map_err(|_| StartupError::File {
                    path: path.clone(),
                    source: std::io::Error::other("not inside --dir"),
                })?;
                rel.components()
                    .map(|c| c.as_os_str().as_bytes().to_vec())
                    .collect()
            }
            None if meta.is_dir() => {
                return Err(StartupError::Usage(
                    "a directory needs --dir (the folder the server serves)",
                ));
            }
            None => vec![
                path.file_name()
                    .map(|n| n.as_bytes().to_vec())
                    .unwrap_or_default(),
            ],
        };
        let kind = if meta.is_dir() {
            crate::share::link::Kind::Dir
        } else {
            crate::share::link::Kind::File
        };
        let token = crate::share::link::sign(&key, kind, &segments, expiry);
        let mut url = format!("{base}/{token}");
        url.push_str(&crate::http::format::url_segments(
            segments.iter().map(Vec::as_slice),
        ));
        if kind == crate::share::link::Kind::Dir {
            url.push('/');
        }
        urls.push(url);
    }
    Ok(urls)
}
