//! `--metrics ADDR`: Prometheus/OpenMetrics text at `/metrics` (prometheus-client) and `/healthz`
//! on a listener of its own, never the public port. The counters are kept where the access log
//! is written — when a response's body ends or is dropped — so that after any traffic they
//! equal what the access log says: responses by status (412, 416 and 304 among them), response
//! body bytes, resumes (a 206 that starts past byte 0). Gauges: connections and transfers in
//! flight, the hashing queue; and the bytes hashed so far.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

// The counts themselves are plain atomics, updated on every response whether or not
// `--metrics` is on (a few atomic adds, no allocation, no lock); a scrape builds the
// prometheus-client registry from them.

/// Bytes read by the hashing thread.
pub static HASHED_BYTES: AtomicU64 = AtomicU64::new(0);
static BY_STATUS: [AtomicU64; 600] = [const { AtomicU64::new(0) }; 600];
static BODY_BYTES: AtomicU64 = AtomicU64::new(0);
static RESUMES: AtomicU64 = AtomicU64::new(0);
static TRANSFERS: AtomicI64 = AtomicI64::new(0);

/// Body bytes of responses that have ended, since start.
pub fn body_bytes() -> u64 {
    BODY_BYTES.load(Ordering::Relaxed)
}

/// A response body began.
pub fn transfer_started() {
    TRANSFERS.fetch_add(1, Ordering::Relaxed);
}

/// A response body ended: its status, the bytes sent, and whether it was a resume.
pub fn transfer_ended(status: u16, sent: u64, resume: bool) {
    TRANSFERS.fetch_sub(1, Ordering::Relaxed);
    if let Some(count) = BY_STATUS.get(usize::from(status)) {
        count.fetch_add(1, Ordering::Relaxed);
    }
    BODY_BYTES.fetch_add(sent, Ordering::Relaxed);
    if resume {
        RESUMES.fetch_add(1, Ordering::Relaxed);
    }
}

fn counter(value: u64) -> Counter {
    let counter = Counter::default();
    counter.inc_by(value);
    counter
}

fn gauge(value: i64) -> Gauge {
    let gauge = Gauge::default();
    gauge.set(value);
    gauge
}

/// The exposition text now, with the connections and the hashing queue read by the caller.
pub fn render(connections: usize, hash_queue: usize) -> String {
    let mut registry = Registry::with_prefix("rangeserve");
    let responses = Family::<Vec<(String, String)>, Counter>::default();
    for (status, count) in BY_STATUS.iter().enumerate() {
        let count = count.load(Ordering::Relaxed);
        if count > 0 {
            responses
                .get_or_create(&vec![("status".to_string(), status.to_string())])
                .inc_by(count);
        }
    }
    registry.register(
        "responses",
        "Responses whose body ended (as the access log counts them), by status",
        responses,
    );
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    registry.register(
        "response_body_bytes",
        "Body bytes handed to connections (the access log's sent=)",
        counter(load(&BODY_BYTES)),
    );
    registry.register(
        "resumes",
        "206 responses whose range starts past byte 0",
        counter(load(&RESUMES)),
    );
    registry.register(
        "transfers_active",
        "Response bodies being sent",
        gauge(TRANSFERS.load(Ordering::Relaxed)),
    );
    registry.register(
        "connections_active",
        "Connections being served",
        gauge(connections as i64),
    );
    registry.register(
        "hashed_bytes",
        "Bytes read by the hashing thread",
        counter(load(&HASHED_BYTES)),
    );
    registry.register(
        "downloads_completed",
        "Downloads completed since the start: a client holds every byte of a version",
        counter(load(&crate::downloads::COMPLETED)),
    );
    registry.register(
        "hash_queue",
        "Files waiting to be hashed",
        gauge(hash_queue as i64),
    );
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_every_metric_and_counts_what_ended() {
        transfer_started();
        transfer_ended(599, 1000, true);
        let text = render(3, 2);
        for line in [
            "rangeserve_responses_total{status=\"599\"} 1",
            "rangeserve_connections_active 3",
            "rangeserve_hash_queue 2",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        for name in [
            "rangeserve_response_body_bytes_total",
            "rangeserve_resumes_total",
            "rangeserve_transfers_active",
            "rangeserve_hashed_bytes_total",
            "rangeserve_downloads_completed_total",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(name)),
                "{name} in\n{text}"
            );
        }
    }
}
