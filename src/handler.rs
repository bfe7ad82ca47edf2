//! One request → one [`Plan`] → one response.
//!
//! Deciding is pure ([`decide`] takes header values, one opened version of the file and the
//! clock reading); the only I/O here is opening that version. Turning a plan into a response is
//! one exhaustive `match`.

use std::borrow::Cow;
use std::convert::Infallible;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::response::Builder;
use hyper::{Method, Request, Response, StatusCode};

use crate::access_log::{Entry, LoggedBody};
use crate::body::{Body, FileBody};
use crate::cli::Config;
use crate::conditional::{self, Decision, Preconditions, Validators};
use crate::digest::{self, Digests};
use crate::headers::Target;
use crate::multipart::{self, Segment};
use crate::range::{self, RangeRequest};
use crate::representation::Representation;
use crate::{error, headers};

/// RFC 9530 §3.
const REPR_DIGEST: HeaderName = HeaderName::from_static("repr-digest");
/// RFC 9530 §4.
const WANT_REPR_DIGEST: HeaderName = HeaderName::from_static("want-repr-digest");

/// What every request needs: the configuration, and the digests (absent with `--no-digest`).
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    pub digests: Option<Arc<Digests>>,
}

/// Everything a response can be.
#[derive(Debug)]
pub enum Plan {
    /// The path names something other than the file.
    NotFound,
    /// A method other than GET or HEAD.
    MethodNotAllowed,
    /// The file could not be opened now (gone → 404, unreadable → 403, else 500).
    OpenFailed(StatusCode),
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
    /// The sidecar: a `sha256sum` line for the current version.
    Checksum(String),
    /// The sidecar while the current version is being hashed: 503 with `Retry-After` seconds.
    ChecksumPending(u64),
}

/// The hyper service: plans, responds, and wraps the body so the access log sees its end.
pub async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    peer: SocketAddr,
) -> Result<Response<LoggedBody>, Infallible> {
    let started = Instant::now();
    let (plan, repr_digest) = plan(&req, &shared).await;
    let head = req.method() == Method::HEAD;
    let response = respond(
        plan,
        &shared.config,
        head,
        SystemTime::now(),
        repr_digest.as_deref(),
    );
    let entry = Entry {
        peer,
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        range: req
            .headers()
            .get(header::RANGE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        status: response.status().as_u16(),
        started,
    };
    Ok(response.map(|body| LoggedBody::new(body, entry)))
}

/// The plan, and the `Repr-Digest` value for the version it serves when that is known.
async fn plan(req: &Request<Incoming>, shared: &Shared) -> (Plan, Option<String>) {
    let config = &shared.config;
    let target = headers::target(req.uri().path(), &config.file.name);
    if target == Target::Nothing || (target == Target::Checksum && shared.digests.is_none()) {
        return (Plan::NotFound, None);
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return (Plan::MethodNotAllowed, None);
    }
    let rep = match open(config).await {
        Ok(rep) => rep,
        Err(status) => return (Plan::OpenFailed(status), None),
    };
    let status = shared
        .digests
        .as_ref()
        .map(|d| d.ensure(&rep, &config.file.display_name));
    if target == Target::Checksum {
        let plan = match status {
            Some(digest::Status::Ready(sum)) => {
                Plan::Checksum(digest::sidecar_line(&sum, &config.file.display_name))
            }
            Some(digest::Status::Hashing { done, total, rate }) => {
                Plan::ChecksumPending(digest::retry_after(done, total, rate))
            }
            None => Plan::NotFound,
        };
        return (plan, None);
    }
    let want = field(req.headers(), &WANT_REPR_DIGEST);
    let repr_digest = match status {
        Some(digest::Status::Ready(sum)) if digest::wants_sha256(want.as_deref()) => {
            Some(digest::repr_digest_value(&sum))
        }
        _ => None,
    };
    (
        decide(req.headers(), rep, config.max_ranges, SystemTime::now()),
        repr_digest,
    )
}

/// Opens the current version of the file on the blocking pool; a failure becomes its status.
async fn open(config: &Config) -> Result<Representation, StatusCode> {
    let path = config.file.path.clone();
    match tokio::task::spawn_blocking(move || Representation::open(&path)).await {
        Ok(Ok(rep)) => Ok(rep),
        Ok(Err(err)) => {
            tracing::warn!(
                "cannot open '{}': {}",
                config.file.path.display(),
                error::describe(&err)
            );
            Err(error::status_for(&err))
        }
        Err(join) => {
            tracing::error!("opening '{}' failed: {join}", config.file.path.display());
            Err(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// Applies the preconditions (RFC 9110 §13.2.2) and then the `Range` (§14.2) of a GET or HEAD.
pub fn decide(fields: &HeaderMap, rep: Representation, max_ranges: usize, now: SystemTime) -> Plan {
    let if_match = field(fields, &header::IF_MATCH);
    let if_unmodified_since = field(fields, &header::IF_UNMODIFIED_SINCE);
    let if_none_match = field(fields, &header::IF_NONE_MATCH);
    let if_modified_since = field(fields, &header::IF_MODIFIED_SINCE);
    let if_range = field(fields, &header::IF_RANGE);
    let range = field(fields, &header::RANGE);
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
        last_modified: headers::last_modified(rep.modified, now),
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
    let mut values = fields.get_all(name).iter();
    let first = String::from_utf8_lossy(values.next()?.as_bytes());
    let mut joined = first;
    for value in values {
        let joined = joined.to_mut();
        joined.push_str(", ");
        joined.push_str(&String::from_utf8_lossy(value.as_bytes()));
    }
    Some(joined)
}

/// Builds the response for a plan. `head` drops the body but keeps every header, including the
/// `Content-Length` a GET would get (RFC 9110 §9.3.2). `repr_digest` goes on 200 and 206: it
/// describes the whole representation, whatever part is sent (RFC 9530 §3).
pub fn respond(
    plan: Plan,
    config: &Config,
    head: bool,
    now: SystemTime,
    repr_digest: Option<&str>,
) -> Response<Body> {
    let file = &config.file;
    let (builder, body) = match plan {
        Plan::NotFound => text(StatusCode::NOT_FOUND, "not found\n"),
        Plan::MethodNotAllowed => {
            let (builder, body) = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "only GET and HEAD are allowed\n",
            );
            (builder.header(header::ALLOW, "GET, HEAD"), body)
        }
        Plan::OpenFailed(status) => text(status, status.canonical_reason().unwrap_or("error")),
        Plan::NotModified(rep) => (
            Response::builder()
                .status(StatusCode::NOT_MODIFIED)
                .header(header::ETAG, &rep.etag)
                .header(
                    header::LAST_MODIFIED,
                    headers::http_date(headers::last_modified(rep.modified, now)),
                ),
            Body::empty(),
        ),
        Plan::PreconditionFailed => (
            Response::builder()
                .status(StatusCode::PRECONDITION_FAILED)
                .header(header::CONTENT_LENGTH, 0),
            Body::empty(),
        ),
        Plan::Unsatisfiable(len) => (
            Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::ACCEPT_RANGES, "bytes")
                .header(header::CONTENT_RANGE, headers::unsatisfied_range(len))
                .header(header::CONTENT_LENGTH, 0),
            Body::empty(),
        ),
        Plan::Checksum(line) => {
            let builder = Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .header(header::CONTENT_LENGTH, line.len());
            (
                builder,
                if head {
                    Body::empty()
                } else {
                    Body::Bytes(Some(line.into()))
                },
            )
        }
        Plan::ChecksumPending(seconds) => {
            let (builder, body) = text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the checksum is being computed\n",
            );
            (builder.header(header::RETRY_AFTER, seconds), body)
        }
        Plan::Full(rep) => {
            let builder = file_headers(StatusCode::OK, &rep, config, now, repr_digest)
                .header(header::CONTENT_TYPE, &file.content_type);
            let segments = vec![Segment::File(0..rep.len)];
            with_file_body(builder, rep, segments, config, head)
        }
        Plan::Single(rep, range) => {
            let builder = file_headers(StatusCode::PARTIAL_CONTENT, &rep, config, now, repr_digest)
                .header(header::CONTENT_TYPE, &file.content_type)
                .header(
                    header::CONTENT_RANGE,
                    headers::content_range(&range, rep.len),
                );
            with_file_body(builder, rep, vec![Segment::File(range)], config, head)
        }
        Plan::Multipart(rep, ranges) => {
            let boundary = boundary();
            let builder = file_headers(StatusCode::PARTIAL_CONTENT, &rep, config, now, repr_digest)
                .header(header::CONTENT_TYPE, multipart::content_type(&boundary));
            let segments = multipart::byteranges(&ranges, rep.len, &file.content_type, &boundary);
            with_file_body(builder, rep, segments, config, head)
        }
    };
    builder.body(body).unwrap_or_else(|err| {
        // Only an invalid header value could get here; every value we set is ASCII we formatted.
        tracing::error!("building a response failed: {err}");
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        response
    })
}

fn text(status: StatusCode, message: &'static str) -> (Builder, Body) {
    let builder = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CONTENT_LENGTH, message.len());
    (builder, Body::text(message))
}

/// The headers every 200 and 206 carries (RFC 9110 §15.3.7: a 206 has what a 200 would).
fn file_headers(
    status: StatusCode,
    rep: &Representation,
    config: &Config,
    now: SystemTime,
    repr_digest: Option<&str>,
) -> Builder {
    let builder = Response::builder()
        .status(status)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, &rep.etag)
        .header(
            header::LAST_MODIFIED,
            headers::http_date(headers::last_modified(rep.modified, now)),
        )
        .header(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&config.file.content_disposition)
                .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
        );
    match repr_digest {
        Some(value) => builder.header(REPR_DIGEST, value),
        None => builder,
    }
}

fn with_file_body(
    builder: Builder,
    rep: Representation,
    segments: Vec<Segment>,
    config: &Config,
    head: bool,
) -> (Builder, Body) {
    let builder = builder.header(header::CONTENT_LENGTH, multipart::body_length(&segments));
    if head {
        return (builder, Body::empty());
    }
    (
        builder,
        Body::File(FileBody::new(rep.file, segments, config.chunk_size)),
    )
}

/// A random 32-hex-digit multipart boundary (std's per-process random SipHash keys; a file would
/// have to contain this exact line to confuse a client).
fn boundary() -> String {
    let state = RandomState::new();
    format!("{:016x}{:016x}", state.hash_one(1u8), state.hash_one(2u8))
}
