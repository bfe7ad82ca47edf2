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
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::cli::Config;
use crate::digest::store::Store;
use crate::digest::{self, Digests};
use crate::error::StartupError;
use crate::handler::{self, Shared};
use crate::net::timed_io::TimedIo;
use crate::net::workers::Workers;
use crate::representation::{NamedFile, Representation};
use crate::tree::listing::{self, Page};
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
    let listener = TcpListener::bind(config.addr).await.map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    print_banner(&config, local);
    tracing::info!("serving with {} worker(s)", workers.count());

    if let (Some(digests), Root::Files(files)) = (&digests, &*config.root) {
        for file in files {
            tokio::spawn(watch_versions(Arc::clone(digests), file.clone(), local));
        }
    }
    let shared = Arc::new(Shared {
        config,
        digests,
        archives: Arc::default(),
        connections: Default::default(),
    });
    let config = &shared.config;
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_buf_size(config.max_header_bytes)
        .keep_alive(true);

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
                    http.clone(),
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

/// Serves one connection on the worker it was handed to; its slot is freed when it ends.
async fn serve(
    stream: std::net::TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    http: http1::Builder,
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
    let io = TimedIo::new(
        stream,
        shared.config.idle_timeout,
        shared.config.send_timeout,
    );
    shared.connections.fetch_add(1, Ordering::Relaxed);
    let served = Arc::clone(&shared);
    let service = service_fn(move |req| handler::handle(req, Arc::clone(&served), peer));
    if let Err(err) = watcher
        .watch(http.serve_connection(TokioIo::new(io), service))
        .await
    {
        tracing::debug!("connection from {peer} ended: {err}");
    }
    if shared.connections.fetch_sub(1, Ordering::Relaxed) == 1 {
        shared.config.root.forget_handles();
    }
    drop(permit);
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
async fn watch_versions(digests: Arc<Digests>, file: NamedFile, local: SocketAddr) {
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
                    print_digest_banner(&file, &sum, local);
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

/// The start-up banner on stdout: what is served, where, and lines to paste into a client.
/// Tests read the `listening on` line to learn the port.
fn print_banner(config: &Config, local: SocketAddr) {
    let origin = format!("http://{}", banner_host(local));
    let other_hosts = if local.ip().is_unspecified() {
        " (from another machine, use this machine's address instead)"
    } else {
        ""
    };
    let version = env!("CARGO_PKG_VERSION");
    let mut banner = String::new();
    let resume_lines = |url: &str| {
        format!(
            "\x20 wget -c '{url}'\n\
             \x20 curl -C - -O '{url}'\n\
             \x20 aria2c -x 8 '{url}'\n"
        )
    };
    match &*config.root {
        Root::Files(files) if files.len() == 1 => {
            let file = &files[0];
            let url = format!("{origin}{}", file.url_path);
            banner.push_str(&format!(
                "rangeserve {version}: serving {path}\n\
                 listening on http://{local}\n\
                 \n  {url}{other_hosts}\n\
                 \nResume an interrupted download with any of:\n{lines}",
                path = file.path.display(),
                lines = resume_lines(&url),
            ));
        }
        Root::Files(files) => {
            banner.push_str(&format!(
                "rangeserve {version}: serving {} files\nlistening on http://{local}\n\n  {origin}/{other_hosts}\n\n",
                files.len()
            ));
            for file in files {
                banner.push_str(&format!("  {origin}{}\n", file.url_path));
            }
            if let Some(first) = files.first() {
                banner.push_str(&format!(
                    "\nResume an interrupted download with any of:\n{}",
                    resume_lines(&format!("{origin}{}", first.url_path))
                ));
            }
        }
        Root::Tree(tree) => {
            let page = Page {
                segments: &[],
                origin: Some(&origin),
                entries: &[],
                checksums: config.digest,
                archive_name: None,
            };
            banner.push_str(&format!(
                "rangeserve {version}: serving directory {path}\n\
                 listening on http://{local}\n\
                 \n  {origin}/{other_hosts}\n\
                 \nFetch the whole folder resumably (run it again to resume){then}:\n\
                 {recipe}\n",
                path = tree.path.display(),
                recipe = indent(&listing::recipe(&page)),
                then = if config.digest {
                    ", then prove every file whole"
                } else {
                    ""
                },
            ));
            match config.root.largest_file(LARGEST_FILE_SCAN) {
                Some((rel, size)) => {
                    let url = format!("{origin}{}", rel_url(&rel));
                    banner.push_str(&format!(
                        "\nLargest file: {} ({}); resume an interrupted download with any of:\n{}",
                        String::from_utf8_lossy(&rel),
                        listing::human_size(size),
                        resume_lines(&url)
                    ));
                }
                None => banner.push_str("\n(no files in it yet)\n"),
            }
        }
    }
    print_stdout(&banner);
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
        .map(crate::headers::url_path)
        .collect()
}

/// The digest part of the banner, printed when the first hash is ready.
fn print_digest_banner(file: &NamedFile, sum: &digest::Sha256Digest, local: SocketAddr) {
    let url = format!("http://{}{}", banner_host(local), file.url_path);
    print_stdout(&format!(
        "\nsha256 {}  {}\n\
         Prove a resumed download whole:\n\
         \x20 wget -c '{url}' && wget -q -O - '{url}.sha256' | sha256sum -c\n",
        digest::hex(sum),
        file.identity.display_name,
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
