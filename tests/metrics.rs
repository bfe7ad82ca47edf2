//! `--metrics` against the real binary: a known set of requests, then the exposition parsed by
//! Python's prometheus_client (its OpenMetrics parser) must count exactly what the access log
//! says — responses by status, body bytes, resumes — and `/healthz` answers 200.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;

use common::{Server, begin, eventually, random_file, request};

/// The metrics address from the banner.
fn metrics_addr(server: &Server) -> SocketAddr {
    eventually("the metrics line", || {
        server.banner().contains("metrics on http://")
    });
    let banner = server.banner();
    let line = banner
        .lines()
        .find(|l| l.starts_with("metrics on http://"))
        .unwrap();
    line.trim_start_matches("metrics on http://")
        .trim_end_matches("/metrics")
        .parse()
        .unwrap()
}

/// Samples (name with labels → value) as Python's OpenMetrics parser reads them.
fn scrape(addr: SocketAddr) -> BTreeMap<String, f64> {
    let text = request(addr, "GET", "/metrics", &[]);
    assert_eq!(text.status, 200);
    assert!(
        text.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let script = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value}")
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&text.body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused it: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect()
}

#[test]
fn counters_equal_what_the_access_log_says() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "f.bin", 100_000, 1);
    let server = Server::start(&path, &["--metrics", "127.0.0.1:0"]);
    let metrics = metrics_addr(&server);
    assert_eq!(request(metrics, "GET", "/healthz", &[]).status, 200);
    assert_eq!(request(metrics, "GET", "/other", &[]).status, 404);

    let a = server.addr;
    // The file was just written: it is hashed once it has settled (2 s); every response below
    // then carries the same (content) ETag.
    common::eventually("the file is hashed", || {
        server.log().contains("sha256 of f.bin")
    });
    let etag = request(a, "GET", "/f.bin", &[])
        .header("etag")
        .unwrap()
        .to_string();
    assert_eq!(
        request(a, "GET", "/f.bin", &[("Range", "bytes=40000-")]).status,
        206
    );
    assert_eq!(
        request(a, "GET", "/f.bin", &[("Range", "bytes=0-99")]).status,
        206
    );
    assert_eq!(
        request(a, "GET", "/f.bin", &[("If-None-Match", &etag)]).status,
        304
    );
    assert_eq!(
        request(a, "GET", "/f.bin", &[("If-Match", "\"other\"")]).status,
        412
    );
    assert_eq!(
        request(a, "GET", "/f.bin", &[("Range", "bytes=200000-")]).status,
        416
    );
    assert_eq!(request(a, "GET", "/missing", &[]).status, 404);
    assert_eq!(request(a, "HEAD", "/f.bin", &[]).status, 200);
    let (stream, _, _, _) = begin(&server, "/f.bin", Some("bytes=10-"));
    drop(stream);

    let access = || -> Vec<(u16, u64)> {
        server
            .log()
            .lines()
            .filter(|l| l.contains("rangeserve::access"))
            .filter_map(|l| {
                let after = l.split("\" range=").nth(1)?;
                let mut words = after.split(' ');
                let status = words.nth(1)?.parse().ok()?;
                let sent = words
                    .next()?
                    .strip_prefix("sent=")?
                    .split('/')
                    .next()?
                    .parse()
                    .ok()?;
                Some((status, sent))
            })
            .collect()
    };
    eventually("nine access lines", || access().len() == 9);
    let lines = access();
    let samples = scrape(metrics);
    let mut by_status: BTreeMap<u16, f64> = BTreeMap::new();
    for (status, _) in &lines {
        *by_status.entry(*status).or_default() += 1.0;
    }
    for (status, count) in &by_status {
        let key = format!("rangeserve_responses_total{{status=\"{status}\"}}");
        assert_eq!(samples.get(&key), Some(count), "{key} in {samples:?}");
    }
    let sent: u64 = lines.iter().map(|(_, sent)| sent).sum();
    assert_eq!(
        samples["rangeserve_response_body_bytes_total{}"],
        sent as f64
    );
    // Resumes: the 206 from 40000 and the aborted one from 10 (not the one from 0).
    assert_eq!(samples["rangeserve_resumes_total{}"], 2.0);
    assert_eq!(samples["rangeserve_transfers_active{}"], 0.0);
    assert!(
        samples["rangeserve_hashed_bytes_total{}"] >= 100_000.0,
        "the file was hashed"
    );
    assert_eq!(samples["rangeserve_hash_queue{}"], 0.0);
    assert!(samples.contains_key("rangeserve_connections_active{}"));
}
