//! One access-log line per response, written when hyper is done with its body: fully sent,
//! failed, or dropped because the client went away. It records what was asked, the status, the
//! bytes handed to the connection against the bytes promised, and how long it took.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hyper::header::HeaderValue;
use hyper::{Method, Version};

use crate::body::Body;

/// The tracing target of access-log lines (`RUST_LOG=rangeserve::access=off` silences them).
pub const TARGET: &str = "rangeserve::access";

/// Whether log lines are JSON objects (`--log-format json`): the access line then carries its
/// parts as fields instead of one formatted message.
static JSON: AtomicBool = AtomicBool::new(false);

/// Switches the access log to structured fields (set once at start-up).
pub fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// What the access log says of one request.
#[derive(Debug, Clone)]
pub struct Entry {
    pub peer: SocketAddr,
    pub method: Method,
    pub path: String,
    /// The `Range` field as received, if any.
    pub range: Option<HeaderValue>,
    pub status: u16,
    pub started: Instant,
    pub user_agent: Option<HeaderValue>,
    pub version: Version,
    /// For a 206 whose (first) range does not start at byte 0: where it starts.
    pub resume_from: Option<u64>,
}

/// A response body as it is observed: it counts what it yields (metrics, the live view), holds
/// it to the rate limits, and logs its [`Entry`] (if any) when dropped.
pub struct ObservedBody {
    inner: Body,
    entry: Option<Entry>,
    /// For the metrics (kept whether or not the access log is on).
    status: u16,
    resume: bool,
    /// For the live view, when this is a transfer worth showing.
    transfer: Option<crate::ops::transfers::Handle>,
    /// The rate limits on this body, and the part of a frame they have not let go yet.
    throttle: Option<crate::share::throttle::Throttle>,
    held: Bytes,
    promised: u64,
    sent: u64,
    failure: Option<String>,
    /// What of which version this body sends, for the downloads count, and the bytes sent when
    /// it was last recorded.
    counting: Option<(crate::downloads::Counting, Arc<crate::downloads::Downloads>)>,
    recorded: u64,
}

/// While a response is sent, what it sent is recorded toward the client's copy every this many
/// bytes (and when it ends).
pub const RECORD_EVERY: u64 = 16 << 20;

impl ObservedBody {
    /// `status` and `resume` (a 206 starting past byte 0) are what the metrics count.
    pub fn new(inner: Body, entry: Option<Entry>, status: u16, resume: bool) -> ObservedBody {
        let promised = http_body::Body::size_hint(&inner).exact().unwrap_or(0);
        crate::ops::metrics::transfer_started();
        ObservedBody {
            inner,
            entry,
            status,
            resume,
            transfer: None,
            throttle: None,
            held: Bytes::new(),
            promised,
            sent: 0,
            failure: None,
            counting: None,
            recorded: 0,
        }
    }
}

impl ObservedBody {
    /// Shows this body's progress in the live view (see `ops::transfers`).
    pub fn tracked(mut self, transfer: crate::ops::transfers::Handle) -> ObservedBody {
        self.transfer = Some(transfer);
        self
    }

    pub fn promised(&self) -> u64 {
        self.promised
    }

    /// Counts what this body sends toward the client's copy of the version (see `downloads`).
    pub fn counted(
        mut self,
        counting: crate::downloads::Counting,
        downloads: Arc<crate::downloads::Downloads>,
    ) -> ObservedBody {
        self.counting = Some((counting, downloads));
        self
    }

    /// Sends this body no faster than the throttle allows.
    pub fn throttled(mut self, throttle: crate::share::throttle::Throttle) -> ObservedBody {
        self.throttle = Some(throttle);
        self
    }

    /// Counts a frame about to be handed on; `false`: it may not be (a download-limited link
    /// whose clients hold their copies, and this client is not one of them).
    fn count(&mut self, frame: &Frame<Bytes>) -> bool {
        let len = frame.data_ref().map_or(0, |d| d.len() as u64);
        if let Some((counting, downloads)) = &self.counting
            && counting.limit.is_some()
            && len > 0
        {
            let range = counting.range(self.sent, self.sent + len);
            match downloads.admit(counting, range, std::time::SystemTime::now()) {
                None => return false,
                Some((true, _)) => {
                    if let Some(transfer) = &self.transfer {
                        transfer.complete();
                    }
                }
                Some(_) => {}
            }
        }
        self.sent += len;
        if let Some(transfer) = &self.transfer {
            transfer.sent(self.sent);
        }
        // A long response's bytes are kept as it goes, so a crash loses at most this many.
        if let Some((counting, downloads)) = &self.counting
            && self.sent >= self.recorded + RECORD_EVERY
        {
            let now = std::time::SystemTime::now();
            let range = counting.range(0, self.sent);
            let (whole, _) = downloads.record(counting, range, now, true);
            self.recorded = self.sent;
            if whole && let Some(transfer) = &self.transfer {
                transfer.complete();
            }
        }
        true
    }

    /// The end of a body refused mid-way by its download-limited link.
    fn refused(&mut self) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        const USED: &str = "the link's downloads are used";
        self.failure = Some(USED.to_string());
        Poll::Ready(Some(Err(std::io::Error::other(USED))))
    }
}

impl http_body::Body for ObservedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if this.throttle.is_some() && this.held.is_empty() {
            // Take the next frame to hold back; trailers and the end pass through.
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => this.held = data,
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Poll::Ready(Some(Err(err))) => {
                    this.failure = Some(err.to_string());
                    return Poll::Ready(Some(Err(err)));
                }
                other => return other,
            }
        }
        if let Some(throttle) = &mut this.throttle {
            if this.held.is_empty() {
                return Poll::Ready(None);
            }
            let n = std::task::ready!(throttle.poll_grant(cx, this.held.len(), this.sent));
            let frame = Frame::data(this.held.split_to(n));
            if !this.count(&frame) {
                return this.refused();
            }
            return Poll::Ready(Some(Ok(frame)));
        }
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) if !this.count(frame) => return this.refused(),
            Poll::Ready(Some(Err(err))) => this.failure = Some(err.to_string()),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        crate::ops::metrics::transfer_ended(self.status, self.sent, self.resume);
        // Before the transfer's handle goes (its `done:` line says whether the copy is whole).
        let complete = self.counting.take().map(|(counting, downloads)| {
            let empty = counting.len == 0;
            if self.sent == 0 && !(empty && self.failure.is_none()) {
                return false;
            }
            let (whole, _) = downloads.record(
                &counting,
                counting.range(0, self.sent),
                std::time::SystemTime::now(),
                true,
            );
            if whole && let Some(transfer) = &self.transfer {
                transfer.complete();
            }
            whole
        });
        let Some(e) = &self.entry else { return };
        let range = e
            .range
            .as_ref()
            .map(|r| String::from_utf8_lossy(r.as_bytes()));
        if JSON.load(Ordering::Relaxed) {
            let (outcome, reason) = match &self.failure {
                Some(reason) => ("failed", Some(reason.as_str())),
                None if self.sent < self.promised => ("aborted", None),
                None => ("ok", None),
            };
            let user_agent = e
                .user_agent
                .as_ref()
                .map(|ua| String::from_utf8_lossy(ua.as_bytes()));
            tracing::info!(
                target: TARGET,
                peer = %e.peer,
                method = %e.method,
                path = %e.path,
                range = range.as_deref(),
                status = e.status,
                bytes_sent = self.sent,
                bytes_promised = self.promised,
                duration_ms = (e.started.elapsed().as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
                outcome,
                reason,
                user_agent = user_agent.as_deref(),
                http_version = ?e.version,
                resume_from = e.resume_from,
                complete,
                "access"
            );
            return;
        }
        let outcome = match &self.failure {
            Some(reason) => format!("failed: {reason}"),
            None if self.sent < self.promised => "aborted".to_string(),
            None => "ok".to_string(),
        };
        let complete = match complete {
            Some(true) => " complete=true",
            Some(false) => " complete=false",
            None => "",
        };
        tracing::info!(
            target: TARGET,
            "{} \"{} {}\" range={} {} sent={}/{}{} {:.1}ms {}",
            e.peer,
            e.method,
            e.path,
            range.as_deref().unwrap_or("-"),
            e.status,
            self.sent,
            self.promised,
            complete,
            e.started.elapsed().as_secs_f64() * 1000.0,
            outcome,
        );
    }
}
