//! Running under a service manager: the listening sockets it passes (socket activation,
//! `LISTEN_FDS`/`LISTEN_PID` as sd_listen_fds(3) has them, taken with `listenfd`) and the
//! readiness it is told of (`READY=1` once serving, `STOPPING=1` when draining, over
//! `NOTIFY_SOCKET` as sd_notify(3) has it, with `sd-notify`: a Unix datagram, no libsystemd).
//!
//! With passed sockets systemd keeps the listening socket while the server restarts, so a
//! connection made meanwhile waits in the backlog and is served by the next process: a restart
//! refuses no connection, and port 80/443 needs no root.

use std::net::TcpListener;

/// The TCP listening sockets passed by a service manager, in order (none without
/// `LISTEN_FDS`, or when `LISTEN_PID` names another process; as `listenfd` reads them, a
/// missing `LISTEN_PID` is accepted and `LISTEN_FDS_FIRST_FD` honoured, beyond what
/// sd_listen_fds(3) does). Call before any thread starts:
/// the variables are removed from the environment (children must not take them as theirs).
pub fn take_listeners() -> Result<Vec<TcpListener>, String> {
    let mut passed = listenfd::ListenFd::from_env();
    (0..passed.len())
        .filter_map(|index| match passed.take_tcp_listener(index) {
            // A bound or connected socket that does not listen (`Accept=yes`, a mistake) would
            // fail every accept: refused at the start instead.
            Ok(Some(listener)) => match rustix::net::sockopt::socket_acceptconn(&listener) {
                Ok(true) => Some(Ok(listener)),
                _ => Some(Err(format!(
                    "socket activation: passed socket {} (fd {}) is not listening (a .socket unit needs Accept=no)",
                    index + 1,
                    index + 3
                ))),
            },
            Ok(None) => None,
            Err(err) => Some(Err(format!(
                "socket activation: passed socket {} (fd {}): {err} (only TCP listening sockets are served)",
                index + 1,
                index + 3
            ))),
        })
        .collect()
}

/// Tells the service manager the server is serving (nothing without `NOTIFY_SOCKET`).
pub fn ready() {
    notify(&[sd_notify::NotifyState::Ready]);
}

/// Tells the service manager the server is draining before it exits.
pub fn stopping() {
    notify(&[sd_notify::NotifyState::Stopping]);
}

fn notify(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(err) = sd_notify::notify(state) {
        tracing::warn!("cannot notify the service manager (NOTIFY_SOCKET): {err}");
    }
}
