//! `--on-complete CMD`: run when a download completes, through `sh -c CMD` with the facts in
//! environment variables (never in the command string, so no name can inject a command):
//! `RANGESERVE_PATH`, `RANGESERVE_CLIENT`, `RANGESERVE_BYTES`, `RANGESERVE_SHA256` (empty when
//! not known yet), `RANGESERVE_SECONDS`, `RANGESERVE_LINK` (a link's id, empty without one).
//!
//! Never in a response's way: the completion is queued (at most [`WAITING`]; past that it is
//! logged and not run) and [`AT_ONCE`] threads run the queue; each run's exit status and stderr
//! (its first [`STDERR_KEPT`] bytes; the rest is read and dropped) are logged, and a run still
//! going after [`TIMEOUT`] is killed.

use std::process::{Command, Stdio};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Completed;
use crate::text::Escaped;

/// Hooks running at once, at most.
pub const AT_ONCE: usize = 4;
/// Completions waiting for a hook, at most.
pub const WAITING: usize = 256;
/// Bytes of a hook's stderr logged.
pub const STDERR_KEPT: usize = 2048;
/// A run still going after this long is killed (its slot is needed by the next).
pub const TIMEOUT: Duration = Duration::from_secs(600);
const POLL: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub struct Hook {
    queue: SyncSender<Completed>,
}

impl Hook {
    /// Starts the threads that run `command`.
    pub fn start(command: String) -> std::io::Result<Hook> {
        let (queue, rx) = sync_channel::<Completed>(WAITING);
        let rx = Arc::new(Mutex::new(rx));
        let command = Arc::new(command);
        for n in 0..AT_ONCE {
            let (rx, command) = (Arc::clone(&rx), Arc::clone(&command));
            std::thread::Builder::new()
                .name(format!("on-complete-{n}"))
                .spawn(move || {
                    loop {
                        let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match next {
                            Ok(done) => run_one(&command, &done),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Hook { queue })
    }

    /// Queues a run for `done` (never blocks); `false`: not queued ([`WAITING`] already wait).
    pub fn run(&self, done: &Completed) -> bool {
        match self.queue.try_send(done.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                tracing::warn!(
                    "--on-complete: {WAITING} completions already wait; not run for {} to {}",
                    Escaped(&done.path),
                    done.client
                );
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

/// The environment a run gets.
pub fn environment(done: &Completed) -> Vec<(&'static str, String)> {
    vec![
        ("RANGESERVE_PATH", done.path.clone()),
        ("RANGESERVE_CLIENT", done.client.to_string()),
        ("RANGESERVE_BYTES", done.bytes.to_string()),
        ("RANGESERVE_SHA256", done.sha256.clone().unwrap_or_default()),
        ("RANGESERVE_SECONDS", format!("{:.3}", done.seconds)),
        ("RANGESERVE_LINK", done.link.clone()),
    ]
}

fn run_one(command: &str, done: &Completed) {
    use std::os::unix::ffi::OsStrExt as _;
    let spawned = Command::new("sh")
        .arg("-c")
        .arg(command)
        .envs(environment(done))
        // The path's own bytes (a name need not be UTF-8).
        .env(
            "RANGESERVE_PATH",
            std::ffi::OsStr::from_bytes(&done.raw_path),
        )
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let path = Escaped(&done.path);
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) => {
            tracing::warn!("--on-complete for {path}: cannot run sh: {err}");
            return;
        }
    };
    // Its stderr: the first STDERR_KEPT bytes kept, the rest read and dropped (never held).
    let (kept_tx, kept_rx) = std::sync::mpsc::channel();
    if let Some(mut stderr) = child.stderr.take() {
        std::thread::spawn(move || {
            use std::io::Read as _;
            let mut kept = Vec::new();
            let _ = (&mut stderr)
                .take(STDERR_KEPT as u64)
                .read_to_end(&mut kept);
            let _ = std::io::copy(&mut stderr, &mut std::io::sink());
            let _ = kept_tx.send(kept);
        });
    }
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Err(err) => {
                tracing::warn!("--on-complete for {path}: {err}");
                break None;
            }
        }
    };
    let stderr = kept_rx.recv_timeout(POLL * 20).unwrap_or_default();
    let stderr = String::from_utf8_lossy(&stderr).trim_end().to_string();
    match status {
        Some(status) if status.success() => {
            tracing::info!("--on-complete for {path} ({}): {status}", done.client)
        }
        Some(status) => {
            tracing::warn!(
                "--on-complete for {path} ({}) failed: {status}",
                done.client
            )
        }
        None => tracing::warn!(
            "--on-complete for {path} ({}): still running after {TIMEOUT:?}, killed",
            done.client
        ),
    }
    if !stderr.is_empty() {
        tracing::info!("--on-complete stderr: {}", Escaped(&stderr));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_the_runs_at_once_and_the_waiting_are_held() {
        let dir = tempfile::tempdir().unwrap();
        let gate = dir.path().join("gate");
        // Each run waits (bounded) until the gate file exists.
        let command = format!(
            "for i in $(seq 100); do [ -e '{}' ] && exit 0; sleep 0.1; done",
            gate.display()
        );
        let hook = Hook::start(command).unwrap();
        let done = Completed {
            path: "f".into(),
            raw_path: b"f".to_vec(),
            client: "10.0.0.1".parse().unwrap(),
            bytes: 1,
            sha256: None,
            seconds: 0.0,
            link: String::new(),
        };
        // The threads take up to AT_ONCE; WAITING more fit in the queue; the rest are refused.
        let queued = (0..(AT_ONCE + WAITING + 20))
            .filter(|_| hook.run(&done))
            .count();
        assert!(
            (WAITING..=AT_ONCE + WAITING).contains(&queued),
            "{queued} queued"
        );
        assert!(!hook.run(&done), "past the bound, refused");
        std::fs::write(&gate, b"").unwrap();
    }
}
