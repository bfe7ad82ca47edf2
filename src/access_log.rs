//! One access-log line per response, written when hyper is done with its body: fully sent,
//! failed, or dropped because the client went away. It records what was asked, the status, the
//! bytes handed to the connection against the bytes promised, and how long it took.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::body::Body;

/// What the access log says of one request.
#[derive(Debug, Clone)]
pub struct Entry {
    pub peer: SocketAddr,
    pub method: String,
    pub path: String,
    /// The `Range` field as received, if any.
    pub range: Option<String>,
    pub status: u16,
    pub started: Instant,
}

/// A body that counts what it yields and logs [`Entry`] when dropped.
pub struct LoggedBody {
    inner: Body,
    entry: Entry,
    promised: u64,
    sent: u64,
    failure: Option<String>,
}

impl LoggedBody {
    pub fn new(inner: Body, entry: Entry) -> LoggedBody {
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
        let e = &self.entry;
        let outcome = match &self.failure {
            Some(reason) => format!("failed: {reason}"),
            None if self.sent < self.promised && e.method != "HEAD" => "aborted".to_string(),
            None => "ok".to_string(),
        };
        tracing::info!(
            target: "rangeserve::access",
            "{} \"{} {}\" range={} {} sent={}/{} {:.1}ms {}",
            e.peer,
            e.method,
            e.path,
            e.range.as_deref().unwrap_or("-"),
            e.status,
            self.sent,
            self.promised,
            e.started.elapsed().as_secs_f64() * 1000.0,
            outcome,
        );
    }
}
