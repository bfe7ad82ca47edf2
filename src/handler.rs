//! One request → one [`Plan`] → one response.
//!
//! The path is checked and routed by the pure `tree::route`; the root looks up what it names
//! (inline when the kernel's caches can answer, else on the blocking pool); a file is then
//! planned by [`decide`], which is pure (header values, one opened version of the file and the
//! clock reading). Listings and manifests are read and rendered on the blocking pool. Turning a
//! plan into a response is one exhaustive `match`.

use std::borrow::Cow;
use std::convert::Infallible;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};
use sha2::{Digest as _, Sha256};

use crate::access_log::{self, Entry, LoggedBody};
use crate::body::{Body, FileBody};
use crate::cli::Config;
use crate::digest::{self, Digests, Wanted};
use crate::error;
use crate::http::conditional::{self, Cond, Decision, Preconditions, Validators};
use crate::http::format;
use crate::http::multipart;
use crate::http::range::{self, RangeRequest};
use crate::http::segment::Segment;
use crate::ops::{live, transfers};
use crate::representation::Representation;
use crate::tree::archives::{self, ArchiveCache, Prepared};
use crate::tree::listing::{self, Page};
use crate::tree::root::{Dir, Listed};
use crate::tree::route::{self, RequestPath, Target};

/// RFC 9530 §3.
const REPR_DIGEST: HeaderName = HeaderName::from_static("repr-digest");
/// RFC 9530 §4.
const WANT_REPR_DIGEST: HeaderName = HeaderName::from_static("want-repr-digest");

/// What every request needs: the configuration, the digests (absent with `--no-digest`), and
/// the archive layouts computed so far.
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    pub digests: Option<Arc<Digests>>,
    pub archives: Arc<ArchiveCache>,
    /// Connections being served (the last one to end closes the kept file handles).
    pub connections: std::sync::atomic::AtomicUsize,
    /// The rate-limit buckets shared between responses (per client, total).
    pub buckets: crate::share::throttle::Buckets,
    /// Wrong `--auth` attempts per address.
    pub failures: std::sync::Mutex<crate::share::auth::Failures>,
    /// Connections open per client address (for `--max-connections-per-client`).
    pub per_client: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// Everything a response can be.
#[derive(Debug)]
pub enum Plan {
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
    /// The path names nothing that is served.
    NotFound,
    /// A method other than GET or HEAD.
    MethodNotAllowed,
    /// The file could not be opened now (gone → 404, unreadable → 403, else 500).
    OpenFailed(StatusCode),
    /// 301 to a directory's URL with its trailing slash.
    Redirect(String),
    NotModified(Representation),
    PreconditionFailed,
    /// 416, with the length for `Content-Range: bytes */len`.
    Unsatisfiable(u64),
    /// 200 with the whole file.
    Full(Representation),
    /// 206 with one range.
    Single(Representation, Range<u64>),
    /// 206 `multipart/byteranges` with two or more ranges.
    Multipart(Representation, Vec<Range<u64>>),
    /// A sidecar or a manifest: `sha256sum` lines.
    Checksum(Bytes),
    /// A sidecar or manifest while a digest is still being computed: 503 with `Retry-After`.
    ChecksumPending(u64),
    /// A directory listing.
    Listing(Listing),
    /// 304 for a listing whose ETag the client has.
    ListingNotModified(Listing),
}

/// A rendered listing.
#[derive(Debug)]
pub struct Listing {
    pub body: Bytes,
    /// Strong: a digest of the body, so it changes whenever a byte of the listing does.
    pub etag: String,
    pub json: bool,
}

/// The hyper service: plans, responds, and wraps the body so the access log sees its end.
/// `busy`: this connection is over `--max-connections-per-client` (every request gets 503).
pub async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    peer: SocketAddr,
    busy: bool,
) -> Result<Response<LoggedBody>, Infallible> {
    let started = Instant::now();
    let (plan, repr_digest) = if busy {
        (Plan::Busy, None)
    } else {
        plan(&req, &shared, peer).await
    };
    let head = req.method() == Method::HEAD;
    let resume_from = resume_from(&plan);
    let response = respond(plan, &shared.config, head, SystemTime::now(), repr_digest);
    let status = response.status().as_u16();
    // Built only when the access log is on (it costs allocations on every request).
    let entry =
        tracing::enabled!(target: access_log::TARGET, tracing::Level::INFO).then(|| Entry {
            peer,
            method: req.method().clone(),
            path: req.uri().path().to_string(),
            range: req.headers().get(header::RANGE).cloned(),
            status,
            started,
            user_agent: req.headers().get(header::USER_AGENT).cloned(),
            version: req.version(),
            resume_from,
        });
    let (parts, body) = response.into_parts();
    let mut body = LoggedBody::new(body, entry, status, resume_from.is_some());
    let promised = body.promised();
    if promised > 0
        && let Some(throttle) = shared.buckets.throttle(&shared.config.limits, peer.ip())
    {
        body = body.throttled(throttle);
    }
    if promised >= transfers::TRACK_FROM && live::tracking() {
        let (start, file_len) = extent(&parts.headers, promised);
        body = body.tracked(transfers::registry().start(transfers::Transfer {
            client: peer.ip(),
            path: req.uri().path().to_string(),
            file_len,
            start,
            promised,
            started,
            sent: Default::default(),
        }));
    }
    Ok(Response::from_parts(parts, body))
}

/// Where a response's bytes start in the file and the file's length: from `Content-Range`
/// for a single-range 206, else 0 and the body's length.
fn extent(fields: &HeaderMap, promised: u64) -> (u64, u64) {
    let parsed = fields
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes "))
        .and_then(|v| {
            let (range, len) = v.split_once('/')?;
            let first = range.split('-').next()?.parse().ok()?;
            Some((first, len.parse().ok()?))
        });
    parsed.unwrap_or((0, promised))
}

/// Where a 206 with one range starts, when that is past byte 0 (a resume).
fn resume_from(plan: &Plan) -> Option<u64> {
    match plan {
        Plan::Single(_, range) if range.start > 0 => Some(range.start),
        _ => None,
    }
}

/// RFC 9112 §3.2: an HTTP/1.1 request must carry exactly one `Host`, and no request two. An
/// absolute-form target must name the same host as `Host` (§3.2.2 lets the target's win; as
/// this server has no list of its names, a disagreement is refused rather than guessed at).
fn host_problem(req: &Request<Incoming>) -> Option<&'static str> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Some("more than one Host field\n");
    }
    match (host, req.uri().authority()) {
        (None, _) if req.version() == Version::HTTP_11 => {
            Some("an HTTP/1.1 request needs a Host field\n")
        }
        (Some(host), Some(authority))
            if !host
                .as_bytes()
                .eq_ignore_ascii_case(authority.as_str().as_bytes()) =>
        {
            Some("the request target names another host than the Host field\n")
        }
        _ => None,
    }
}

/// `Retry-After` of a 503 for a client over `--max-connections-per-client` (seconds).
pub const BUSY_RETRY_AFTER: u64 = 5;

/// Why a path is not below the mount point.
#[derive(Debug)]
enum Unmounted {
    Miss,
    Redirect(String),
    Expired,
    Refused,
}

impl From<Unmounted> for Plan {
    fn from(why: Unmounted) -> Plan {
        match why {
            Unmounted::Miss => Plan::NotFound,
            Unmounted::Redirect(to) => Plan::Redirect(to),
            Unmounted::Expired => Plan::LinkExpired,
            Unmounted::Refused => Plan::LinkRefused,
        }
    }
}

/// Where the tree is mounted in this request's path: with `--secret-path` under `/<secret>`
/// (anything else is a miss like any other), with `--signed-links` under a valid link token
/// (expired → 410, anything else → 403); else at `/`. Returns the prefix and the rest.
fn mount<'a>(path: &'a str, shared: &Shared) -> Result<(String, &'a str), Unmounted> {
    let config = &shared.config;
    if let Some(secret) = &config.secret {
        let rest = path
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(secret.as_str()))
            .ok_or(Unmounted::Miss)?;
        return match rest {
            "" => Err(Unmounted::Redirect(format!("/{secret}/"))),
            rest if rest.starts_with('/') => Ok((format!("/{secret}"), rest)),
            _ => Err(Unmounted::Miss),
        };
    }
    let Some(key) = &config.link_key else {
        return Ok((String::new(), path));
    };
    let after = path.strip_prefix('/').unwrap_or(path);
    let (token, rest) = match after.find('/') {
        Some(at) => (&after[..at], &after[at..]),
        None => (after, ""),
    };
    let segments = match rest {
        "" => Vec::new(),
        rest => route::parse(rest).map_err(|_| Unmounted::Miss)?.segments,
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match crate::share::link::verify(key, token, &segments, now) {
        // `/<token>` without the slash: a root directory link's listing is at `/<token>/`.
        crate::share::link::Check::Valid if rest.is_empty() => {
            Err(Unmounted::Redirect(format!("/{token}/")))
        }
        crate::share::link::Check::Valid => Ok((format!("/{token}"), rest)),
        crate::share::link::Check::Expired => Err(Unmounted::Expired),
        crate::share::link::Check::Refused => Err(Unmounted::Refused),
    }
}

/// `--auth`: `None` when the request may go on, else the refusal (401, or 429 for an address
/// with too many wrong attempts). Wrong credentials are logged with the peer.
fn authenticate(req: &Request<Incoming>, shared: &Shared, peer: SocketAddr) -> Option<Plan> {
    use crate::share::auth::{self, Verdict};
    let credentials = &shared.config.auth;
    if credentials.is_empty() {
        return None;
    }
    let now = Instant::now();
    let mut failures = shared
        .failures
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(left) = failures.refused_for(peer.ip(), now) {
        return Some(Plan::TooManyAttempts(auth::retry_after(left)));
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    match auth::check(credentials, given) {
        Verdict::Allowed(_) => None,
        Verdict::Missing => Some(Plan::Unauthorized),
        Verdict::Wrong => {
            tracing::warn!("wrong credentials from {peer} for {}", req.uri().path());
            match failures.record(peer.ip(), now) {
                Some(refused) => {
                    tracing::warn!(
                        "{}: more than {} wrong credentials in a minute; refused for {:?}",
                        peer.ip(),
                        auth::MAX_FAILURES,
                        refused
                    );
                    Some(Plan::TooManyAttempts(auth::retry_after(refused)))
                }
                None => Some(Plan::Unauthorized),
            }
        }
    }
}

/// The plan, and the `Repr-Digest` value for the version it serves when that is known.
async fn plan(
    req: &Request<Incoming>,
    shared: &Arc<Shared>,
    peer: SocketAddr,
) -> (Plan, Option<HeaderValue>) {
    if let Some(problem) = host_problem(req) {
        return (Plan::BadRequest(problem), None);
    }
    if let Some(refusal) = authenticate(req, shared, peer) {
        return (refusal, None);
    }
    let (mount, raw) = match mount(req.uri().path(), shared) {
        Ok(mounted) => mounted,
        Err(refusal) => return (refusal.into(), None),
    };
    let path = match route::parse(raw) {
        Ok(path) => path,
        // Like any miss (the tests of `--file` have always wanted 404 for `/../x` and `//`):
        // nothing is served there, and the reason is only the log's business.
        Err(bad) => {
            tracing::debug!("{raw}: {}", bad.reason().trim_end());
            return (Plan::NotFound, None);
        }
    };
    let target = resolve(shared, &path, raw, req.uri().query()).await;
    if matches!(target, Target::NotFound) {
        return (Plan::NotFound, None);
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return (Plan::MethodNotAllowed, None);
    }
    match target {
        Target::File(rep) => file_plan(req, shared, rep),
        Target::Sidecar(rep, name) => (sidecar_plan(shared, &rep, &name), None),
        Target::Listing(dir) => (listing_plan(req, shared, dir, path, mount).await, None),
        Target::Manifest(dir) => (manifest_plan(shared, dir, path).await, None),
        Target::Archive(dir, format) => (archive_plan(req, shared, dir, format, path).await, None),
        Target::Redirect(location) => (Plan::Redirect(format!("{mount}{location}")), None),
        Target::NotFound => (Plan::NotFound, None),
        Target::Failed(err) => {
            tracing::warn!(
                "cannot open '{}': {}",
                route::display(&path.segments).trim_end_matches('/'),
                error::describe(&err)
            );
            (Plan::OpenFailed(error::status_for(&err)), None)
        }
        Target::WouldBlock => (Plan::OpenFailed(StatusCode::INTERNAL_SERVER_ERROR), None),
    }
}

/// A file: its digest (the content ETag and `Repr-Digest` once known), then [`decide`].
fn file_plan(
    req: &Request<Incoming>,
    shared: &Shared,
    mut rep: Representation,
) -> (Plan, Option<HeaderValue>) {
    let status = shared
        .digests
        .as_ref()
        .map(|d| d.ensure(&rep.stamp, &rep.identity.rel));
    let want = field(req.headers(), &WANT_REPR_DIGEST);
    let repr_digest = match status {
        Some(digest::Status::Ready { field, etag, .. }) => {
            // The content tag from now on; the provisional one still names this version.
            let provisional = std::mem::replace(&mut rep.etag, etag);
            rep.also = Some(provisional);
            crate::http::digest_fields::wants_sha256(want.as_deref()).then_some(field)
        }
        _ => None,
    };
    let plan = decide(
        req.headers(),
        rep,
        shared.config.max_ranges,
        SystemTime::now(),
    );
    (plan, repr_digest)
}

/// `<name>.sha256`: the `sha256sum` line of the file's current version, or 503 while hashing.
fn sidecar_plan(shared: &Shared, rep: &Representation, name: &[u8]) -> Plan {
    let status = shared
        .digests
        .as_ref()
        .map(|d| d.ensure(&rep.stamp, &rep.identity.rel));
    match status {
        Some(digest::Status::Ready { sum, .. }) => {
            Plan::Checksum(listing::checksum_line(&sum, name).into())
        }
        Some(digest::Status::Hashing { done, total, rate }) => {
            Plan::ChecksumPending(digest::retry_after(done, total, rate))
        }
        None => Plan::NotFound,
    }
}

/// A directory's listing, HTML or JSON, read and rendered on the blocking pool; 304 when the
/// client has its ETag.
async fn listing_plan(
    req: &Request<Incoming>,
    shared: &Arc<Shared>,
    dir: Dir,
    path: RequestPath,
    mount: String,
) -> Plan {
    let json = route::wants_json(
        req.uri().query(),
        field(req.headers(), &header::ACCEPT).as_deref(),
    );
    let scheme = if shared.config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let origin = origin(req, scheme);
    let if_none_match = field(req.headers(), &header::IF_NONE_MATCH).map(Cow::into_owned);
    let shared = Arc::clone(shared);
    blocking(move || {
        let entries = match read_entries(&shared, &dir, &path) {
            Ok(entries) => entries,
            Err(status) => return Plan::OpenFailed(status),
        };
        let page = Page {
            segments: &path.segments,
            origin: origin.as_deref(),
            entries: &entries,
            checksums: shared.digests.is_some(),
            archive_name: path
                .segments
                .last()
                .map(Vec::as_slice)
                .or(Some(shared.config.root.name()))
                .filter(|name| !name.is_empty()),
            mount: &mount,
        };
        let body = if json {
            listing::json(&page)
        } else {
            listing::html(&page)
        };
        let etag = format!("\"{}\"", format::hex(&Sha256::digest(&body)[..12]));
        let listing = Listing {
            body: body.into(),
            etag,
            json,
        };
        match if_none_match {
            Some(value)
                if conditional::check_if_none_match(&value, &listing.etag) == Cond::False =>
            {
                Plan::ListingNotModified(listing)
            }
            _ => Plan::Listing(listing),
        }
    })
    .await
}

/// `SHA256SUMS` of a directory's files, once every digest is known (503 until then; 404 for a
/// directory without files).
async fn manifest_plan(shared: &Arc<Shared>, dir: Dir, path: RequestPath) -> Plan {
    let shared = Arc::clone(shared);
    blocking(move || {
        let entries = match read_entries(&shared, &dir, &path) {
            Ok(entries) => entries,
            Err(status) => return Plan::OpenFailed(status),
        };
        match listing::manifest(&entries) {
            Ok(Some(text)) => Plan::Checksum(text.into()),
            Ok(None) => Plan::NotFound,
            Err(_) => {
                let rate = shared.digests.as_ref().map_or(0.0, |d| d.rate());
                Plan::ChecksumPending(digest::retry_after(0, pending_bytes(&entries), rate))
            }
        }
    })
    .await
}

/// A directory as one archive, prepared on the blocking pool, then planned like a file.
async fn archive_plan(
    req: &Request<Incoming>,
    shared: &Arc<Shared>,
    dir: Dir,
    format: crate::archive::Format,
    path: RequestPath,
) -> Plan {
    let shared = Arc::clone(shared);
    let fields = req.headers().clone();
    let name = path.segments.last().cloned().unwrap_or_default();
    blocking(move || {
        let digests = shared.digests.as_ref();
        let root = &shared.config.root;
        match archives::prepare(root, &dir, format, &name, digests, &shared.archives) {
            Ok(Prepared::Ready(rep)) => {
                decide(&fields, rep, shared.config.max_ranges, SystemTime::now())
            }
            Ok(Prepared::Pending(bytes)) => {
                let rate = digests.map_or(0.0, |d| d.rate());
                Plan::ChecksumPending(digest::retry_after(0, bytes, rate))
            }
            Err(err) => {
                tracing::warn!(
                    "cannot archive '{}': {}",
                    route::display(&path.segments).trim_end_matches('/'),
                    error::describe(&err)
                );
                Plan::OpenFailed(error::status_for(&err))
            }
        }
    })
    .await
}

/// Resolves the path against the root: inline if every lookup is answered from the kernel's
/// caches, else again on the blocking pool.
async fn resolve(
    shared: &Arc<Shared>,
    path: &RequestPath,
    raw: &str,
    query: Option<&str>,
) -> Target<Representation, Dir> {
    let root = &shared.config.root;
    let checksums = shared.digests.is_some();
    let rules = root.rules(checksums);
    let target = route::target(path, raw, query, rules, |rel| root.lookup(rel, false));
    if !matches!(target, Target::WouldBlock) {
        return target;
    }
    let (root, path, raw) = (Arc::clone(root), path.clone(), raw.to_string());
    let query = query.map(str::to_string);
    match tokio::task::spawn_blocking(move || {
        let rules = root.rules(checksums);
        route::target(&path, &raw, query.as_deref(), rules, |rel| {
            root.lookup(rel, true)
        })
    })
    .await
    {
        Ok(target) => target,
        Err(join) => Target::Failed(std::io::Error::other(join)),
    }
}

/// Runs `work` on the blocking pool; a panic there is a 500.
async fn blocking(work: impl FnOnce() -> Plan + Send + 'static) -> Plan {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or(Plan::OpenFailed(StatusCode::INTERNAL_SERVER_ERROR))
}

/// A directory's entries, sorted, with the digests known so far (the others are queued).
/// Blocking. An unreadable directory is the status to answer with.
fn read_entries(
    shared: &Shared,
    dir: &Dir,
    path: &RequestPath,
) -> Result<Vec<listing::Entry>, StatusCode> {
    let listed = shared.config.root.entries(dir).map_err(|err| {
        tracing::warn!(
            "cannot list '{}': {}",
            route::display(&path.segments),
            error::describe(&err)
        );
        error::status_for(&err)
    })?;
    Ok(with_digests(shared.digests.as_deref(), listed))
}

fn with_digests(digests: Option<&Digests>, listed: Vec<Listed>) -> Vec<listing::Entry> {
    let mut entries = Vec::with_capacity(listed.len());
    let mut files = Vec::new();
    let mut file_index = Vec::new();
    for item in listed {
        if item.is_file() {
            file_index.push(entries.len());
            files.push(Wanted {
                stamp: item.stamp,
                name: String::from_utf8_lossy(&item.rel).into_owned(),
                rel: item.rel,
            });
        }
        entries.push(item.entry);
    }
    if let Some(digests) = digests {
        let sums = digests.lookup_all(&files);
        for (index, sum) in file_index.into_iter().zip(sums) {
            entries[index].sha256 = sum.map(|s| s.sha256);
        }
    }
    listing::sort(&mut entries);
    entries
}

/// Bytes of the files that still lack a digest.
fn pending_bytes(entries: &[listing::Entry]) -> u64 {
    entries
        .iter()
        .filter(|e| e.sha256.is_none())
        .map(|e| match e.kind {
            listing::Kind::File { size } => size,
            listing::Kind::Dir => 0,
        })
        .sum()
}

/// `http://HOST` (or `https://`) from the request's `Host` (HTTP/2: `:authority`), for the
/// copy-paste commands; `None` if absent or not a plain host[:port] (it goes into a shell
/// command a person may paste).
fn origin(req: &Request<Incoming>, scheme: &str) -> Option<String> {
    let host = match req.headers().get(header::HOST) {
        Some(host) => host.to_str().ok()?,
        None => req.uri().authority()?.as_str(),
    };
    let plain = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    plain.then(|| format!("{scheme}://{host}"))
}

/// Applies the preconditions (RFC 9110 §13.2.2) and then the `Range` (§14.2) of a GET or HEAD.
pub fn decide(fields: &HeaderMap, rep: Representation, max_ranges: usize, now: SystemTime) -> Plan {
    let [
        if_match,
        if_unmodified_since,
        if_none_match,
        if_modified_since,
        if_range,
        range,
    ] = fields_named(
        fields,
        [
            &header::IF_MATCH,
            &header::IF_UNMODIFIED_SINCE,
            &header::IF_NONE_MATCH,
            &header::IF_MODIFIED_SINCE,
            &header::IF_RANGE,
            &header::RANGE,
        ],
    );
    let preconditions = Preconditions {
        if_match: if_match.as_deref(),
        if_unmodified_since: if_unmodified_since.as_deref(),
        if_none_match: if_none_match.as_deref(),
        if_modified_since: if_modified_since.as_deref(),
        if_range: if_range.as_deref(),
        has_range: range.is_some(),
    };
    let validators = Validators {
        etag: &rep.etag,
        also: rep.also.as_deref(),
        last_modified: format::last_modified(rep.modified, now),
    };
    match conditional::evaluate(&preconditions, &validators, now) {
        Decision::PreconditionFailed => Plan::PreconditionFailed,
        Decision::NotModified => Plan::NotModified(rep),
        Decision::Proceed { honor_range: false } => Plan::Full(rep),
        Decision::Proceed { honor_range: true } => {
            let value = range.as_deref().unwrap_or_default();
            match range::resolve(value, rep.len, max_ranges) {
                RangeRequest::Full => Plan::Full(rep),
                RangeRequest::Unsatisfiable => Plan::Unsatisfiable(rep.len),
                RangeRequest::Satisfiable(mut ranges) if ranges.len() == 1 => {
                    let only = ranges.swap_remove(0);
                    Plan::Single(rep, only)
                }
                RangeRequest::Satisfiable(ranges) => Plan::Multipart(rep, ranges),
            }
        }
    }
}

/// A field's value, with several field lines joined by ", " as §5.3 allows for lists. For the
/// singleton fields (dates, `If-Range`, `Range`) a join never parses, so they are then ignored
/// or false, which is what the RFC asks of an invalid value.
fn field<'a>(fields: &'a HeaderMap, name: &HeaderName) -> Option<Cow<'a, str>> {
    let mut joined = None;
    for value in fields.get_all(name) {
        join_line(&mut joined, value);
    }
    joined
}

/// Adds one field line's value to what the earlier lines of that field gave (", " between).
fn join_line<'a>(joined: &mut Option<Cow<'a, str>>, value: &'a HeaderValue) {
    let text = String::from_utf8_lossy(value.as_bytes());
    match joined {
        None => *joined = Some(text),
        Some(joined) => {
            let joined = joined.to_mut();
            joined.push_str(", ");
            joined.push_str(&text);
        }
    }
}

/// [`field`] for several names in one pass over the request's fields (a lookup per name hashed
/// each name: 6 absent fields cost more than reading the 4 or 5 a download client sends).
fn fields_named<'a, const N: usize>(
    fields: &'a HeaderMap,
    names: [&HeaderName; N],
) -> [Option<Cow<'a, str>>; N] {
    let mut found: [Option<Cow<'a, str>>; N] = std::array::from_fn(|_| None);
    for (name, value) in fields {
        if let Some(at) = names.iter().position(|wanted| *wanted == name) {
            join_line(&mut found[at], value);
        }
    }
    found
}

/// Builds the response for a plan. `head` drops the body but keeps every header, including the
/// `Content-Length` a GET would get (RFC 9110 §9.3.2). `repr_digest` goes on 200 and 206: it
/// describes the whole representation, whatever part is sent (RFC 9530 §3).
///
/// Headers go into one pre-sized map, with the fixed values precomputed: this runs per request.
pub fn respond(
    plan: Plan,
    config: &Config,
    head: bool,
    now: SystemTime,
    repr_digest: Option<HeaderValue>,
) -> Response<Body> {
    let mut fields = HeaderMap::with_capacity(12);
    let (status, body) = match plan {
        Plan::BadRequest(reason) => text(&mut fields, StatusCode::BAD_REQUEST, reason),
        Plan::Unauthorized => {
            fields.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(crate::share::auth::CHALLENGE),
            );
            text(
                &mut fields,
                StatusCode::UNAUTHORIZED,
                "authentication required\n",
            )
        }
        Plan::LinkExpired => text(&mut fields, StatusCode::GONE, "this link has expired\n"),
        Plan::Busy => {
            fields.insert(header::RETRY_AFTER, HeaderValue::from(BUSY_RETRY_AFTER));
            text(
                &mut fields,
                StatusCode::SERVICE_UNAVAILABLE,
                "too many connections from this address; try again shortly\n",
            )
        }
        Plan::LinkRefused => text(
            &mut fields,
            StatusCode::FORBIDDEN,
            "this link is not valid\n",
        ),
        Plan::TooManyAttempts(secs) => {
            fields.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            text(
                &mut fields,
                StatusCode::TOO_MANY_REQUESTS,
                "too many wrong credentials from this address; try again later\n",
            )
        }
        Plan::NotFound => text(&mut fields, StatusCode::NOT_FOUND, "not found\n"),
        Plan::MethodNotAllowed => {
            fields.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            text(
                &mut fields,
                StatusCode::METHOD_NOT_ALLOWED,
                "only GET and HEAD are allowed\n",
            )
        }
        Plan::OpenFailed(status) => text(
            &mut fields,
            status,
            status.canonical_reason().unwrap_or("error"),
        ),
        Plan::Redirect(location) => {
            fields.insert(header::LOCATION, owned_value(location));
            text(
                &mut fields,
                StatusCode::MOVED_PERMANENTLY,
                "a folder: its URL ends with /\n",
            )
        }
        Plan::NotModified(rep) => {
            validators(&mut fields, rep.etag, rep.modified, now);
            (StatusCode::NOT_MODIFIED, Body::empty())
        }
        Plan::PreconditionFailed => {
            fields.insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
            (StatusCode::PRECONDITION_FAILED, Body::empty())
        }
        Plan::Unsatisfiable(len) => {
            fields.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            fields.insert(
                header::CONTENT_RANGE,
                owned_value(format::unsatisfied_range(len)),
            );
            fields.insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
            (StatusCode::RANGE_NOT_SATISFIABLE, Body::empty())
        }
        Plan::Checksum(lines) => {
            fields.insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
            fields.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            (StatusCode::OK, bytes_body(&mut fields, lines, head))
        }
        Plan::ChecksumPending(seconds) => {
            fields.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            text(
                &mut fields,
                StatusCode::SERVICE_UNAVAILABLE,
                "the checksum is being computed\n",
            )
        }
        Plan::Listing(listing) => {
            listing_fields(&mut fields, &listing);
            let body = bytes_body(&mut fields, listing.body, head);
            (StatusCode::OK, body)
        }
        Plan::ListingNotModified(listing) => {
            listing_fields(&mut fields, &listing);
            fields.remove(header::CONTENT_TYPE);
            (StatusCode::NOT_MODIFIED, Body::empty())
        }
        Plan::Full(rep) => {
            fields.insert(header::CONTENT_TYPE, rep.identity.content_type.clone());
            let segments = vec![Segment::Entity(0..rep.len)];
            let body = file_response(&mut fields, rep, segments, config, head, now, repr_digest);
            (StatusCode::OK, body)
        }
        Plan::Single(rep, range) => {
            fields.insert(header::CONTENT_TYPE, rep.identity.content_type.clone());
            fields.insert(
                header::CONTENT_RANGE,
                owned_value(format::content_range(&range, rep.len)),
            );
            let segments = vec![Segment::Entity(range)];
            let body = file_response(&mut fields, rep, segments, config, head, now, repr_digest);
            (StatusCode::PARTIAL_CONTENT, body)
        }
        Plan::Multipart(rep, ranges) => {
            let boundary = boundary();
            fields.insert(
                header::CONTENT_TYPE,
                owned_value(multipart::content_type(&boundary)),
            );
            let part_type = rep.identity.content_type_str();
            let segments = multipart::byteranges(&ranges, rep.len, part_type, &boundary);
            let body = file_response(&mut fields, rep, segments, config, head, now, repr_digest);
            (StatusCode::PARTIAL_CONTENT, body)
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = fields;
    response
}

/// A listing's fields: its type, its ETag, `Vary: Accept` (one URL, two forms), and
/// `Cache-Control: no-cache` (it changes whenever the folder does: revalidate, cheaply, by ETag).
fn listing_fields(fields: &mut HeaderMap, listing: &Listing) {
    let content_type = if listing.json {
        "application/json"
    } else {
        "text/html; charset=utf-8"
    };
    fields.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    fields.insert(header::ETAG, owned_value(listing.etag.clone()));
    fields.insert(header::VARY, HeaderValue::from_static("Accept"));
    fields.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

/// An in-memory body with its exact length (nothing for HEAD, which keeps the length).
fn bytes_body(fields: &mut HeaderMap, bytes: Bytes, head: bool) -> Body {
    fields.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    if head {
        Body::empty()
    } else {
        Body::Bytes(Some(bytes))
    }
}

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

fn text(fields: &mut HeaderMap, status: StatusCode, message: &'static str) -> (StatusCode, Body) {
    fields.insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
    fields.insert(header::CONTENT_LENGTH, HeaderValue::from(message.len()));
    (status, Body::text(message))
}

/// A header value from a string we formatted (ASCII, no control characters), without a copy.
fn owned_value(value: String) -> HeaderValue {
    HeaderValue::from_maybe_shared(bytes::Bytes::from(value))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `ETag` and `Last-Modified`: what a 304 carries, and every 200 and 206.
fn validators(fields: &mut HeaderMap, etag: String, modified: SystemTime, now: SystemTime) {
    fields.insert(header::ETAG, owned_value(etag));
    fields.insert(
        header::LAST_MODIFIED,
        owned_value(format::http_date(format::last_modified(modified, now))),
    );
}

/// The headers every 200 and 206 carries (RFC 9110 §15.3.7: a 206 has what a 200 would), and
/// the body: the segments from the file, or nothing for HEAD.
fn file_response(
    fields: &mut HeaderMap,
    rep: Representation,
    segments: Vec<Segment>,
    config: &Config,
    head: bool,
    now: SystemTime,
    repr_digest: Option<HeaderValue>,
) -> Body {
    fields.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    fields.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(crate::http::segment::body_length(&segments)),
    );
    fields.insert(
        header::CONTENT_DISPOSITION,
        rep.identity.content_disposition.clone(),
    );
    if let Some(value) = repr_digest {
        fields.insert(REPR_DIGEST, value);
    }
    if let Some(value) = &config.cache_control {
        fields.insert(header::CACHE_CONTROL, value.clone());
    }
    validators(fields, rep.etag, rep.modified, now);
    if head {
        return Body::empty();
    }
    let segments = match &rep.layout {
        // An archive: each range of it becomes framing and member ranges.
        Some(layout) => segments
            .into_iter()
            .flat_map(|segment| match segment {
                Segment::Entity(range) => layout.segments(range),
                other => vec![other],
            })
            .collect(),
        None => segments,
    };
    let body = FileBody::new(rep.source, segments, config.chunk_size);
    Body::File(match rep.layout {
        Some(_) => body,
        None => body.watching(rep.stamp, rep.links),
    })
}

/// A random 32-hex-digit multipart boundary (std's per-process random SipHash keys; a file would
/// have to contain this exact line to confuse a client).
fn boundary() -> String {
    let state = RandomState::new();
    format!("{:016x}{:016x}", state.hash_one(1u8), state.hash_one(2u8))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NAMES: [HeaderName; 8] = [
        header::IF_MATCH,
        header::IF_UNMODIFIED_SINCE,
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_RANGE,
        header::RANGE,
        header::HOST,
        header::USER_AGENT,
    ];

    proptest! {
        /// One pass finds what the request said and what a lookup per name finds, repeated
        /// fields joined in order.
        #[test]
        fn one_pass_equals_a_lookup_per_name(
            lines in proptest::collection::vec((0..NAMES.len(), "[ -~]{0,12}"), 0..12)
        ) {
            let mut fields = HeaderMap::new();
            for (name, value) in &lines {
                fields.append(NAMES[*name].clone(), HeaderValue::from_str(value).unwrap());
            }
            let wanted = [&NAMES[0], &NAMES[1], &NAMES[2], &NAMES[3], &NAMES[4], &NAMES[5]];
            let found = fields_named(&fields, wanted);
            for (i, (name, got)) in wanted.iter().zip(found).enumerate() {
                // What the request said: that field's lines in order, joined with ", ".
                let lines_of: Vec<&str> =
                    lines.iter().filter(|(n, _)| *n == i).map(|(_, v)| v.as_str()).collect();
                let said = (!lines_of.is_empty()).then(|| lines_of.join(", "));
                prop_assert_eq!(got.as_deref(), said.as_deref());
                prop_assert_eq!(got, field(&fields, name));
            }
        }
    }
}
