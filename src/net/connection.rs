//! One accepted connection, on the worker it was handed to: counted (per client, and for the
//! kept handles), TLS-handshaken if need be, and served by hyper — HTTP/1.1, HTTP/2 by ALPN, or
//! h2c by its preface — with the header timeout and size limit, and (through `timed_io`) the
//! idle and send-stall timeouts. Its slot is freed when it ends.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulConnection, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio_rustls::TlsAcceptor;

use crate::access_log::ObservedBody;
use crate::cli::Config;
use crate::handler::{self, Shared};
use crate::net::client_limit::{Admission, Client};
use crate::net::coalesce::Coalesce;
use crate::net::streams::StreamExecutor;
use crate::net::timed_io::TimedIo;

/// What one HTTP/2 connection's streams may hold together ahead of the socket when the client
/// reads nothing: each stream's send buffer plus the one read its body has made (a stalled
/// stream's reads stay at `body::FIRST_CHUNK`, see `body::GROW_AFTER`).
pub const H2_CONNECTION_BUFFER: usize = 2 << 20;
/// The smallest and largest send buffer of one stream (hyper's default is 400 KiB).
const H2_SEND_BUFFER_MIN: usize = 4 * 1024;
const H2_SEND_BUFFER_MAX: usize = 256 * 1024;

/// Bytes hyper buffers per HTTP/2 stream ahead of the socket, so that `max_streams` stalled
/// streams hold at most [`H2_CONNECTION_BUFFER`]: about 12 KiB at the default 100 streams. The
/// socket's own buffer (`TCP_NOTSENT_LOWAT` and what is in flight) keeps a fast link full.
pub fn h2_send_buffer(max_streams: u32) -> usize {
    let per_stream = H2_CONNECTION_BUFFER / (max_streams.max(1) as usize);
    per_stream
        .saturating_sub(crate::body::FIRST_CHUNK)
        .clamp(H2_SEND_BUFFER_MIN, H2_SEND_BUFFER_MAX)
}
/// Streams a client may open and reset before the server has accepted them (h2's default, 20:
/// past it the connection is closed with GOAWAY, the rapid-reset answer).
const H2_MAX_PENDING_RESETS: usize = 20;
/// Streams the server may reset for a client's protocol errors before closing the connection.
const H2_MAX_LOCAL_RESETS: usize = 1024;

/// Serves one connection (after the TLS handshake, if any); `permit` is its connection slot and
/// `admission` what the per-client limit said of it. A connection past that limit gets one
/// answer and at most `--header-timeout` in all.
pub async fn serve(
    stream: std::net::TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
    watcher: Watcher,
    (permit, admission): (OwnedSemaphorePermit, Admission),
) {
    if admission.is_over() {
        let deadline = shared.config.header_timeout;
        let answered = tokio::time::timeout(
            deadline,
            serve_admitted(stream, peer, &shared, tls, watcher, true),
        );
        if answered.await.is_err() {
            tracing::debug!(
                "connection from {peer} past the per-client limit closed after {deadline:?}"
            );
        }
    } else {
        serve_admitted(stream, peer, &shared, tls, watcher, false).await;
    }
    drop((admission, permit));
}

async fn serve_admitted(
    stream: std::net::TcpStream,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    tls: Option<TlsAcceptor>,
    watcher: Watcher,
    busy: bool,
) {
    let stream = match TcpStream::from_std(stream) {
        Ok(stream) => stream,
        Err(err) => {
            tracing::warn!("cannot serve the connection from {peer}: {err}");
            return;
        }
    };
    let config = &shared.config;
    let connected = shared.connections.enter(&config.root);
    let client = Client { peer, busy };
    let streams = StreamExecutor::new(config.send_timeout);
    let in_flight = streams.in_flight();
    let timed = move |stream| {
        TimedIo::new(stream, config.idle_timeout, config.send_timeout).with_streams(in_flight)
    };
    let conn = Conn {
        client,
        shared,
        watcher,
        streams,
    };
    match tls {
        // Only a request line starting with P (POST, PUT, PATCH — or PRI, the HTTP/2 preface)
        // can be HTTP/2 with prior knowledge; hyper-util's auto builder tells which.
        None => match first_byte(&stream, config.idle_timeout).await {
            Some(b'P') => conn.serve(Protocol::Detect, timed(stream)).await,
            Some(_) => conn.serve(Protocol::Http1, timed(stream)).await,
            None => tracing::debug!("connection from {peer} closed or silent before a request"),
        },
        // Boxed: a TLS connection's state (rustls's buffers, the handshake) is large, and only
        // TLS connections should pay for it.
        Some(acceptor) => Box::pin(conn.serve_tls(acceptor, timed(stream))).await,
    }
    drop(connected);
}

/// The first byte the client sent, without taking it from the socket; `None` if it closed or
/// said nothing within `idle` (a silent connection is idle).
async fn first_byte(stream: &TcpStream, idle: Duration) -> Option<u8> {
    let mut byte = [0u8; 1];
    match tokio::time::timeout(idle, stream.peek(&mut byte)).await {
        Ok(Ok(1)) => Some(byte[0]),
        _ => None,
    }
}

/// Which of hyper's connection types serves a connection.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    Http1,
    Http2,
    /// A plain-port connection that may be h2c: hyper-util's auto builder reads the preface.
    Detect,
}

/// What serving one connection needs besides its socket.
struct Conn<'a> {
    client: Client,
    shared: &'a Arc<Shared>,
    watcher: Watcher,
    streams: StreamExecutor,
}

impl Conn<'_> {
    /// The TLS handshake (within the header timeout: a client that trickles or never sends its
    /// ClientHello is dropped, like one that trickles a header), then HTTP/2 or HTTP/1.1 by ALPN.
    async fn serve_tls(self, acceptor: TlsAcceptor, io: TimedIo<TcpStream>) {
        let timeout = self.shared.config.header_timeout;
        let peer = self.client.peer;
        match tokio::time::timeout(timeout, acceptor.accept(io)).await {
            Ok(Ok(tls)) => match tls.get_ref().1.alpn_protocol() {
                Some(b"h2") => self.serve(Protocol::Http2, Coalesce::new(tls)).await,
                _ => self.serve(Protocol::Http1, tls).await,
            },
            Ok(Err(err)) => tracing::debug!("TLS handshake with {peer} failed: {err}"),
            Err(_) => tracing::debug!(
                "TLS handshake with {peer} not done within the header timeout ({timeout:?}); closed"
            ),
        }
    }

    /// Runs hyper on one connection. HTTP/1.1 connections get hyper's own HTTP/1 connection, as
    /// small as before HTTP/2 came; the HTTP/2 and auto ones are boxed so that an HTTP/1.1
    /// connection's task does not carry the size of an HTTP/2 connection's state. 300 stalled
    /// HTTP/1.1 readers: 12.5 MiB before HTTP/2, 16.7 MiB when every connection went through the
    /// auto builder, 13.5 MiB like this (0.9 MiB of it the larger binary's resident code).
    async fn serve<I>(self, protocol: Protocol, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.client.peer;
        let busy = self.client.busy;
        let service = service(self.shared, self.client, self.streams.in_flight());
        let config = &self.shared.config;
        let io = TokioIo::new(io);
        let ended = match protocol {
            Protocol::Http1 => {
                let mut http = http1_builder(config);
                // Past the per-client limit: one answer with `Connection: close`, then closed.
                http.keep_alive(!busy);
                let connection = http.serve_connection(io, service);
                self.watcher
                    .watch(connection)
                    .await
                    .map_err(|e| e.to_string())
            }
            Protocol::Http2 | Protocol::Detect if busy => {
                let mut http = auto_builder(config, self.streams);
                http.http1().keep_alive(false);
                if matches!(protocol, Protocol::Http2) {
                    http = http.http2_only();
                }
                let answered = Arc::new(Notify::new());
                let service = noting(service, Arc::clone(&answered));
                let connection = http.serve_connection(io, service);
                Box::pin(close_after_one(connection, &answered))
                    .await
                    .map_err(|e| e.to_string())
            }
            Protocol::Http2 | Protocol::Detect => {
                let mut http = auto_builder(config, self.streams);
                if matches!(protocol, Protocol::Http2) {
                    http = http.http2_only();
                }
                let connection = http.serve_connection(io, service);
                Box::pin(self.watcher.watch(connection))
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        if let Err(err) = ended {
            tracing::debug!("connection from {peer} ended: {err}");
        }
    }
}

/// A connection past the per-client limit: served until its first answer is made, then shut
/// down gracefully (HTTP/2: GOAWAY once that stream is done), so it holds its slot only as long
/// as one request takes (bounded by the header timeout).
async fn close_after_one<C>(connection: C, answered: &Notify) -> Result<(), C::Error>
where
    C: GracefulConnection,
{
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        ended = connection.as_mut() => ended,
        () = answered.notified() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    }
}

/// The request handler as hyper serves it.
trait Handler:
    Service<
        Request<Incoming>,
        Response = Response<ObservedBody>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> Handler for S where
    S: Service<
            Request<Incoming>,
            Response = Response<ObservedBody>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// `service`, telling `answered` each time it has made an answer.
fn noting(service: impl Handler, answered: Arc<Notify>) -> impl Handler {
    service_fn(move |req| {
        let answer = service.call(req);
        let answered = Arc::clone(&answered);
        async move {
            let response = answer.await;
            answered.notify_one();
            response
        }
    })
}

/// The request handler as hyper's service, for one client's connection. While a request is
/// being answered it counts in `in_flight`, so the connection is not idle (an HTTP/1.1 request
/// waiting for a listing's turn, or a long walk, sends and reads nothing meanwhile).
fn service(shared: &Arc<Shared>, client: Client, in_flight: Arc<AtomicUsize>) -> impl Handler {
    let shared = Arc::clone(shared);
    let Client { peer, busy } = client;
    service_fn(move |req| {
        // Held by the handler's future until it has answered (no future of our own around it:
        // that would move the handler's large future once more per request).
        let answering = InFlight::enter(&in_flight);
        handler::handle(req, Arc::clone(&shared), peer, busy, answering)
    })
}

/// One request being answered, counted until dropped (also when the connection ends first).
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(count: &Arc<AtomicUsize>) -> InFlight {
        count.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(count))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// hyper's HTTP/1.1 settings (the header timeout and size limit, keep-alive), written once for
/// both builders that have them.
macro_rules! http1_settings {
    ($builder:expr, $config:expr) => {
        $builder
            .timer(TokioTimer::new())
            .header_read_timeout($config.header_timeout)
            .max_buf_size($config.max_header_bytes)
            .keep_alive(true)
    };
}

fn http1_builder(config: &Config) -> http1::Builder {
    let mut http = http1::Builder::new();
    http1_settings!(http, config);
    http
}

/// hyper-util's builder for HTTP/2 and for a connection that may be either. HTTP/2: at most
/// `--max-streams` concurrent streams and `--max-header-bytes` of header list (which also
/// bounds a CONTINUATION flood: h2 counts the fragments against it); reset streams are bounded
/// by h2's defaults, which answer the rapid-reset pattern (CVE-2023-44487) with GOAWAY; a send
/// buffer per stream of [`h2_send_buffer`] (what a stalled HTTP/2 reader can pin, besides one
/// body chunk; the socket's own buffer keeps a long link full).
fn auto_builder(config: &Config, streams: StreamExecutor) -> auto::Builder<StreamExecutor> {
    let mut http = auto::Builder::new(streams);
    http1_settings!(http.http1(), config);
    http.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(config.max_streams)
        .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
        .max_send_buf_size(h2_send_buffer(config.max_streams))
        .max_pending_accept_reset_streams(H2_MAX_PENDING_RESETS)
        .max_local_error_reset_streams(H2_MAX_LOCAL_RESETS);
    http
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalled_streams_of_one_connection_hold_at_most_the_connection_buffer() {
        for streams in [1, 2, 10, 100, 128, 1000] {
            let per_stream = h2_send_buffer(streams) + crate::body::FIRST_CHUNK;
            let total = per_stream * streams as usize;
            assert!(
                total <= H2_CONNECTION_BUFFER || h2_send_buffer(streams) == H2_SEND_BUFFER_MIN,
                "{streams} streams: {total}"
            );
        }
        assert_eq!(h2_send_buffer(100), (2 << 20) / 100 - 8 * 1024);
        assert_eq!(h2_send_buffer(1), H2_SEND_BUFFER_MAX);
    }
}
