//! The workers: one single-threaded tokio runtime per thread (by default one per CPU), to which
//! the acceptor hands connections round-robin. A connection lives on one worker for its life.
//!
//! Why not tokio's work-stealing runtime: on the 2-core benchmark it served 1 KiB ranges at
//! ~73k requests/s where two single-threaded runtimes served ~100k (`benches/compare.sh`; the
//! difference is cross-thread wake-ups and shared-queue traffic per request). Why not one
//! `SO_REUSEPORT` listener per worker: a second rangeserve started on the same port by mistake
//! would then silently share the port, and clients would get the other server's file.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// How long a stopping worker waits for its blocking-pool reads before it exits anyway.
const EXIT_GRACE: Duration = Duration::from_secs(1);

/// A running set of worker runtimes.
pub struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
    stops: Vec<oneshot::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `count` workers (at least one), each running until [`Workers::stop`].
    pub fn start(count: usize) -> io::Result<Workers> {
        let mut workers = Workers {
            handles: Vec::new(),
            next: AtomicUsize::new(0),
            stops: Vec::new(),
            threads: Vec::new(),
        };
        for i in 0..count.max(1) {
            let (handle_tx, handle_rx) = std::sync::mpsc::channel();
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    let runtime = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime,
                        Err(err) => {
                            let _ = handle_tx.send(Err(err));
                            return;
                        }
                    };
                    let _ = handle_tx.send(Ok(runtime.handle().clone()));
                    runtime.block_on(async {
                        // Told to stop, or the `Workers` value is gone: either way, stop.
                        if stop_rx.await.is_err() {
                            tracing::debug!("worker-{i}: its owner went away; stopping");
                        }
                    });
                    runtime.shutdown_timeout(EXIT_GRACE);
                })?;
            let handle = handle_rx
                .recv()
                .map_err(|_| io::Error::other("a worker thread died while starting"))??;
            workers.handles.push(handle);
            workers.stops.push(stop_tx);
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    /// The worker for the next connection (round-robin).
    pub fn next(&self) -> &Handle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        &self.handles[i]
    }

    pub fn count(&self) -> usize {
        self.handles.len()
    }

    /// Stops every worker: tasks still running are dropped (their connections close).
    pub fn stop(self) {
        for stop in self.stops {
            let _ = stop.send(());
        }
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_spread_round_robin_and_run_on_their_worker() {
        let workers = Workers::start(3).unwrap();
        assert_eq!(workers.count(), 3);
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 0..6 {
            let tx = tx.clone();
            workers.next().spawn(async move {
                let name = std::thread::current()
                    .name()
                    .unwrap_or_default()
                    .to_string();
                tx.send((i, name)).unwrap();
            });
        }
        let mut seen: Vec<(i32, String)> = (0..6)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        seen.sort();
        let names: Vec<&str> = seen.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "worker-0", "worker-1", "worker-2", "worker-0", "worker-1", "worker-2"
            ]
        );
        workers.stop();
    }

    #[test]
    fn zero_workers_means_one() {
        let workers = Workers::start(0).unwrap();
        assert_eq!(workers.count(), 1);
        workers.stop();
    }
}
