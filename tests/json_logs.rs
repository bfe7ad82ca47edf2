//! `--log-format json` against the real binary: after a mixed run (200, 206 resume, 304, 404,
//! an aborted download) every stderr line is one JSON object, and the access lines' fields are
//! what was sent and received.

mod common;

use common::{Server, begin, eventually, random_file, request};

fn json_lines(server: &Server) -> Vec<serde_json::Value> {
    server
        .log()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn every_line_is_json_and_access_lines_carry_their_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "big.bin", 8 << 20, 1);
    let server = Server::start(&path, &["--log-format", "json"]);
    let ok = request(
        server.addr,
        "GET",
        "/big.bin",
        &[("User-Agent", "tester/1.0")],
    );
    assert_eq!(ok.status, 200);
    let etag = ok.header("etag").unwrap().to_string();
    assert_eq!(
        request(
            server.addr,
            "GET",
            "/big.bin",
            &[("Range", "bytes=1000-1999")]
        )
        .status,
        206
    );
    assert_eq!(
        request(server.addr, "GET", "/big.bin", &[("If-None-Match", &etag)]).status,
        304
    );
    assert_eq!(request(server.addr, "GET", "/nope", &[]).status, 404);
    // An aborted download: the header, a little body, then the client goes away.
    let (stream, status, _, _) = begin(&server, "/big.bin", None);
    assert_eq!(status, 200);
    drop(stream);

    eventually("five access lines", || {
        server
            .log()
            .lines()
            .filter(|l| l.contains("\"rangeserve::access\""))
            .count()
            >= 5
    });
    let lines = json_lines(&server);
    for line in &lines {
        for key in ["ts", "level", "target"] {
            assert!(line.get(key).is_some(), "{key} in {line}");
        }
    }
    let access: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["target"] == "rangeserve::access")
        .collect();
    let find = |status: u64, range: Option<&str>| {
        access
            .iter()
            .find(|l| l["status"] == status && l["range"].as_str() == range)
            .unwrap_or_else(|| panic!("no {status} {range:?} line in {access:?}"))
    };
    let full = find(200, None);
    assert_eq!(full["method"], "GET");
    assert_eq!(full["path"], "/big.bin");
    assert_eq!(full["bytes_sent"], 8u64 << 20);
    assert_eq!(full["bytes_promised"], 8u64 << 20);
    assert_eq!(full["outcome"], "ok");
    assert_eq!(full["http_version"], "HTTP/1.1");
    assert!(full["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(full["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(access.iter().any(|l| l["user_agent"] == "tester/1.0"));
    let ranged = find(206, Some("bytes=1000-1999"));
    assert_eq!(
        (
            ranged["bytes_sent"].as_u64(),
            ranged["resume_from"].as_u64()
        ),
        (Some(1000), Some(1000))
    );
    let not_modified = find(304, None);
    assert_eq!(not_modified["bytes_sent"], 0);
    assert!(not_modified["resume_from"].is_null());
    assert_eq!(find(404, None)["path"], "/nope");
    eventually("the aborted download's line", || {
        json_lines(&server).iter().any(|l| {
            l["target"] == "rangeserve::access"
                && l["outcome"] == "aborted"
                && l["bytes_sent"].as_u64() < Some(8 << 20)
        })
    });
}
