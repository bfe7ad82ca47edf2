//! The server: start the workers and the digests, bind, print the banner, accept connections
//! (up to the connection limit) and hand each to a worker runtime (see `workers`,
//! `connection`). On SIGINT/SIGTERM it stops accepting and lets in-flight responses finish (up
//! to the shutdown timeout) before returning.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::cli::Config;
use crate::digest::{self, Digests};
use crate::error::StartupError;
use crate::handler::Shared;
use crate::net::tls_server::Tls;
use crate::net::workers::Workers;
use crate::net::{activation, client_limit, connection, signals, socket};
use crate::ops::banner::{self, BannerFacts, ClientLines, Served};
use crate::ops::{addresses, metrics_listener};
use crate::tree::root::Root;

/// The first pause after a failed `accept` (e.g. out of descriptors), doubled while it keeps
/// failing, up to [`ACCEPT_BACKOFF_MAX`], so the loop neither spins nor fills the log.
const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one log line per this long about failing accepts (with how many failed).
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(10);
/// How often kept handles of unlinked files are looked for and closed.
const UNLINKED_SWEEP: Duration = Duration::from_secs(1);

/// How many entries the banner looks at to find the largest file (a huge tree is not walked
/// whole before serving).
const LARGEST_FILE_SCAN: usize = 10_000;

/// Starts the workers, binds, prints the banner and serves until a shutdown signal; then drains
/// and returns. Runs its own runtimes (the acceptor's on this thread, one per worker).
/// `activated`: listening sockets a service manager passed (socket activation); none: bind
/// `--bind`:`--port`.
pub fn run(config: Config, activated: Vec<std::net::TcpListener>) -> Result<(), StartupError> {
    let workers = Workers::start(config.workers).map_err(StartupError::Runtime)?;
    let acceptor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(StartupError::Runtime)?;
    let served = acceptor.block_on(accept_loop(config, activated, &workers));
    workers.stop();
    served
}

async fn accept_loop(
    config: Config,
    activated: Vec<std::net::TcpListener>,
    workers: &Workers,
) -> Result<(), StartupError> {
    let bind_error = |source| StartupError::Bind {
        addr: config.addr,
        source,
    };
    let digests = match config.digest {
        true => Some(digest::startup::start(
            config.state_dir.as_ref(),
            &config.root,
        )?),
        false => None,
    };
    let tls = match &config.tls {
        Some(source) => Some(Tls::start(source, &config)?),
        None => None,
    };
    // Before the banner: what it opens is open once the server says it listens.
    let downloads =
        crate::downloads::Downloads::start(config.state_dir.as_ref(), config.on_complete.clone())
            .map_err(StartupError::Runtime)?;
    let listeners = listen(&config, activated).await?;
    let local = listeners[0].local_addr().map_err(bind_error)?;
    let metrics = match config.metrics {
        Some(addr) => {
            let error = |source| StartupError::Bind { addr, source };
            let metrics = TcpListener::bind(addr).await.map_err(error)?;
            let bound = metrics.local_addr().map_err(error)?;
            Some((metrics, bound))
        }
        None => None,
    };
    // Reloading from before the banner is out: from then on a SIGHUP never ends the process.
    if let Some(tls) = &tls {
        tls.watch();
    }
    let users_hangup = config.auth_file.as_ref().and_then(|_| signals::hangup());
    let lines = client_lines(&config, local, tls.as_ref());
    crate::ops::live::print_stdout(&banner_text(&config, local, tls.as_ref(), &lines));
    tracing::info!("serving with {} worker(s)", workers.count());
    if let Some(digests) = &digests {
        watch_named_files(digests, &config.root, &lines);
    }
    let shared = Arc::new(Shared {
        downloads: Arc::new(downloads),
        ..Shared::new(config, digests, local.port())
    });
    if let Some(hangup) = users_hangup {
        tokio::spawn(reload_users_on_hangup(Arc::clone(&shared), hangup));
    }
    if let Some((metrics, bound)) = metrics {
        crate::ops::live::track();
        crate::ops::live::print_stdout(&format!("metrics on http://{bound}/metrics\n"));
        tokio::spawn(metrics_listener::serve(metrics, Arc::clone(&shared)));
    }
    let config = &shared.config;
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let busy = Arc::new(Semaphore::new(client_limit::BUSY_CONNECTIONS));
    let log_shutdown = |signal: &str| {
        activation::stopping();
        tracing::info!(
            "{signal}: no longer accepting; waiting up to {:?} for {} connection(s)",
            config.shutdown_timeout,
            graceful.count()
        );
    };

    activation::ready();
    let mut backoff = AcceptBackoff::default();
    let mut next_listener = 0;
    tokio::spawn(close_unlinked(Arc::clone(&shared)));
    let shutdown = signals::shutdown();
    tokio::pin!(shutdown);
    loop {
        // Take a connection slot first: at the limit, new connections wait in the backlog.
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_closed) => break,
            },
            signal = &mut shutdown => {
                log_shutdown(signal);
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
            accepted = accept_any(&listeners, &mut next_listener) => match accepted {
                Ok(accepted) => {
                    backoff.succeeded();
                    accepted
                }
                Err(err) => {
                    if crate::error::out_of_descriptors(&err) {
                        config.root.forget_handles();
                    }
                    let pause = backoff.failed(&err);
                    drop(permit);
                    tokio::time::sleep(pause).await;
                    continue;
                }
            },
            signal = &mut shutdown => {
                log_shutdown(signal);
                break;
            }
        };
        socket::tune(&stream, peer);
        // Past the per-client limit: the slot goes back, and the answer uses a busy slot (none
        // left: closed without one).
        let admission = client_limit::admit(&shared, peer);
        let permit = match admission.is_over() {
            false => permit,
            true => match Arc::clone(&busy).try_acquire_owned() {
                Ok(busy) => busy,
                Err(_) => {
                    tracing::debug!("{peer}: past the per-client limit, no busy slot: closed");
                    continue;
                }
            },
        };
        // Move the socket to a worker: deregister it here, register it there.
        match stream.into_std() {
            Ok(stream) => {
                let connection = connection::serve(
                    stream,
                    peer,
                    Arc::clone(&shared),
                    tls.as_ref().map(|tls| tls.acceptor.clone()),
                    graceful.watcher(),
                    (permit, admission),
                );
                workers.next().spawn(connection);
            }
            Err(err) => tracing::warn!("cannot hand over the connection from {peer}: {err}"),
        }
    }
    drop(listeners);
    match tokio::time::timeout(config.shutdown_timeout, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections finished; exiting"),
        Err(_) => tracing::warn!("shutdown timeout reached; exiting with connections still open"),
    }
    Ok(())
}

/// The listening sockets: those a service manager passed (socket activation), else one bound
/// to `--bind`:`--port`.
async fn listen(
    config: &Config,
    activated: Vec<std::net::TcpListener>,
) -> Result<Vec<TcpListener>, StartupError> {
    if activated.is_empty() {
        let bind_error = |source| StartupError::Bind {
            addr: config.addr,
            source,
        };
        return Ok(vec![
            TcpListener::bind(config.addr).await.map_err(bind_error)?,
        ]);
    }
    let mut listeners = Vec::with_capacity(activated.len());
    for listener in activated {
        let addr = listener.local_addr().unwrap_or(config.addr);
        let error = |source| StartupError::Bind { addr, source };
        listener.set_nonblocking(true).map_err(error)?;
        listeners.push(TcpListener::from_std(listener).map_err(error)?);
    }
    let addrs: Vec<String> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.to_string())
        .collect();
    tracing::info!(
        "socket activation: serving on the {} passed socket(s) ({}); --bind and --port are not used",
        listeners.len(),
        addrs.join(", ")
    );
    Ok(listeners)
}

/// The next connection on any of `listeners`, trying them in turn from `next` (so a busy one
/// does not starve the others).
async fn accept_any(
    listeners: &[TcpListener],
    next: &mut usize,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    std::future::poll_fn(|cx| {
        let n = listeners.len();
        for i in 0..n {
            let at = (*next + i) % n;
            if let std::task::Poll::Ready(accepted) = listeners[at].poll_accept(cx) {
                *next = (at + 1) % n;
                return std::task::Poll::Ready(accepted);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// The banner's URLs and client lines: this machine's addresses, the mount point, and for a
/// self-signed certificate the options that check it.
fn client_lines(config: &Config, local: SocketAddr, tls: Option<&Tls>) -> ClientLines {
    let reachable = addresses::reachable(local, &addresses::interfaces(), addresses::dual_stack());
    let mount = config
        .secret
        .as_ref()
        .map(|s| format!("/{s}"))
        .unwrap_or_default();
    let check = tls.and_then(Tls::self_signed_check);
    ClientLines::new(config.scheme(), local, &reachable, mount, check.as_ref())
}

/// The start-up banner (blocking: it may look for the largest file).
fn banner_text(
    config: &Config,
    local: SocketAddr,
    tls: Option<&Tls>,
    lines: &ClientLines,
) -> String {
    let served = match &*config.root {
        Root::Files(files) => Served::Files(
            files
                .iter()
                .map(|f| (f.path.display().to_string(), f.url_path.clone()))
                .collect(),
        ),
        Root::Tree(tree) => Served::Tree {
            path: tree.path.display().to_string(),
            largest: config.root.largest_file(LARGEST_FILE_SCAN),
        },
    };
    let tls_facts = tls.map(Tls::facts);
    banner::render(&BannerFacts {
        version: env!("CARGO_PKG_VERSION"),
        scheme: config.scheme(),
        local,
        lines,
        tls: tls_facts.as_ref(),
        served: &served,
        digest: config.digest,
        signed_links: config.link_key.is_some(),
        auth_in_clear: (!config.auth.is_empty() || config.auth_file.is_some()) && tls.is_none(),
        qr: config.qr,
    })
}

/// With `--file`: hashes each new version of each file as it appears, and prints the first
/// digest with a verification recipe.
fn watch_named_files(digests: &Arc<Digests>, root: &Root, lines: &ClientLines) {
    let Root::Files(files) = root else {
        return;
    };
    for file in files {
        let (lines, url_path) = (lines.clone(), file.url_path.clone());
        let identity = Arc::clone(&file.identity);
        tokio::spawn(digest::watch::watch_versions(
            Arc::clone(digests),
            file.path.clone(),
            Arc::clone(&file.identity),
            move |first| {
                let url = format!("{}{}{url_path}", lines.origin, lines.mount);
                let magnet = first.pieces.as_ref().map(|pieces| {
                    use crate::torrent::metainfo;
                    let piece_length = crate::digest::pieces::piece_length(first.size);
                    let info = metainfo::single_info(
                        &identity.name,
                        first.size,
                        piece_length,
                        &pieces.sha1,
                    );
                    metainfo::magnet(&metainfo::infohash(&info), &identity.name, &[url])
                });
                let name = &identity.display_name;
                let text =
                    banner::digest_lines(&lines, &url_path, &first.sum, name, magnet.as_deref());
                crate::ops::live::print_stdout(&text)
            },
        ));
    }
}

/// `--auth-file`: read again on each SIGHUP (off the runtime's threads).
async fn reload_users_on_hangup(shared: Arc<Shared>, mut hangup: tokio::signal::unix::Signal) {
    while hangup.recv().await.is_some() {
        let shared = Arc::clone(&shared);
        if let Err(err) = tokio::task::spawn_blocking(move || shared.users.reload()).await {
            tracing::warn!("reloading --auth-file failed: {err}; the users stay as they were");
        }
    }
}

/// Failing accepts: a pause that doubles while they keep failing, and a log line at most every
/// [`ACCEPT_LOG_EVERY`] saying how many failed.
#[derive(Debug, Default)]
struct AcceptBackoff {
    pause: Option<Duration>,
    failed: u64,
    logged: Option<std::time::Instant>,
}

impl AcceptBackoff {
    fn succeeded(&mut self) {
        self.pause = None;
    }

    /// Records a failure; returns how long to pause before the next accept.
    fn failed(&mut self, err: &std::io::Error) -> Duration {
        self.failed += 1;
        let now = std::time::Instant::now();
        if self
            .logged
            .is_none_or(|at| now.duration_since(at) >= ACCEPT_LOG_EVERY)
        {
            tracing::warn!(
                "accept failed: {err} ({} time(s) since the last such line); backing off",
                self.failed
            );
            self.failed = 0;
            self.logged = Some(now);
        }
        let pause = self
            .pause
            .map_or(ACCEPT_BACKOFF_FIRST, |p| (p * 2).min(ACCEPT_BACKOFF_MAX));
        self.pause = Some(pause);
        pause
    }
}

/// Each second, closes the kept handles of files that have been unlinked (their space is freed
/// only when the last descriptor closes, and a busy server may never be idle long enough to
/// close them all).
async fn close_unlinked(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(UNLINKED_SWEEP);
    loop {
        tick.tick().await;
        let shared = Arc::clone(&shared);
        let closed = tokio::task::spawn_blocking(move || shared.config.root.close_unlinked()).await;
        if let Ok(n @ 1..) = closed {
            tracing::debug!("closed {n} kept handle(s) of unlinked files");
        }
    }
}
