//! The acceptor: bind, print the banner, accept connections (up to the connection limit) and hand
//! each to a worker runtime (see `workers`), where hyper's HTTP/1 builder serves it (header
//! timeout, header size limit; the idle and send-stall timeouts come from `timed_io`). On
//! SIGINT/SIGTERM it stops accepting and lets in-flight responses finish (up to the shutdown
//! timeout) before returning.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::cli::{Config, TlsSource};
use crate::digest::store::Store;
use crate::digest::{self, Digests};
use crate::error::StartupError;
use crate::handler::{self, Shared};
use crate::net::coalesce::Coalesce;
use crate::net::self_signed;
use crate::net::streams::StreamExecutor;
use crate::net::timed_io::TimedIo;
use crate::net::tls::{self as tls_config, KeyFiles, Reloadable};
use crate::net::workers::Workers;
use crate::ops::metrics as ops_metrics;
use crate::ops::{addresses, qr};
use crate::representation::Representation;
use crate::tree::listing::{self, Page};
use crate::tree::named::NamedFile;
use crate::tree::root::Root;

/// Pause after a failed `accept` (e.g. out of descriptors), so the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Starts the workers, binds, prints the banner and serves until a shutdown signal; then drains
/// and returns. Runs its own runtimes (the acceptor's on this thread, one per worker).
pub fn run(config: Config) -> Result<(), StartupError> {
    let workers = Workers::start(config.workers).map_err(StartupError::Runtime)?;
    let acceptor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(StartupError::Runtime)?;
    let served = acceptor.block_on(accept_loop(config, &workers));
    workers.stop();
    served
}

async fn accept_loop(config: Config, workers: &Workers) -> Result<(), StartupError> {
    let bind_error = |source| StartupError::Bind {
        addr: config.addr,
        source,
    };
    let digests = if config.digest {
        Some(start_digests(&config)?)
    } else {
        None
    };
    let tls = match &config.tls {
        Some(source) => Some(Tls::start(source, &config)?),
        None => None,
    };
    let listener = TcpListener::bind(config.addr).await.map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    let metrics = match config.metrics {
        Some(addr) => {
            let error = |source| StartupError::Bind { addr, source };
            let metrics = TcpListener::bind(addr).await.map_err(error)?;
            let bound = metrics.local_addr().map_err(error)?;
            Some((metrics, bound))
        }
        None => None,
    };
    if let Some(tls) = &tls {
        // Listening for SIGHUP before the banner is out: from then on a SIGHUP reloads, it never
        // ends the process.
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|err| tracing::warn!("cannot listen for SIGHUP: {err}"))
            .ok();
        tokio::spawn(watch_key_files(
            tls.files.clone(),
            Arc::clone(&tls.resolver),
            hangup,
        ));
    }
    let mount = config
        .secret
        .as_ref()
        .map(|s| format!("/{s}"))
        .unwrap_or_default();
    let lines = ClientLines::new(local, tls.as_ref(), mount);
    print_banner(&config, local, tls.as_ref(), &lines);
    tracing::info!("serving with {} worker(s)", workers.count());

    if let (Some(digests), Root::Files(files)) = (&digests, &*config.root) {
        for file in files {
            tokio::spawn(watch_versions(
                Arc::clone(digests),
                file.clone(),
                lines.clone(),
            ));
        }
    }
    let shared = Arc::new(Shared::new(config, digests));
    if let Some((metrics, bound)) = metrics {
        print_stdout(&format!("metrics on http://{bound}/metrics\n"));
        tokio::spawn(serve_metrics(metrics, Arc::clone(&shared)));
    }
    let config = &shared.config;
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(config.max_connections));

    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        // Take a connection slot first: at the limit, new connections wait in the backlog.
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_closed) => break,
            },
            signal = &mut shutdown => {
                log_shutdown(signal, config, &graceful);
                break;
            }
        };
        if permits.available_permits() == 0 {
            tracing::warn!(
                "{} connections open (--max-connections): new ones wait",
                config.max_connections
            );
        }
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!("accept failed: {err}");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    continue;
                }
            },
            signal = &mut shutdown => {
                log_shutdown(signal, config, &graceful);
                break;
            }
        };
        tune_socket(&stream, peer);
        // Move the socket to a worker: deregister it here, register it there.
        match stream.into_std() {
            Ok(stream) => {
                let connection = serve(
                    stream,
                    peer,
                    Arc::clone(&shared),
                    tls.as_ref().map(|tls| tls.acceptor.clone()),
                    graceful.watcher(),
                    permit,
                );
                workers.next().spawn(connection);
            }
            Err(err) => tracing::warn!("cannot hand over the connection from {peer}: {err}"),
        }
    }
    drop(listener);
    match tokio::time::timeout(config.shutdown_timeout, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections finished; exiting"),
        Err(_) => tracing::warn!("shutdown timeout reached; exiting with connections still open"),
    }
    Ok(())
}

/// Serves one connection on the worker it was handed to (after the TLS handshake, if any);
/// its slot is freed when it ends.
async fn serve(
    stream: std::net::TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
    watcher: Watcher,
    permit: OwnedSemaphorePermit,
) {
    let stream = match TcpStream::from_std(stream) {
        Ok(stream) => stream,
        Err(err) => {
            tracing::warn!("cannot serve the connection from {peer}: {err}");
            return;
        }
    };
    let config = &shared.config;
    let streams = StreamExecutor::new(config.send_timeout);
    shared.connections.fetch_add(1, Ordering::Relaxed);
    let client = ClientSlot::enter(&shared, peer);
    let busy = client.as_ref().is_some_and(|c| c.over);
    match tls {
        None => match first_byte(&stream, config.idle_timeout).await {
            // Only a request line starting with P (POST, PUT, PATCH — or PRI, the HTTP/2 preface)
            // can be HTTP/2 with prior knowledge; hyper-util's auto builder tells which.
            Some(b'P') => {
                let io = timed(stream, config, &streams);
                serve_http(
                    Protocol::Detect,
                    io,
                    Client { peer, busy },
                    &shared,
                    watcher,
                    streams,
                )
                .await
            }
            Some(_) => {
                let io = timed(stream, config, &streams);
                serve_http(
                    Protocol::Http1,
                    io,
                    Client { peer, busy },
                    &shared,
                    watcher,
                    streams,
                )
                .await
            }
            None => tracing::debug!("connection from {peer} closed or silent before a request"),
        },
        // Boxed: a TLS connection's state (rustls's buffers, the handshake) is large, and only
        // TLS connections should pay for it.
        Some(acceptor) => {
            let io = timed(stream, config, &streams);
            Box::pin(serve_tls(
                acceptor,
                io,
                Client { peer, busy },
                &shared,
                watcher,
                streams,
            ))
            .await
        }
    }
    drop(client);
    if shared.connections.fetch_sub(1, Ordering::Relaxed) == 1 {
        shared.config.root.forget_handles();
    }
    drop(permit);
}

/// One connection of a client address, counted for `--max-connections-per-client` (decided
/// like nginx's `limit_conn`: the connections past the limit are answered 503 with
/// `Retry-After`, not queued — a download client then retries, and one client cannot hold
/// the connection slots everyone shares).
struct ClientSlot<'a> {
    shared: &'a Shared,
    ip: std::net::IpAddr,
    /// This connection is past the limit: its requests get 503.
    over: bool,
}

impl<'a> ClientSlot<'a> {
    fn enter(shared: &'a Shared, peer: SocketAddr) -> Option<ClientSlot<'a>> {
        let max = shared.config.max_per_client?;
        let mut counts = shared
            .per_client
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let open = counts.entry(peer.ip()).or_default();
        *open += 1;
        Some(ClientSlot {
            shared,
            ip: peer.ip(),
            over: *open > max,
        })
    }
}

impl Drop for ClientSlot<'_> {
    fn drop(&mut self) {
        let mut counts = self
            .shared
            .per_client
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// The TLS handshake (within the header timeout: a client that trickles or never sends its
/// ClientHello is dropped, like one that trickles a header), then HTTP/2 or HTTP/1.1 by ALPN.
async fn serve_tls(
    acceptor: TlsAcceptor,
    io: TimedIo<TcpStream>,
    client: Client,
    shared: &Arc<Shared>,
    watcher: Watcher,
    streams: StreamExecutor,
) {
    let timeout = shared.config.header_timeout;
    match tokio::time::timeout(timeout, acceptor.accept(io)).await {
        Ok(Ok(tls)) => match tls.get_ref().1.alpn_protocol() {
            Some(b"h2") => {
                let io = Coalesce::new(tls);
                serve_http(Protocol::Http2, io, client, shared, watcher, streams).await
            }
            _ => serve_http(Protocol::Http1, tls, client, shared, watcher, streams).await,
        },
        Ok(Err(err)) => tracing::debug!("TLS handshake with {} failed: {err}", client.peer),
        Err(_) => tracing::debug!(
            "TLS handshake with {} not done within the header timeout ({timeout:?}); closed",
            client.peer
        ),
    }
}

fn timed(stream: TcpStream, config: &Config, streams: &StreamExecutor) -> TimedIo<TcpStream> {
    TimedIo::new(stream, config.idle_timeout, config.send_timeout).with_streams(streams.in_flight())
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

/// Who a connection is from, and whether it is past `--max-connections-per-client` (then
/// every request on it gets 503); decided once, when the connection is counted.
#[derive(Debug, Clone, Copy)]
struct Client {
    peer: SocketAddr,
    busy: bool,
}

/// Which of hyper's connection types serves a connection.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    Http1,
    Http2,
    /// A plain-port connection that may be h2c: hyper-util's auto builder reads the preface.
    Detect,
}

/// Runs hyper on one connection. HTTP/1.1 connections get hyper's own HTTP/1 connection, as
/// small as before HTTP/2 came; each kind is its own function (and the HTTP/2 and auto ones
/// are boxed by their callers) so that an HTTP/1.1 connection's task does not carry the size
/// of an HTTP/2 connection's state. 300 stalled HTTP/1.1 readers: 12.5 MiB before HTTP/2,
/// 16.7 MiB when every connection went through the auto builder, 13.5 MiB like this (0.9 MiB of
/// it the larger binary's resident code).
async fn serve_http<I>(
    protocol: Protocol,
    io: I,
    client: Client,
    shared: &Arc<Shared>,
    watcher: Watcher,
    streams: StreamExecutor,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let ended = match protocol {
        Protocol::Http1 => serve_http1(io, client, shared, watcher).await,
        Protocol::Http2 => Box::pin(serve_http2(io, client, shared, watcher, streams, true)).await,
        Protocol::Detect => {
            Box::pin(serve_http2(io, client, shared, watcher, streams, false)).await
        }
    };
    if let Err(err) = ended {
        tracing::debug!("connection from {} ended: {err}", client.peer);
    }
}

async fn serve_http1<I>(
    io: I,
    client: Client,
    shared: &Arc<Shared>,
    watcher: Watcher,
) -> Result<(), String>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let served = Arc::clone(shared);
    let Client { peer, busy } = client;
    let service = service_fn(move |req| handler::handle(req, Arc::clone(&served), peer, busy));
    let http = http1_builder(&shared.config);
    watcher
        .watch(http.serve_connection(TokioIo::new(io), service))
        .await
        .map_err(|err| err.to_string())
}

/// HTTP/2 only (`only`), or either, told apart by the preface.
async fn serve_http2<I>(
    io: I,
    client: Client,
    shared: &Arc<Shared>,
    watcher: Watcher,
    streams: StreamExecutor,
    only: bool,
) -> Result<(), String>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let served = Arc::clone(shared);
    let Client { peer, busy } = client;
    let service = service_fn(move |req| handler::handle(req, Arc::clone(&served), peer, busy));
    let mut http = http_builder(&shared.config, streams);
    if only {
        http = http.http2_only();
    }
    watcher
        .watch(http.serve_connection(TokioIo::new(io), service))
        .await
        .map_err(|err| err.to_string())
}

/// hyper's HTTP/1.1 settings: the header timeout and size limit, keep-alive.
fn http1_builder(config: &Config) -> http1::Builder {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_buf_size(config.max_header_bytes)
        .keep_alive(true);
    http
}

/// hyper's connection settings. HTTP/1.1: the header timeout and size limit, keep-alive.
/// HTTP/2: at most `--max-streams` concurrent streams and `--max-header-bytes` of header list
/// (which also bounds a CONTINUATION flood: h2 counts the fragments against it); reset streams
/// are bounded by h2's defaults, which answer the rapid-reset pattern (CVE-2023-44487) with
/// GOAWAY; a send buffer per stream of [`H2_SEND_BUFFER`] (what a stalled HTTP/2 reader can
/// pin, besides one body chunk; the socket's own buffer keeps a long link full).
fn http_builder(config: &Config, streams: StreamExecutor) -> auto::Builder<StreamExecutor> {
    let mut http = auto::Builder::new(streams);
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_buf_size(config.max_header_bytes)
        .keep_alive(true);
    http.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(config.max_streams)
        .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
        .max_send_buf_size(H2_SEND_BUFFER)
        .max_pending_accept_reset_streams(H2_MAX_PENDING_RESETS)
        .max_local_error_reset_streams(H2_MAX_LOCAL_RESETS);
    http
}

/// Bytes hyper buffers per HTTP/2 stream ahead of the socket (hyper's default is 400 KiB).
const H2_SEND_BUFFER: usize = 256 * 1024;
/// Streams a client may open and reset before the server has accepted them (h2's default, 20:
/// past it the connection is closed with GOAWAY, the rapid-reset answer).
const H2_MAX_PENDING_RESETS: usize = 20;
/// Streams the server may reset for a client's protocol errors before closing the connection.
const H2_MAX_LOCAL_RESETS: usize = 1024;

/// HTTPS: the acceptor handshakes go through, the resolver a reload swaps the key in, the files
/// it reloads from, and (for `--tls-self-signed`) the names the certificate covers.
struct Tls {
    acceptor: TlsAcceptor,
    resolver: Arc<Reloadable>,
    files: KeyFiles,
    self_signed: Option<Vec<String>>,
}

impl Tls {
    /// Loads (or, self-signed, makes) the certificate: any problem is a start-up error.
    fn start(source: &TlsSource, config: &Config) -> Result<Tls, StartupError> {
        let provider = tls_config::provider();
        let (files, self_signed) = match source {
            TlsSource::Files(files) => (files.clone(), None),
            TlsSource::SelfSigned => {
                let Some((state, _)) = &config.state_dir else {
                    return Err(StartupError::Usage(
                        "--tls-self-signed keeps its certificate in the state directory: give --state-dir",
                    ));
                };
                let dir = state.join("tls");
                let names = self_signed::machine_names(config.addr.ip());
                let (files, made) = self_signed::ensure(&dir, &names).map_err(|source| {
                    StartupError::SelfSigned {
                        path: dir.clone(),
                        source,
                    }
                })?;
                if made {
                    tracing::info!(
                        "made a self-signed certificate for {} in {}",
                        names.join(", "),
                        dir.display()
                    );
                }
                (files, Some(names))
            }
        };
        let key = files.load(&provider).map_err(StartupError::Tls)?;
        let resolver = Reloadable::new(key);
        let server = tls_config::server_config(Arc::clone(&resolver), provider)
            .map_err(StartupError::Runtime)?;
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            resolver,
            files,
            self_signed,
        })
    }
}

/// How often the certificate and key files are looked at for a change.
const KEY_FILES_POLL: Duration = Duration::from_secs(2);

/// Reloads the certificate and key on SIGHUP and when either file changes. A reload that fails
/// (a file missing, half-written, or the key not the certificate's) keeps the current key and
/// says why; the next change or SIGHUP tries again.
async fn watch_key_files(
    files: KeyFiles,
    resolver: Arc<Reloadable>,
    mut hangup: Option<tokio::signal::unix::Signal>,
) {
    let mut seen = files.stamp();
    let mut tick = tokio::time::interval(KEY_FILES_POLL);
    loop {
        let why = tokio::select! {
            Some(()) = async {
                match &mut hangup {
                    Some(hangup) => hangup.recv().await,
                    None => std::future::pending().await,
                }
            } => "SIGHUP",
            _ = tick.tick() => {
                if files.stamp() == seen {
                    continue;
                }
                "the files changed"
            }
        };
        seen = files.stamp();
        match files.load(&tls_config::provider()) {
            Ok(key) => {
                let fingerprint = key.cert.first().map(|c| tls_config::fingerprint(c));
                resolver.replace(key);
                tracing::info!(
                    "{why}: reloaded the TLS certificate {} (SHA-256 {}); new connections get it",
                    files.cert.display(),
                    fingerprint.unwrap_or_default()
                );
            }
            Err(err) => tracing::warn!("{why}: {err}; keeping the certificate in use"),
        }
    }
}

/// The `--metrics` listener: `/metrics` (OpenMetrics text) and `/healthz`, HTTP/1.1, on the
/// acceptor's runtime (a scrape is rare and small).
async fn serve_metrics(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!("metrics: accept failed: {err}");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        let header_timeout = shared.config.header_timeout;
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, std::convert::Infallible>(metrics_response(&req, &shared)) }
            });
            let mut http = http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            if let Err(err) = http.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!("metrics connection from {peer}: {err}");
            }
        });
    }
}

fn metrics_response(
    req: &hyper::Request<hyper::body::Incoming>,
    shared: &Shared,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    use hyper::header::{CONTENT_TYPE, HeaderValue};
    let (status, content_type, body) = match (req.method().as_str(), req.uri().path()) {
        ("GET" | "HEAD", "/metrics") => {
            let queue = shared.digests.as_ref().map_or(0, |d| d.queue_len());
            let text = ops_metrics::render(shared.connections.load(Ordering::Relaxed), queue);
            (
                hyper::StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text,
            )
        }
        ("GET" | "HEAD", "/healthz") => (hyper::StatusCode::OK, "text/plain", "ok\n".to_string()),
        _ => (
            hyper::StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_string(),
        ),
    };
    let body = if req.method() == hyper::Method::HEAD {
        String::new()
    } else {
        body
    };
    let mut response = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Unsent bytes the kernel may queue per connection (`TCP_NOTSENT_LOWAT`). Without it the send
/// buffer autotunes to 4 MiB even for a client that reads nothing, so 300 stalled clients pin
/// over a gigabyte of kernel memory; bytes in flight (and so throughput over long links) are not
/// limited by it. The body's read sizes rely on this bound (see `body::GROW_AFTER`).
pub const NOTSENT_LOWAT: u32 = 128 * 1024;

fn tune_socket(stream: &tokio::net::TcpStream, peer: SocketAddr) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!("TCP_NODELAY on {peer}: {err}");
    }
    if let Err(err) = socket2::SockRef::from(stream).set_tcp_notsent_lowat(NOTSENT_LOWAT) {
        tracing::debug!("TCP_NOTSENT_LOWAT on {peer}: {err}");
    }
}

fn log_shutdown(signal: &str, config: &Config, graceful: &GracefulShutdown) {
    tracing::info!(
        "{signal}: no longer accepting; waiting up to {:?} for {} connection(s)",
        config.shutdown_timeout,
        graceful.count()
    );
}

/// Opens the digest store (a `--state-dir` given explicitly must work; the default one may
/// not, and then digests last only as long as the process) and starts the hashing thread.
fn start_digests(config: &Config) -> Result<Arc<Digests>, StartupError> {
    let (store, loaded) = match &config.state_dir {
        Some((dir, explicit)) => match Store::open(dir) {
            Ok((store, loaded)) => {
                tracing::info!(
                    "digest store {}: {} digest(s) from earlier runs",
                    store.path().display(),
                    loaded.len()
                );
                (Some(store), loaded)
            }
            Err(source) if *explicit => {
                return Err(StartupError::StateDir {
                    path: dir.clone(),
                    source,
                });
            }
            Err(err) => {
                tracing::warn!(
                    "cannot keep digests in {}: {} (they will be computed again after a restart)",
                    dir.display(),
                    crate::error::describe(&err)
                );
                (None, Default::default())
            }
        },
        None => {
            tracing::warn!("no state directory (no HOME): digests are not kept across restarts");
            (None, Default::default())
        }
    };
    let root = Arc::clone(&config.root);
    Digests::start(store, loaded, Box::new(move |rel| root.open_file(rel)))
        .map_err(StartupError::Runtime)
}

/// How often a named file's metadata is checked for a new version to hash.
const VERSION_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Starts hashing each new version of a named file as soon as it appears (requests also start
/// it), and prints the digest and a verification recipe to stdout the first time one is ready.
async fn watch_versions(digests: Arc<Digests>, file: NamedFile, lines: ClientLines) {
    let mut announced: Option<String> = None;
    let mut interval = tokio::time::interval(VERSION_POLL_INTERVAL / 8);
    loop {
        interval.tick().await;
        let (path, identity) = (file.path.clone(), Arc::clone(&file.identity));
        let Ok(Ok(rep)) =
            tokio::task::spawn_blocking(move || Representation::open(&path, identity)).await
        else {
            continue;
        };
        match digests.ensure(&rep.stamp, &rep.identity.rel) {
            digest::Status::Ready { sum, .. } if announced.as_ref() != Some(&rep.etag) => {
                if announced.is_none() {
                    print_digest_banner(&file, &sum, &lines);
                }
                announced = Some(rep.etag);
                interval = tokio::time::interval(VERSION_POLL_INTERVAL);
            }
            _ => {}
        }
    }
}

/// Resolves to the name of the first SIGINT or SIGTERM received.
async fn shutdown_signal() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(err) => {
            tracing::warn!("cannot listen for SIGTERM: {err}");
            if let Err(err) = tokio::signal::ctrl_c().await {
                tracing::warn!(
                    "cannot listen for SIGINT either ({err}); stop the server with SIGKILL"
                );
                std::future::pending::<()>().await;
            }
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// How the banner's URLs and client lines look: the origin (scheme and address) and, for a
/// self-signed certificate, the options each client needs to check it.
#[derive(Debug, Clone)]
struct ClientLines {
    /// The first of `origins`: the one the client lines use.
    origin: String,
    /// `scheme://address` for every address a client can reach us at (see `ops::addresses`).
    origins: Vec<String>,
    /// `/<secret>` with `--secret-path`, else empty.
    mount: String,
    curl: String,
    wget: String,
    aria2c: String,
}

impl ClientLines {
    fn new(local: SocketAddr, tls: Option<&Tls>, mount: String) -> ClientLines {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let reachable =
            addresses::reachable(local, &addresses::interfaces(), addresses::dual_stack());
        let origins: Vec<String> = reachable
            .iter()
            .map(|addr| format!("{scheme}://{addr}"))
            .collect();
        let origin = origins
            .first()
            .cloned()
            .unwrap_or_else(|| format!("{scheme}://{}", banner_host(local)));
        match tls {
            Some(tls) if tls.self_signed.is_some() => {
                let key = tls.resolver.current();
                let pin = key
                    .key
                    .public_key()
                    .map(|spki| tls_config::pinned_key(spki.as_ref()))
                    .unwrap_or_default();
                let ca = shell_quote(&tls.files.cert.display().to_string());
                ClientLines {
                    origin,
                    origins,
                    mount,
                    curl: format!("--pinnedpubkey '{pin}' -k "),
                    wget: format!("--ca-certificate={ca} "),
                    aria2c: format!("--ca-certificate={ca} "),
                }
            }
            _ => ClientLines {
                origin,
                origins,
                mount,
                curl: String::new(),
                wget: String::new(),
                aria2c: String::new(),
            },
        }
    }

    /// One indented line per address for `path` (a URL path beginning with `/`).
    fn urls(&self, path: &str) -> String {
        self.origins
            .iter()
            .map(|origin| format!("  {origin}{path}\n"))
            .collect()
    }

    fn resume(&self, url: &str) -> String {
        format!(
            "\x20 wget {}-c '{url}'\n\
             \x20 curl {}-C - -O '{url}'\n\
             \x20 aria2c {}-x 8 '{url}'\n",
            self.wget, self.curl, self.aria2c
        )
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The start-up banner on stdout: what is served, where, and lines to paste into a client.
/// Tests read the `listening on` line to learn the port.
fn print_banner(config: &Config, local: SocketAddr, tls: Option<&Tls>, lines: &ClientLines) {
    let origin = &lines.origin;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let version = env!("CARGO_PKG_VERSION");
    let mut banner = String::new();
    let tls_lines = tls.map(tls_banner).unwrap_or_default();
    let mount = lines.mount.clone();
    let mut qr_path = format!("{mount}/");
    match &*config.root {
        Root::Files(files) if files.len() == 1 => {
            let file = &files[0];
            let url = format!("{origin}{mount}{}", file.url_path);
            banner.push_str(&format!(
                "rangeserve {version}: serving {path}\n\
                 listening on {scheme}://{local}\n{tls_lines}\
                 \n{urls}\
                 \nResume an interrupted download with any of:\n{resume}",
                path = file.path.display(),
                urls = lines.urls(&format!("{mount}{}", file.url_path)),
                resume = lines.resume(&url),
            ));
            qr_path = format!("{mount}{}", file.url_path);
        }
        Root::Files(files) => {
            banner.push_str(&format!(
                "rangeserve {version}: serving {} files\nlistening on {scheme}://{local}\n{tls_lines}\n{}\n",
                files.len(),
                lines.urls(&format!("{mount}/")),
            ));
            for file in files {
                banner.push_str(&format!("  {origin}{mount}{}\n", file.url_path));
            }
            if let Some(first) = files.first() {
                banner.push_str(&format!(
                    "\nResume an interrupted download with any of:\n{}",
                    lines.resume(&format!("{origin}{mount}{}", first.url_path))
                ));
            }
        }
        Root::Tree(tree) => {
            let page = Page {
                segments: &[],
                origin: Some(origin),
                entries: &[],
                checksums: config.digest,
                archive_name: None,
                mount: &mount,
            };
            banner.push_str(&format!(
                "rangeserve {version}: serving directory {path}\n\
                 listening on {scheme}://{local}\n{tls_lines}\
                 \n{urls}\
                 \nFetch the whole folder resumably (run it again to resume){then}:\n\
                 {recipe}\n",
                path = tree.path.display(),
                urls = lines.urls(&format!("{mount}/")),
                recipe = indent(&listing::recipe(&page)),
                then = if config.digest {
                    ", then prove every file whole"
                } else {
                    ""
                },
            ));
            if !lines.wget.is_empty() {
                banner.push_str(&format!(
                    "  (add {}to wget for the self-signed certificate)\n",
                    lines.wget
                ));
            }
            match config.root.largest_file(LARGEST_FILE_SCAN) {
                Some((rel, size)) => {
                    let url = format!("{origin}{mount}{}", rel_url(&rel));
                    banner.push_str(&format!(
                        "\nLargest file: {} ({}); resume an interrupted download with any of:\n{}",
                        String::from_utf8_lossy(&rel),
                        listing::human_size(size),
                        lines.resume(&url)
                    ));
                }
                None => banner.push_str("\n(no files in it yet)\n"),
            }
        }
    }
    if config.link_key.is_some() {
        banner.push_str(
            "\nOnly signed links are served (the URLs above answer 403): make them with\n  \
             rangeserve link --expires 24h PATH...   (with the same --state-dir or --link-key)\n",
        );
    }
    if !config.auth.is_empty() && tls.is_none() {
        banner.push_str(
            "\nWarning: --auth over plain HTTP: the passwords travel in the clear (base64 is not \
             encryption); add --tls-self-signed or --tls-cert/--tls-key.\n",
        );
    }
    if config.qr {
        banner.push_str(&qr_banner(lines, &qr_path));
    }
    print_stdout(&banner);
}

/// `--qr`: the first address another machine can use, as a QR code.
fn qr_banner(lines: &ClientLines, path: &str) -> String {
    let remote = lines.origins.iter().find(|origin| {
        !(origin.contains("://127.")
            || origin.contains("://[::1]")
            || origin.contains("://localhost"))
    });
    let Some(origin) = remote else {
        return "\n(--qr: this server is reachable only on loopback; no QR code)\n".to_string();
    };
    let url = format!("{origin}{path}");
    match qr::render(&url) {
        Some(code) => format!("\n{url}\n{code}\n"),
        None => format!("\n(--qr: {url} is too long for a QR code)\n"),
    }
}

/// The banner's TLS lines: the certificate's fingerprint, and for a self-signed one what it
/// covers, where it is kept and how the client lines check it.
fn tls_banner(tls: &Tls) -> String {
    let key = tls.resolver.current();
    let fingerprint = key
        .cert
        .first()
        .map(|cert| tls_config::fingerprint(cert))
        .unwrap_or_default();
    match &tls.self_signed {
        None => format!(
            "TLS certificate {} (SHA-256 fingerprint {fingerprint})\n",
            tls.files.cert.display()
        ),
        Some(names) => format!(
            "TLS: self-signed certificate for {names}, kept in {cert}\n\
             \x20 SHA-256 fingerprint {fingerprint}\n\
             \x20 (compare it out of band: openssl x509 -noout -fingerprint -sha256 -in CERT; the curl\n\
             \x20 lines below pin its public key, the wget and aria2c lines trust only that file)\n",
            names = names.join(", "),
            cert = tls.files.cert.display(),
        ),
    }
}

/// How many entries the banner looks at to find the largest file (a huge tree is not walked
/// whole before serving).
const LARGEST_FILE_SCAN: usize = 10_000;

fn indent(lines: &str) -> String {
    lines
        .lines()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The URL path of a relative path: each segment percent-encoded.
fn rel_url(rel: &[u8]) -> String {
    rel.split(|&b| b == b'/')
        .map(crate::http::format::url_path)
        .collect()
}

/// The digest part of the banner, printed when the first hash is ready.
fn print_digest_banner(file: &NamedFile, sum: &digest::Sha256Digest, lines: &ClientLines) {
    let url = format!("{}{}{}", lines.origin, lines.mount, file.url_path);
    print_stdout(&format!(
        "\nsha256 {}  {}\n\
         Prove a resumed download whole:\n\
         \x20 wget {wget}-c '{url}' && wget {wget}-q -O - '{url}.sha256' | sha256sum -c\n",
        crate::http::format::hex(sum),
        file.identity.display_name,
        wget = lines.wget,
    ));
}

fn print_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// The address to show in URLs: loopback in place of an unspecified address.
fn banner_host(local: SocketAddr) -> SocketAddr {
    match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), local.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), local.port())
        }
        _ => local,
    }
}
