//! From a request to a [`Plan`]: the gates, the route, the [`Entity`] the path names (a file,
//! a folder archive, or a document generated here), and what `http::decide` says of it. The
//! lookups run inline when the kernel's caches can answer them, else on the blocking pool, and
//! so do the listings' reads.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use hyper::StatusCode;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request};

use super::gates;
use super::metalink;
use super::state::Shared;
use crate::digest;
use crate::error;
use crate::http::decide::{Outcome, decide};
use crate::http::digest_fields;
use crate::http::fields::field;
use crate::representation::Representation;
use crate::tree::archives::{self, Prepared};
use crate::tree::entity::{Entity, Generated, TEXT_PLAIN};
use crate::tree::listing;
use crate::tree::root::Dir;
use crate::tree::route::{self, RequestPath, Target};

/// RFC 9530 §4.
const WANT_REPR_DIGEST: HeaderName = HeaderName::from_static("want-repr-digest");
/// RFC 9530 §3.
const REPR_DIGEST: HeaderName = HeaderName::from_static("repr-digest");
/// RFC 3230 §4.3.1 (what aria2c sends).
const WANT_DIGEST: HeaderName = HeaderName::from_static("want-digest");
/// RFC 3230 §4.3.2.
const DIGEST: HeaderName = HeaderName::from_static("digest");

/// Everything a response can be. Not boxed: a plan is made and consumed once per request, and
/// a box would cost an allocation on every one.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Plan {
    /// A fixed-text answer (see `respond::refusal` for the table).
    Refuse(Refusal),
    /// 301 to this location (a directory's URL with its trailing slash).
    Redirect(String),
    /// 503 with `Retry-After` (seconds): a digest the answer needs is still being computed.
    Pending(u64),
    /// An entity, and what the preconditions and the range decided for it.
    Serve(Served),
}

/// A plan without an entity: what a gate or a lookup answers instead of serving.
#[derive(Debug)]
pub enum Stop {
    Refuse(Refusal),
    Redirect(String),
    Pending(u64),
}

impl From<Stop> for Plan {
    fn from(stop: Stop) -> Plan {
        match stop {
            Stop::Refuse(why) => Plan::Refuse(why),
            Stop::Redirect(to) => Plan::Redirect(to),
            Stop::Pending(secs) => Plan::Pending(secs),
        }
    }
}

/// The fixed-text answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 400: a missing, repeated or contradicting `Host`.
    BadRequest(&'static str),
    /// 401 with the Basic challenge (`--auth`).
    Unauthorized,
    /// 429: too many wrong credentials from this address; retry after this many seconds.
    TooManyAttempts(u64),
    /// 503: the client already has `--max-connections-per-client` connections open.
    Busy,
    /// 410: a signed link past its expiry.
    LinkExpired,
    /// 403: not a valid signed link for this path.
    LinkRefused,
    /// A link whose downloads are all used (410).
    LinkUsed,
    /// 404: the path names nothing that is served.
    NotFound,
    /// 405: a method other than GET or HEAD.
    MethodNotAllowed,
    /// What names a file that could not be opened now (gone → 404, unreadable → 403, else 500).
    OpenFailed(StatusCode),
}

/// What is served, how, and the `Repr-Digest` value when it is known and wanted.
#[derive(Debug)]
pub struct Served {
    pub entity: Entity,
    pub outcome: Outcome,
    /// Fields that describe the whole representation, sent on 200 and 206: `Repr-Digest`,
    /// `Digest` when asked for, the Metalink `Link`s.
    pub fields: Extra,
    /// The id of the signed link the request came through (its downloads are counted apart).
    pub link: Option<String>,
    /// That link's download limit and expiry (Unix seconds).
    pub limit: Option<(u64, u64)>,
}

/// Fields sent with an entity's 200 and 206.
pub type Extra = Vec<(HeaderName, HeaderValue)>;

impl Plan {
    /// What this plan's body sends toward a client's copy (see `downloads`): a file's or an
    /// archive's 200 or single-range 206 — not a 304, 412, 416 or multipart answer, nor a
    /// generated document.
    pub fn counting(
        &self,
        shared: &Shared,
        peer: SocketAddr,
    ) -> Option<crate::downloads::Counting> {
        let Plan::Serve(Served {
            entity,
            outcome,
            link,
            limit,
            ..
        }) = self
        else {
            return None;
        };
        let start = match outcome {
            Outcome::Full => 0,
            Outcome::Single(range) => range.start,
            _ => return None,
        };
        let (rep, version) = match entity {
            Entity::File(rep) => (rep, crate::downloads::Version::File(rep.stamp)),
            Entity::Archive(rep) => (rep, crate::downloads::Version::Archive(rep.etag.clone())),
            Entity::Generated(_) => return None,
        };
        Some(crate::downloads::Counting {
            key: crate::downloads::Key {
                version,
                client: crate::share::client::client(peer.ip()),
                link: link.clone().unwrap_or_default(),
            },
            len: entity.len(),
            start,
            file: Arc::clone(&rep.identity),
            digests: shared.digests.clone(),
            limit: *limit,
        })
    }

    /// For a 206 with one range: where it starts in the entity, and the entity's length.
    pub fn single_range(&self) -> Option<(u64, u64)> {
        match self {
            Plan::Serve(Served {
                entity,
                outcome: Outcome::Single(Range { start, .. }),
                ..
            }) => Some((*start, entity.len())),
            _ => None,
        }
    }
}

/// The request's plan. `started` and `now`: when it came, by the monotonic and the wall clock
/// (read once per request).
pub async fn plan(
    req: &Request<Incoming>,
    shared: &Arc<Shared>,
    peer: SocketAddr,
    started: Instant,
    now: SystemTime,
) -> Plan {
    if let Err(refusal) = gates::admit(req, shared, peer, started).await {
        return Plan::Refuse(refusal);
    }
    let gates::Mount {
        prefix: mount,
        rest: raw,
        within,
        link,
    } = match gates::mount(req.uri().path(), &shared.config, now) {
        Ok(mounted) => mounted,
        Err(stop) => return stop.into(),
    };
    let path = match route::parse(raw) {
        Ok(path) => route::unalias(path, shared.config.root.name()),
        // Like any miss (the tests of `--file` have always wanted 404 for `/../x` and `//`):
        // nothing is served there, and the reason is only the log's business.
        Err(bad) => {
            tracing::debug!("{raw}: {}", bad.reason().trim_end());
            return Plan::Refuse(Refusal::NotFound);
        }
    };
    let target = resolve(shared, &path, raw, req.uri().query(), within).await;
    let base = || metalink::base(req, shared, &mount);
    // Only what names a file needs the absolute URL (its `Link` fields, its Metalink).
    let get_or_head = req.method() == Method::GET || req.method() == Method::HEAD;
    if !get_or_head && !matches!(target, Target::NotFound) {
        return Plan::Refuse(Refusal::MethodNotAllowed);
    }
    let found = match target {
        Target::File(rep) if metalink::offered(req, shared, &rep) => {
            metalink::file_document(shared, rep, base(), true).await
        }
        Target::File(rep) => Ok(file(req, shared, rep, base())),
        Target::Sidecar(rep, name) => sidecar(shared, &rep, &name).map(|doc| (doc, Vec::new())),
        Target::Metalink(rep) => metalink::file_document(shared, rep, base(), false).await,
        Target::FolderMetalink(dir) => metalink::folder_document(shared, dir, path, base()).await,
        Target::Torrent(rep) => super::torrent::file_document(shared, rep, base()).await,
        Target::FolderTorrent(dir) => {
            super::torrent::folder_document(shared, dir, path, base()).await
        }
        Target::Listing(dir) => super::listing::listing(req, shared, dir, path, mount).await,
        Target::Manifest(dir) => super::listing::manifest(shared, dir, path).await,
        Target::Archive(dir, format) => archive(shared, dir, format, path, started).await,
        Target::Redirect(location) => Err(Stop::Redirect(format!("{mount}{location}"))),
        Target::NotFound => Err(Stop::Refuse(Refusal::NotFound)),
        Target::Failed(err) => Err(failed("open", &shown(&path), &err)),
        Target::WouldBlock => Err(internal_error()),
    };
    let (entity, fields) = match found {
        Ok(found) => found,
        Err(stop) => return stop.into(),
    };
    // A link that allows N downloads: once N clients hold their copy, the file (or archive) is
    // refused to every other client, even one part-way through (the README's rule).
    if let Some(gates::LinkUse {
        id,
        limit: Some(limit),
        ..
    }) = &link
        && matches!(entity, Entity::File(_) | Entity::Archive(_))
        && shared
            .downloads
            .link_spent(id, *limit, crate::share::client::client(peer.ip()))
    {
        return Plan::Refuse(Refusal::LinkUsed);
    }
    let validators = entity.validators(now);
    let mut outcome = decide(
        req.headers(),
        entity.len(),
        &validators,
        shared.config.max_ranges,
        now,
    );
    // Through a download-limited link, several ranges are answered with the whole file (RFC
    // 9110 §14.2 lets a server ignore Range): every byte sent is then counted.
    if matches!(outcome, Outcome::Multipart(_)) && link.as_ref().is_some_and(|l| l.limit.is_some())
    {
        outcome = Outcome::Full;
    }
    Plan::Serve(Served {
        entity,
        outcome,
        fields,
        limit: link.as_ref().and_then(|l| l.limit.map(|n| (n, l.expiry))),
        link: link.map(|l| l.id),
    })
}

/// A file error at request time: logged with what could not be done to which path, answered
/// with its status (gone → 404, unreadable → 403, else 500).
pub(super) fn failed(what: &str, shown: &str, err: &std::io::Error) -> Stop {
    tracing::warn!("cannot {what} '{shown}': {}", error::describe(err));
    Stop::Refuse(Refusal::OpenFailed(error::status_for(err)))
}

/// A file's or an archive's path as logged: `/a/b`.
fn shown(path: &RequestPath) -> String {
    route::display(&path.segments)
        .trim_end_matches('/')
        .to_string()
}

fn internal_error() -> Stop {
    Stop::Refuse(Refusal::OpenFailed(StatusCode::INTERNAL_SERVER_ERROR))
}

/// What a lookup or a generated document gives: the entity and the fields describing it, or
/// the plan to answer with instead.
pub(super) type Found = Result<(Entity, Extra), Stop>;

/// A file, with the content ETag and `Repr-Digest` once its digest is known (and `Digest` when
/// `Want-Digest` asks for SHA-256, RFC 3230), and its Metalink `Link`s.
fn file(
    req: &Request<Incoming>,
    shared: &Shared,
    mut rep: Representation,
    base: Option<String>,
) -> (Entity, Extra) {
    let status = shared
        .digests
        .as_ref()
        .map(|d| d.ensure(&rep.stamp, &rep.identity.rel));
    let mut fields = Extra::new();
    if let Some(digest::Status::Ready {
        field: value,
        etag,
        sum,
    }) = status
    {
        // The content tag from now on; the provisional one still names this version.
        let provisional = std::mem::replace(&mut rep.etag, etag);
        rep.also = Some(provisional);
        let want = field(req.headers(), &WANT_REPR_DIGEST);
        if digest_fields::wants_sha256(want.as_deref()) {
            fields.push((REPR_DIGEST, value));
        }
        let want = field(req.headers(), &WANT_DIGEST);
        if digest_fields::wants_rfc3230_sha256(want.as_deref())
            && let Ok(value) = HeaderValue::from_str(&digest_fields::digest_value(&sum))
        {
            fields.push((DIGEST, value));
        }
    }
    if shared.digests.is_some() || !shared.config.mirrors.is_empty() {
        metalink::link_fields(shared, base.as_deref(), &rep, &mut fields);
    }
    (Entity::File(rep), fields)
}

/// `<name>.sha256`: the `sha256sum` line of the file's current version, or 503 while hashing.
fn sidecar(shared: &Shared, rep: &Representation, name: &[u8]) -> Result<Entity, Stop> {
    let status = shared
        .digests
        .as_ref()
        .map(|d| d.ensure(&rep.stamp, &rep.identity.rel));
    match status {
        Some(digest::Status::Ready { sum, .. }) => Ok(Entity::Generated(Generated::new(
            listing::checksum_line(&sum, name),
            TEXT_PLAIN,
        ))),
        Some(digest::Status::Hashing { done, total, rate }) => {
            Err(Stop::Pending(digest::retry_after(done, total, rate)))
        }
        None => Err(Stop::Refuse(Refusal::NotFound)),
    }
}

/// A directory as one archive, prepared on the blocking pool for a request that came at `asked`.
async fn archive(
    shared: &Arc<Shared>,
    dir: Dir,
    format: crate::archive::Format,
    path: RequestPath,
    asked: Instant,
) -> Found {
    let _turn = shared.walks.acquire().await;
    let shared = Arc::clone(shared);
    let name = path.segments.last().cloned().unwrap_or_default();
    blocking(move || {
        let digests = shared.digests.as_ref();
        let root = &shared.config.root;
        let prepared = root.retrying(|| {
            archives::prepare(root, &dir, format, &name, digests, &shared.archives, asked)
        });
        match prepared {
            Ok(Prepared::Ready(rep)) => Ok((Entity::Archive(rep), Extra::new())),
            Ok(Prepared::Pending(bytes)) => {
                let rate = digests.map_or(0.0, |d| d.rate());
                Err(Stop::Pending(digest::retry_after(0, bytes, rate)))
            }
            Err(err) => Err(failed("archive", &shown(&path), &err)),
        }
    })
    .await
}

/// Resolves the path against the root: inline if every lookup is answered from the kernel's
/// caches, else again on the blocking pool. Symlinks on the way must lead inside `within`
/// (a signed folder link's folder; empty: anywhere in the root).
async fn resolve(
    shared: &Arc<Shared>,
    path: &RequestPath,
    raw: &str,
    query: Option<&str>,
    within: Vec<u8>,
) -> Target<Representation, Dir> {
    let root = &shared.config.root;
    let checksums = shared.digests.is_some();
    let rules = root.rules(checksums);
    let target = route::target(path, raw, query, rules, |rel| {
        root.lookup_within(rel, &within, false)
    });
    if !matches!(target, Target::WouldBlock) {
        return target;
    }
    let (root, path, raw) = (Arc::clone(root), path.clone(), raw.to_string());
    let query = query.map(str::to_string);
    match tokio::task::spawn_blocking(move || {
        let rules = root.rules(checksums);
        route::target(&path, &raw, query.as_deref(), rules, |rel| {
            root.lookup_within(rel, &within, true)
        })
    })
    .await
    {
        Ok(target) => target,
        Err(join) => Target::Failed(std::io::Error::other(join)),
    }
}

/// Runs `work` on the blocking pool; a panic there is a 500.
pub(super) async fn blocking(work: impl FnOnce() -> Found + Send + 'static) -> Found {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|_| Err(internal_error()))
}
