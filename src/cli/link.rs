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
        let token = crate::share::link::sign_limited(&key, kind, &segments, expiry, args.downloads);
        let mut url = format!("{base}/{token}");
        url.push_str(&crate::http::format::url_segments(
            segments.iter().map(Vec::as_slice),
        ));
        if kind == crate::share::link::Kind::Dir {
            url.push('/');
        }
        note_link(&state_dir, &token, &segments, expiry, args.downloads);
        urls.push(url);
    }
    Ok(urls)
}

/// The file in the state directory where `rangeserve link` notes each link it makes (its id,
/// never the token), for `rangeserve links`.
pub const LINKS_FILE: &str = "links-v1";

/// Notes a link for `rangeserve links` (best effort: a link works whether or not it is noted).
fn note_link(
    state_dir: &Option<(std::path::PathBuf, bool)>,
    token: &str,
    segments: &[Vec<u8>],
    expiry: u64,
    downloads: Option<u64>,
) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let Some((dir, _)) = state_dir else { return };
    let path = crate::http::format::url_segments(segments.iter().map(Vec::as_slice));
    let line = format!(
        "{} {expiry} {} {}\n",
        crate::share::link::id(token),
        downloads.map_or("-".to_string(), |n| n.to_string()),
        if path.is_empty() { "/" } else { &path }
    );
    let noted = std::fs::create_dir_all(dir).and_then(|()| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(dir.join(LINKS_FILE))?
            .write_all(line.as_bytes())
    });
    if let Err(err) = noted {
        eprintln!("rangeserve: the link works, but cannot be noted for `rangeserve links`: {err}");
    }
}

/// `rangeserve links`: each noted link (newest last) with its completed downloads.
pub fn list_links(args: &crate::cli::LinksArgs) -> Result<String, StartupError> {
    let dir = match &args.state_dir {
        Some(dir) => dir.clone(),
        None => default_state_dir().ok_or(StartupError::Usage(
            "no state directory: give --state-dir (the server's)",
        ))?,
    };
    let noted = std::fs::read_to_string(dir.join(LINKS_FILE)).unwrap_or_default();
    let records = std::fs::read(dir.join(crate::downloads::store::FILE_NAME))
        .map(|text| crate::downloads::store::parse(&text).0)
        .unwrap_or_default();
    let mut out = String::from("LINK              EXPIRES               DOWNLOADS  PATH\n");
    for line in noted.lines() {
        let fields: Vec<&str> = line.splitn(4, ' ').collect();
        let [id, expiry, limit, path] = fields.as_slice() else {
            continue;
        };
        let mut clients: Vec<std::net::IpAddr> = records
            .iter()
            .filter_map(|r| match r {
                crate::downloads::store::Record::Done { key, .. } if key.link == *id => {
                    Some(key.client)
                }
                // A completion folded away at compaction still has its `used` record.
                crate::downloads::store::Record::Used { link, client, .. } if link == id => {
                    Some(*client)
                }
                _ => None,
            })
            .collect();
        clients.sort();
        clients.dedup();
        let expires = expiry
            .parse::<u64>()
            .ok()
            .and_then(|s| std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(s)))
            .map_or("never".to_string(), |t| {
                humantime::format_rfc3339_seconds(t).to_string()
            });
        let used = match *limit {
            "-" => format!("{}", clients.len()),
            n => format!("{}/{n}", clients.len()),
        };
        out.push_str(&format!("{id}  {expires:<20}  {used:<9}  {path}\n"));
    }
    Ok(out)
}
