//! The `--metrics` listener: `/metrics` (OpenMetrics text, see `metrics`), `/healthz` and
//! `/downloads` (HTML, or JSON with `?format=json` or `Accept: application/json`: see
//! `downloads::page`) on an address of their own, HTTP/1.1, on the acceptor's runtime.

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::handler::Shared;
use crate::ops::metrics;

/// Pause after a failed `accept` (e.g. out of descriptors), so the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// The `--metrics` listener: `/metrics` (OpenMetrics text) and `/healthz`, HTTP/1.1, on the
/// acceptor's runtime (a scrape is rare and small).
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
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

/// The transfers in flight, one row per client and file (the live view's rows).
fn live_downloads() -> Vec<crate::downloads::page::Live> {
    let snapshot = crate::ops::transfers::registry().snapshot();
    crate::ops::transfers::rows(&snapshot)
        .into_iter()
        .map(|row| crate::downloads::page::Live {
            client: row.client.to_string(),
            path: row.path,
            held: row.held,
            size: row.file_len,
            connections: row.connections,
        })
        .collect()
}

fn metrics_response(
    req: &hyper::Request<hyper::body::Incoming>,
    shared: &Shared,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    use hyper::header::{CONTENT_TYPE, HeaderValue};
    let (status, content_type, body) = match (req.method().as_str(), req.uri().path()) {
        ("GET" | "HEAD", "/metrics") => {
            let queue = shared.digests.as_ref().map_or(0, |d| d.queue_len());
            let text = metrics::render(shared.connections.count(), queue);
            (
                hyper::StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text,
            )
        }
        ("GET" | "HEAD", "/healthz") => (hyper::StatusCode::OK, "text/plain", "ok\n".to_string()),
        ("GET" | "HEAD", "/downloads") => {
            let json = crate::tree::route::wants_json(
                req.uri().query(),
                req.headers()
                    .get(hyper::header::ACCEPT)
                    .and_then(|a| a.to_str().ok()),
            );
            let counts = shared.downloads.counts();
            let live = live_downloads();
            match json {
                true => (
                    hyper::StatusCode::OK,
                    "application/json",
                    crate::downloads::page::json(&counts, &live),
                ),
                false => (
                    hyper::StatusCode::OK,
                    "text/html; charset=utf-8",
                    crate::downloads::page::html(&counts, &live),
                ),
            }
        }
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
