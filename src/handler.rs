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
use hyper::{Method, Request, Response, StatusCode};

use crate::access_log::{self, Entry, LoggedBody};
use crate::body::{Body, FileBody};
use crate::cached_io;
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
    let response = respond(plan, &shared.config, head, SystemTime::now(), repr_digest);
    // Built only when the access log is on (it costs allocations on every request).
    let entry =
        tracing::enabled!(target: access_log::TARGET, tracing::Level::INFO).then(|| Entry {
            peer,
            method: req.method().clone(),
            path: req.uri().path().to_string(),
            range: req.headers().get(header::RANGE).cloned(),
            status: response.status().as_u16(),
            started,
        });
    Ok(response.map(|body| LoggedBody::new(body, entry)))
}

/// The plan, and the `Repr-Digest` value for the version it serves when that is known.
async fn plan(req: &Request<Incoming>, shared: &Shared) -> (Plan, Option<HeaderValue>) {
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
            Some(digest::Status::Ready { sum, .. }) => {
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
        Some(digest::Status::Ready { field, .. }) if digest::wants_sha256(want.as_deref()) => {
            Some(field)
        }
        _ => None,
    };
    (
        decide(req.headers(), rep, config.max_ranges, SystemTime::now()),
        repr_digest,
    )
}

/// Opens the current version of the file: inline when the path lookup is cached, else on the
/// blocking pool. A failure becomes its status (and a log line).
async fn open(config: &Config) -> Result<Representation, StatusCode> {
    let opened = match cached_io::try_open(&config.file.path) {
        Ok(Some(file)) => Representation::from_file(file),
        Ok(None) => {
            let path = config.file.path.clone();
            match tokio::task::spawn_blocking(move || Representation::open(&path)).await {
                Ok(opened) => opened,
                Err(join) => Err(std::io::Error::other(join)),
            }
        }
        Err(err) => Err(err),
    };
    opened.map_err(|err| {
        tracing::warn!(
            "cannot open '{}': {}",
            config.file.path.display(),
            error::describe(&err)
        );
        error::status_for(&err)
    })
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
///
/// Headers go into one pre-sized map, with the fixed values precomputed: this runs per request.
pub fn respond(
    plan: Plan,
    config: &Config,
    head: bool,
    now: SystemTime,
    repr_digest: Option<HeaderValue>,
) -> Response<Body> {
    let file = &config.file;
    let mut fields = HeaderMap::with_capacity(12);
    let (status, body) = match plan {
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
                owned_value(headers::unsatisfied_range(len)),
            );
            fields.insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
            (StatusCode::RANGE_NOT_SATISFIABLE, Body::empty())
        }
        Plan::Checksum(line) => {
            fields.insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
            fields.insert(header::CONTENT_LENGTH, HeaderValue::from(line.len()));
            let body = if head {
                Body::empty()
            } else {
                Body::Bytes(Some(line.into()))
            };
            (StatusCode::OK, body)
        }
        Plan::ChecksumPending(seconds) => {
            fields.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            text(
                &mut fields,
                StatusCode::SERVICE_UNAVAILABLE,
                "the checksum is being computed\n",
            )
        }
        Plan::Full(rep) => {
            fields.insert(header::CONTENT_TYPE, file.content_type_value.clone());
            let segments = vec![Segment::File(0..rep.len)];
            let body = file_response(&mut fields, rep, segments, config, head, now, repr_digest);
            (StatusCode::OK, body)
        }
        Plan::Single(rep, range) => {
            fields.insert(header::CONTENT_TYPE, file.content_type_value.clone());
            fields.insert(
                header::CONTENT_RANGE,
                owned_value(headers::content_range(&range, rep.len)),
            );
            let segments = vec![Segment::File(range)];
            let body = file_response(&mut fields, rep, segments, config, head, now, repr_digest);
            (StatusCode::PARTIAL_CONTENT, body)
        }
        Plan::Multipart(rep, ranges) => {
            let boundary = boundary();
            fields.insert(
                header::CONTENT_TYPE,
                owned_value(multipart::content_type(&boundary)),
            );
            let segments = multipart::byteranges(&ranges, rep.len, &file.content_type, &boundary);
            let body = file_response(&mut fields, rep, segments, config, head, now, repr_digest);
            (StatusCode::PARTIAL_CONTENT, body)
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = fields;
    response
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
        owned_value(headers::http_date(headers::last_modified(modified, now))),
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
        HeaderValue::from(multipart::body_length(&segments)),
    );
    fields.insert(
        header::CONTENT_DISPOSITION,
        config.file.content_disposition_value.clone(),
    );
    if let Some(value) = repr_digest {
        fields.insert(REPR_DIGEST, value);
    }
    validators(fields, rep.etag, rep.modified, now);
    if head {
        return Body::empty();
    }
    Body::File(FileBody::new(rep.file, segments, config.chunk_size))
}

/// A random 32-hex-digit multipart boundary (std's per-process random SipHash keys; a file would
/// have to contain this exact line to confuse a client).
fn boundary() -> String {
    let state = RandomState::new();
    format!("{:016x}{:016x}", state.hash_one(1u8), state.hash_one(2u8))
}
