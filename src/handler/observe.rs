//! What watches a response's body as it is sent: the access-log entry (built only when that
//! log is on), the rate limits, the live view's transfer (for bodies worth showing), and the
//! bytes of a version a client now holds (`downloads`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, Response};

use super::gates;
use super::state::Shared;
use crate::access_log::{self, Entry, ObservedBody};
use crate::body::Body;
use crate::ops::{live, transfers};

/// Wraps `response`'s body for `req` from `peer`. `single_range`: for a 206 with one range,
/// where it starts and the entity's length (a start past 0 is a resume).
pub fn observe(
    req: &Request<Incoming>,
    response: Response<Body>,
    shared: &Shared,
    peer: SocketAddr,
    started: Instant,
    single_range: Option<(u64, u64)>,
    counting: Option<crate::downloads::Counting>,
) -> Response<ObservedBody> {
    let status = response.status().as_u16();
    let resume_from = single_range
        .map(|(start, _)| start)
        .filter(|&start| start > 0);
    // Built only when the access log is on (it costs allocations on every request).
    let entry =
        tracing::enabled!(target: access_log::TARGET, tracing::Level::INFO).then(|| Entry {
            peer,
            method: req.method().clone(),
            path: gates::logged_path(req.uri().path(), &shared.config).into_owned(),
            range: req.headers().get(header::RANGE).cloned(),
            status,
            started,
            user_agent: req.headers().get(header::USER_AGENT).cloned(),
            version: req.version(),
            resume_from,
        });
    let (parts, body) = response.into_parts();
    let mut body = ObservedBody::new(body, entry, status, resume_from.is_some());
    let promised = body.promised();
    if promised > 0
        && let Some(throttle) = shared.buckets.throttle(
            &shared.config.limits,
            crate::share::client::client(peer.ip()),
        )
    {
        body = body.throttled(throttle);
    }
    if promised >= transfers::TRACK_FROM && live::tracking() {
        let (start, file_len) = single_range.unwrap_or((0, promised));
        body = body.tracked(transfers::registry().start(transfers::Transfer {
            client: peer.ip(),
            path: gates::logged_path(req.uri().path(), &shared.config).into_owned(),
            file_len,
            start,
            promised,
            started,
            sent: Default::default(),
            complete: Default::default(),
        }));
    }
    if let Some(counting) = counting {
        body = body.counted(counting, Arc::clone(&shared.downloads));
    }
    Response::from_parts(parts, body)
}
