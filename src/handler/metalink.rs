//! The Metalink side of serving (RFC 5854, RFC 6249): the absolute URLs documents carry, a
//! file's and a folder's `.meta4` (made on the blocking pool from the stored pieces; 503 with
//! `Retry-After` until every piece is known), the `Link` fields of a file response, and the
//! `--offer-metalink` choice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use sha2::{Digest as _, Sha256};

use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request};

use super::plan::{Extra, Found, Refusal, Stop, blocking};
use super::state::Shared;
use crate::digest::{self, PiecesStatus, pieces};
use crate::http::fields::{self, field};
use crate::http::format;
use crate::representation::Representation;
use crate::tree::archives;
use crate::tree::entity::{Entity, Generated};
use crate::tree::metalink::{self, CONTENT_TYPE, MetaFile};
use crate::tree::root::Dir;
use crate::tree::route::{self, RequestPath};

/// Pieces one folder document may describe, at most (about 80 bytes each: 80 MB).
pub const MAX_FOLDER_PIECES: u64 = 1_000_000;

/// Folder documents being sent, by their SHA-256: a response holds its document until it is
/// sent, so many clients (or one client on many connections) that ask for the same folder's
/// `.meta4` and read slowly share one copy instead of holding one each.
#[derive(Debug, Default)]
pub struct Held(Mutex<HashMap<[u8; 32], Weak<Vec<u8>>>>);

/// A shared document's bytes as a `Bytes` owner.
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Held {
    /// `text` as bytes shared with every response now sending the same document.
    pub fn share(&self, text: Vec<u8>) -> bytes::Bytes {
        let key: [u8; 32] = Sha256::digest(&text).into();
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.retain(|_, doc| doc.strong_count() > 0);
        let doc = match held.get(&key).and_then(Weak::upgrade) {
            Some(live) => live,
            None => {
                let doc = Arc::new(text);
                held.insert(key, Arc::downgrade(&doc));
                doc
            }
        };
        bytes::Bytes::from_owner(SharedBytes(doc))
    }
}

/// The absolute URL the tree is mounted at for this request, without a trailing `/`:
/// `--public-url` (plus the mount), else `scheme://Host` from the request. A `Host` without a
/// port (wget2 1.99 sends `Host: 127.0.0.1` for `http://127.0.0.1:8000/`) gets the port the
/// server listens on unless that is the scheme's default — the port the request came to.
/// `None`: no usable `Host`.
pub fn base(req: &Request<Incoming>, shared: &Shared, mount: &str) -> Option<String> {
    if let Some(public) = &shared.config.public_url {
        return Some(format!("{public}{mount}"));
    }
    let authority = req.uri().authority().map(|a| a.as_str());
    let scheme = shared.scheme();
    let mut base = fields::origin(req.headers(), authority, scheme)?;
    let host = &base[scheme.len() + 3..];
    let has_port = match host.rfind(']') {
        Some(bracket) => host[bracket..].contains(':'),
        None => host.contains(':'),
    };
    let default = if scheme == "https" { 443 } else { 80 };
    if !has_port && shared.port != default {
        base.push(':');
        base.push_str(&shared.port.to_string());
    }
    base.push_str(mount);
    Some(base)
}

/// Where the file at `rel` can be fetched: here, then each mirror.
pub fn urls(shared: &Shared, base: &str, rel: &[u8]) -> Vec<String> {
    everywhere(
        shared,
        base,
        &format::url_segments(rel.split(|&b| b == b'/')),
    )
}

/// `url_path` here (`base`) and at each mirror, in that order: a document's URLs of a file, a
/// torrent's web seeds.
pub fn everywhere(shared: &Shared, base: &str, url_path: &str) -> Vec<String> {
    std::iter::once(base)
        .chain(shared.config.mirrors.iter().map(String::as_str))
        .map(|at| format!("{at}{url_path}"))
        .collect()
}

/// The `Link` fields of a file response (RFC 6249): its Metalink (`rel=describedby`) and each
/// mirror's URL of it (`rel=duplicate`, `pri` in order). `path`: the file's URL path. Runs per
/// response: one string per field, moved into the field value without a copy.
pub fn link_fields(
    shared: &Shared,
    base: Option<&str>,
    rep: &Representation,
    out: &mut Vec<(HeaderName, HeaderValue)>,
) {
    let path = rep.identity.url_path.as_str();
    const DESCRIBED: &str = ".meta4>; rel=describedby; type=\"application/metalink4+xml\"";
    let mut push = |text: String| {
        if let Ok(value) = HeaderValue::from_maybe_shared(bytes::Bytes::from(text)) {
            out.push((header::LINK, value));
        }
    };
    // Only a Metalink that exists is pointed at (a name XML cannot carry has none).
    if shared.digests.is_some()
        && let Some(base) = base
        && rep.identity.describable
    {
        let mut link = String::with_capacity(1 + base.len() + path.len() + DESCRIBED.len());
        link.push('<');
        link.push_str(base);
        link.push_str(path);
        link.push_str(DESCRIBED);
        push(link);
    }
    for (i, mirror) in shared.config.mirrors.iter().enumerate() {
        push(format!("<{mirror}{path}>; rel=duplicate; pri={}", i + 1));
    }
}

/// Whether `--offer-metalink` answers this request for `rep` with its Metalink: a GET without
/// `Range` whose `Accept` names `application/metalink4+xml` (any case, q above 0: aria2c's
/// does), for a file whose digest is known and whose name a Metalink can carry — a file still
/// being hashed is served as itself rather than with a 503.
pub fn offered(req: &Request<Incoming>, shared: &Shared, rep: &Representation) -> bool {
    shared.config.offer_metalink
        && req.method() == Method::GET
        && !req.headers().contains_key(header::RANGE)
        && rep.identity.describable
        && shared
            .digests
            .as_ref()
            .is_some_and(|d| d.known(&rep.stamp).is_some())
        && field(req.headers(), &header::ACCEPT).is_some_and(|accept| accepts_metalink(&accept))
}

/// Whether an `Accept` value names the Metalink type with a weight above 0.
fn accepts_metalink(accept: &str) -> bool {
    accept.split(',').any(|member| {
        let mut parts = member.split(';');
        let named = parts
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case(CONTENT_TYPE));
        let weight = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("q")
                    .then(|| v.trim().parse::<f32>().ok())?
            })
            .next()
            .unwrap_or(1.0);
        named && weight > 0.0
    })
}

/// A file's `.meta4` (blocking: its pieces may be read from the store). `offered`: the answer
/// to the file's own URL (`--offer-metalink`): named `<name>.meta4` for the download.
pub fn file(
    shared: &Shared,
    rep: &Representation,
    base: Option<&str>,
    offered: bool,
) -> Result<Entity, Stop> {
    let (Some(digests), Some(base)) = (&shared.digests, base) else {
        return Err(Stop::Refuse(Refusal::NotFound));
    };
    let name = &rep.identity.name;
    if !rep.identity.describable {
        return Err(Stop::Refuse(Refusal::NotFound));
    }
    let (sum, pieces) = match digests.pieces(&rep.stamp, &rep.identity.rel) {
        PiecesStatus::Ready { sum, pieces } => (sum, pieces),
        PiecesStatus::Hashing { done, total, rate } => {
            return Err(Stop::Pending(digest::retry_after(done, total, rate)));
        }
    };
    let file = MetaFile {
        name,
        size: rep.stamp.size,
        sha256: sum,
        pieces: &pieces.sha256,
        urls: urls(shared, base, &rep.identity.rel),
    };
    let mut doc = Generated::new(metalink::render(&[file]), CONTENT_TYPE);
    if offered {
        doc.vary_accept = true;
        let mut meta_name = String::from_utf8_lossy(name).into_owned();
        meta_name.push_str(".meta4");
        doc.disposition = HeaderValue::from_str(&format::content_disposition(&meta_name)).ok();
    }
    Ok(Entity::Generated(doc))
}

/// The `.meta4` of every visible file below `dir` (named `<folder name>/<path>`), blocking.
pub fn folder(
    shared: &Arc<Shared>,
    dir: &Dir,
    folder_name: &[u8],
    base: Option<&str>,
) -> Result<Entity, Stop> {
    let (Some(digests), Some(base)) = (&shared.digests, base) else {
        return Err(Stop::Refuse(Refusal::NotFound));
    };
    let root = &shared.config.root;
    let files = root
        .retrying(|| archives::files_below(root, dir, folder_name))
        .map_err(|err| {
            tracing::warn!("cannot list the files for a Metalink: {err}");
            Stop::Refuse(Refusal::OpenFailed(crate::error::status_for(&err)))
        })?;
    let mut found = Vec::with_capacity(files.len());
    let (mut pending, mut rate, mut count) = (0u64, 0.0f64, 0u64);
    for (name, rel, stamp) in &files {
        if !metalink::representable(name) {
            continue;
        }
        count += pieces::piece_count(stamp.size);
        if count > MAX_FOLDER_PIECES {
            tracing::warn!(
                "a Metalink of more than {MAX_FOLDER_PIECES} pieces is not made ({} files)",
                files.len()
            );
            return Err(Stop::Refuse(Refusal::OpenFailed(
                hyper::StatusCode::INTERNAL_SERVER_ERROR,
            )));
        }
        match digests.pieces(stamp, rel) {
            PiecesStatus::Ready { sum, pieces } => found.push((name, rel, stamp.size, sum, pieces)),
            PiecesStatus::Hashing {
                done,
                total,
                rate: r,
            } => {
                pending += total.saturating_sub(done);
                rate = rate.max(r);
            }
        }
    }
    if pending > 0 {
        return Err(Stop::Pending(digest::retry_after(0, pending, rate)));
    }
    let described: Vec<MetaFile<'_>> = found
        .iter()
        .map(|(name, rel, size, sum, pieces)| MetaFile {
            name,
            size: *size,
            sha256: *sum,
            pieces: &pieces.sha256,
            urls: urls(shared, base, rel),
        })
        .collect();
    let text = metalink::render(&described).into_bytes();
    Ok(Entity::Generated(Generated::new(
        shared.held.share(text),
        CONTENT_TYPE,
    )))
}

/// A file's `.meta4` (or, `offered`, the answer to the file's URL), on the blocking pool.
pub async fn file_document(
    shared: &Arc<Shared>,
    rep: Representation,
    base: Option<String>,
    offered: bool,
) -> Found {
    let shared = Arc::clone(shared);
    blocking(move || file(&shared, &rep, base.as_deref(), offered).map(|doc| (doc, Extra::new())))
        .await
}

/// A folder's `.meta4`, on the blocking pool, in a walk's turn.
pub async fn folder_document(
    shared: &Arc<Shared>,
    dir: Dir,
    path: RequestPath,
    base: Option<String>,
) -> Found {
    let _turn = shared.walks.acquire().await;
    let shared = Arc::clone(shared);
    let name = path
        .segments
        .last()
        .and_then(|last| last.strip_suffix(route::METALINK_SUFFIX))
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    blocking(move || folder(&shared, &dir, &name, base.as_deref()).map(|doc| (doc, Extra::new())))
        .await
}
