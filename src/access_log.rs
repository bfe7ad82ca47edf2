//! One access-log line per response, written when hyper is done with its body: fully sent,
//! failed, or dropped because the client went away. It records what was asked, the status, the
//! bytes handed to the connection against the bytes promised, and how long it took.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::Method;
use hyper::header::HeaderValue;

use crate::body::Body;

/// The tracing target of access-log lines (`RUST_LOG=rangeserve::access=off` silences them).
pub const TARGET: &str = "rangeserve::access";

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
}

/// A body that counts what it yields and logs its [`Entry`] (if any) when dropped.
pub struct LoggedBody {
    inner: Body,
    entry: Option<Entry>,
    promised: u64,
    sent: u64,
    failure: Option<String>,
}

impl LoggedBody {
    pub fn new(inner: Body, entry: Option<Entry>) -> LoggedBody {
        let promised = http_body::Body::size_hint(&inner).exact().unwrap_or(0);
        LoggedBody {
            inner,
            entry,
            promised,
            sent: 0,
            failure: None,
        }
    }
}

impl http_body::Body for LoggedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                this.sent += frame.data_ref().map_or(0, |d| d.len() as u64);
            }
            Poll::Ready(Some(Err(err))) => this.failure = Some(err.to_string()),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        let Some(e) = &self.entry else { return };
        let outcome = match &self.failure {
            Some(reason) => format!("failed: {reason}"),
            None if self.sent < self.promised => "aborted".to_string(),
            None => "ok".to_string(),
        };
        let range = e
            .range
            .as_ref()
            .map(|r| String::from_utf8_lossy(r.as_bytes()));
        tracing::info!(
            target: TARGET,
            "{} \"{} {}\" range={} {} sent={}/{} {:.1}ms {}",
            e.peer,
            e.method,
            e.path,
            range.as_deref().unwrap_or("-"),
            e.status,
            self.sent,
            self.promised,
            e.started.elapsed().as_secs_f64() * 1000.0,
            outcome,
        );
    }
}
