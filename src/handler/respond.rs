//! A [`Plan`] → a response, in one exhaustive `match`. `head` drops the body but keeps every
//! field, including the `Content-Length` a GET would get (RFC 9110 §9.3.2). Fields go into one
//! pre-sized map, the fixed values precomputed: this runs per request.

use std::hash::{BuildHasher, RandomState};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};

use super::plan::{Plan, Refusal, Served};
use crate::body::{Body, FileBody, Source};
use crate::cli::Config;
use crate::http::decide::Outcome;
use crate::http::format;
use crate::http::multipart;
use crate::http::segment::{Segment, body_length};
use crate::tree::entity::{Content, Entity, TEXT_PLAIN};

/// `Retry-After` of a 503 for a client over `--max-connections-per-client` (seconds).
pub const BUSY_RETRY_AFTER: u64 = 5;

/// `Retry-After` of a 503 when no file descriptor was left (seconds).
pub const OUT_OF_DESCRIPTORS_RETRY_AFTER: u64 = 1;

/// Builds the response for a plan at `now`. `Repr-Digest` goes on 200 and 206: it describes the
/// whole representation, whatever part is sent (RFC 9530 §3).
pub fn respond(plan: Plan, config: &Config, head: bool, now: SystemTime) -> Response<Body> {
    let mut fields = HeaderMap::with_capacity(12);
    let (status, body) = match plan {
        Plan::Refuse(why) => {
            let (status, text, field) = refusal(why);
            if let Some((name, value)) = field {
                fields.insert(name, value);
            }
            if why == Refusal::Busy {
                // The connection is closed after this answer (HTTP/1.1; hyper drops the field
                // from an HTTP/2 response, where GOAWAY says it).
                fields.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            fixed_text(&mut fields, status, text)
        }
        Plan::Redirect(location) => {
            fields.insert(header::LOCATION, owned_value(location));
            let text = "a folder: its URL ends with /\n";
            fixed_text(&mut fields, StatusCode::MOVED_PERMANENTLY, text)
        }
        Plan::Pending(seconds) => {
            fields.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            let text = "the checksum is being computed\n";
            fixed_text(&mut fields, StatusCode::SERVICE_UNAVAILABLE, text)
        }
        Plan::Serve(served) => serve(&mut fields, served, config, head, now),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = fields;
    response
}

/// The table of fixed-text answers: status, text, and the one field some of them add.
fn refusal(why: Refusal) -> (StatusCode, &'static str, Option<(HeaderName, HeaderValue)>) {
    let retry_after = |secs: u64| Some((header::RETRY_AFTER, HeaderValue::from(secs)));
    match why {
        Refusal::BadRequest(reason) => (StatusCode::BAD_REQUEST, reason, None),
        Refusal::Unauthorized => (
            StatusCode::UNAUTHORIZED,
            "authentication required\n",
            Some((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(crate::share::auth::CHALLENGE),
            )),
        ),
        Refusal::TooManyAttempts(secs) => (
            StatusCode::TOO_MANY_REQUESTS,
            "too many wrong credentials from this address; try again later\n",
            retry_after(secs),
        ),
        Refusal::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many connections from this address; try again shortly\n",
            retry_after(BUSY_RETRY_AFTER),
        ),
        Refusal::LinkExpired => (StatusCode::GONE, "this link has expired\n", None),
        Refusal::LinkRefused => (StatusCode::FORBIDDEN, "this link is not valid\n", None),
        Refusal::LinkUsed => (StatusCode::GONE, "this link has been used\n", None),
        Refusal::NotFound => (StatusCode::NOT_FOUND, "not found\n", None),
        Refusal::MethodNotAllowed => (
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are allowed\n",
            Some((header::ALLOW, HeaderValue::from_static("GET, HEAD"))),
        ),
        // Out of descriptors: a moment's trouble, retried by download clients.
        Refusal::OpenFailed(StatusCode::SERVICE_UNAVAILABLE) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is busy; try again shortly\n",
            retry_after(OUT_OF_DESCRIPTORS_RETRY_AFTER),
        ),
        Refusal::OpenFailed(status) => (status, status.canonical_reason().unwrap_or("error"), None),
    }
}

/// An entity as the outcome says: 304, 412, 416, or its bytes (all, one range, or several).
fn serve(
    fields: &mut HeaderMap,
    served: Served,
    config: &Config,
    head: bool,
    now: SystemTime,
) -> (StatusCode, Body) {
    let Served {
        mut entity,
        outcome,
        fields: extra,
        ..
    } = served;
    let len = entity.len();
    let (status, segments) = match outcome {
        Outcome::NotModified => {
            validators(fields, &mut entity, config, now);
            return (StatusCode::NOT_MODIFIED, Body::empty());
        }
        Outcome::PreconditionFailed => {
            vary(fields, &entity, config);
            fields.insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
            return (StatusCode::PRECONDITION_FAILED, Body::empty());
        }
        Outcome::Unsatisfiable => {
            vary(fields, &entity, config);
            fields.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            let range = format::unsatisfied_range(len);
            fields.insert(header::CONTENT_RANGE, owned_value(range));
            fields.insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
            return (StatusCode::RANGE_NOT_SATISFIABLE, Body::empty());
        }
        Outcome::Full => {
            fields.insert(header::CONTENT_TYPE, entity.content_type().clone());
            (StatusCode::OK, vec![Segment::Entity(0..len)])
        }
        Outcome::Single(range) => {
            fields.insert(header::CONTENT_TYPE, entity.content_type().clone());
            let value = format::content_range(&range, len);
            fields.insert(header::CONTENT_RANGE, owned_value(value));
            (StatusCode::PARTIAL_CONTENT, vec![Segment::Entity(range)])
        }
        Outcome::Multipart(ranges) => {
            let boundary = boundary();
            let value = multipart::content_type(&boundary);
            fields.insert(header::CONTENT_TYPE, owned_value(value));
            let part_type = entity.content_type().to_str().unwrap_or(TEXT_PLAIN);
            let segments = multipart::byteranges(&ranges, len, part_type, &boundary);
            (StatusCode::PARTIAL_CONTENT, segments)
        }
    };
    fields.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    fields.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(body_length(&segments)),
    );
    for (name, value) in extra {
        fields.append(name, value);
    }
    validators(fields, &mut entity, config, now);
    (status, body(fields, entity, segments, config, head))
}

/// What a 304 carries, and every 200 and 206 (RFC 9110 §15.3.7: a 206 has what a 200 would,
/// §15.4.5: a 304 what the 200 would have said of caching): the ETag, `Last-Modified` and
/// `--cache-control` for a file or an archive, `Vary` and `Cache-Control: no-cache` for a
/// generated document. The ETag is moved out of the entity into the field (no copy: this runs
/// per request).
fn validators(fields: &mut HeaderMap, entity: &mut Entity, config: &Config, now: SystemTime) {
    fields.insert(header::ETAG, owned_value(entity.take_etag()));
    if let Some(modified) = entity.last_modified(now) {
        let value = format::http_date(modified);
        fields.insert(header::LAST_MODIFIED, owned_value(value));
    }
    vary(fields, entity, config);
    match entity {
        Entity::File(_) | Entity::Archive(_) => {
            if let Some(value) = &config.cache_control {
                fields.insert(header::CACHE_CONTROL, value.clone());
            }
        }
        Entity::Generated(_) => {
            // Generated documents change with the tree: revalidate (cheaply, by ETag) each time.
            fields.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        }
    }
}

/// `Vary: Accept` on every answer about a URL with forms chosen by `Accept`: a listing (HTML
/// and JSON), and with `--offer-metalink` a file (the file, or its Metalink).
fn vary(fields: &mut HeaderMap, entity: &Entity, config: &Config) {
    let varies = match entity {
        Entity::Generated(doc) => doc.vary_accept,
        Entity::File(_) => config.offer_metalink,
        Entity::Archive(_) => false,
    };
    if varies {
        fields.insert(header::VARY, HeaderValue::from_static("Accept"));
    }
}

/// The body's fields of a file or archive, and the body: the segments from the entity, or
/// nothing for HEAD.
fn body(
    fields: &mut HeaderMap,
    entity: Entity,
    segments: Vec<Segment>,
    config: &Config,
    head: bool,
) -> Body {
    match &entity {
        Entity::File(rep) | Entity::Archive(rep) => {
            fields.insert(
                header::CONTENT_DISPOSITION,
                rep.identity.content_disposition.clone(),
            );
        }
        Entity::Generated(doc) => {
            if let Some(value) = &doc.disposition {
                fields.insert(header::CONTENT_DISPOSITION, value.clone());
            }
        }
    }
    if head {
        return Body::empty();
    }
    match entity {
        Entity::File(rep) => {
            let body = FileBody::new(rep.source, segments, config.chunk_size);
            Body::File(body.watching(rep.stamp, rep.links))
        }
        // Each range of an archive becomes framing and member ranges as the body reaches it.
        Entity::Archive(rep) => {
            let body = FileBody::new(rep.source, segments, config.chunk_size);
            Body::File(match rep.layout {
                Some(layout) => body.over_layout(layout),
                None => body,
            })
        }
        Entity::Generated(doc) => match doc.content {
            Content::Bytes(bytes) => Body::Bytes(Some(generated(&bytes, segments))),
            Content::Rendered(doc) => Body::File(FileBody::new(
                Source::Document(doc),
                segments,
                config.chunk_size,
            )),
        },
    }
}

/// The bytes of a generated document's segments (no copy for the whole document).
fn generated(bytes: &Bytes, segments: Vec<Segment>) -> Bytes {
    if let [Segment::Entity(range)] = segments.as_slice() {
        return slice(bytes, range.clone());
    }
    let mut out = BytesMut::with_capacity(usize::try_from(body_length(&segments)).unwrap_or(0));
    for segment in segments {
        match segment {
            Segment::Literal(framing) => out.extend_from_slice(&framing),
            Segment::Entity(range) => out.extend_from_slice(&slice(bytes, range)),
            // A generated document has no members.
            Segment::Member { .. } => {}
        }
    }
    out.freeze()
}

/// A range of in-memory bytes (ranges come from `decide`, within the length: clamped anyway).
fn slice(bytes: &Bytes, range: std::ops::Range<u64>) -> Bytes {
    let len = bytes.len();
    let end = usize::try_from(range.end).unwrap_or(len).min(len);
    let start = usize::try_from(range.start).unwrap_or(len).min(end);
    bytes.slice(start..end)
}

/// A fixed-text answer.
fn fixed_text(
    fields: &mut HeaderMap,
    status: StatusCode,
    message: &'static str,
) -> (StatusCode, Body) {
    fields.insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
    fields.insert(header::CONTENT_LENGTH, HeaderValue::from(message.len()));
    (status, Body::text(message))
}

/// A header value from a string we formatted (ASCII, no control characters), without a copy.
fn owned_value(value: String) -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::from(value))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
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

    #[test]
    fn a_generated_body_is_its_ranges_and_framing() {
        let bytes = Bytes::from_static(b"0123456789");
        assert_eq!(generated(&bytes, vec![Segment::Entity(0..10)]), bytes);
        let parts = vec![
            Segment::Literal(Bytes::from_static(b"[")),
            Segment::Entity(2..4),
            Segment::Literal(Bytes::from_static(b"|")),
            Segment::Entity(8..10),
        ];
        assert_eq!(&generated(&bytes, parts)[..], b"[23|89");
        assert_eq!(&slice(&bytes, 8..99)[..], b"89");
    }
}
