//! The signals the server acts on: SIGINT and SIGTERM drain and exit, SIGHUP reloads the TLS
//! certificate (see `tls_server`) and the `--auth-file` users (see `server`).

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Resolves to the name of the first SIGINT or SIGTERM received.
pub async fn shutdown() -> &'static str {
    let mut term = match signal(SignalKind::terminate()) {
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

/// SIGHUP, listened for from now on (so that from then on it never ends the process); `None`
/// if it cannot be (logged).
pub fn hangup() -> Option<Signal> {
    signal(SignalKind::hangup())
        .map_err(|err| tracing::warn!("cannot listen for SIGHUP: {err}"))
        .ok()
}
