//! HTTP/2 connection rules against the real binary (h2c with prior knowledge on the plain port;
//! the same code serves h2 over TLS): a stream whose client grants no flow-control window is
//! reset after the send timeout while the connection's other streams are served, an idle HTTP/2
//! connection is closed after the idle timeout, `--max-streams` and `--max-header-bytes` are what
//! the server announces,
//! and SIGTERM lets an HTTP/2 download finish.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};

use common::{PATIENCE, Server, eventually, random_file, sha256_hex};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn get(addr: std::net::SocketAddr, path: &str) -> hyper::Request<Empty<Bytes>> {
    hyper::Request::get(format!("http://{addr}{path}"))
        .body(Empty::new())
        .unwrap()
}

#[test]
fn a_stream_without_window_is_reset_after_the_send_timeout_and_its_neighbours_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "big.bin", 4 << 20, 1);
    let server = Server::start(&path, &["--send-timeout", "2", "--idle-timeout", "1"]);
    runtime().block_on(async {
        tokio::time::timeout(PATIENCE, async {
            let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
            // A 64 KiB window that is never widened for the first stream: its body is not read.
            let (mut sender, connection) =
                hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                    .initial_stream_window_size(65_535)
                    .adaptive_window(false)
                    .handshake(TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let stalled = sender
                .send_request(get(server.addr, "/big.bin"))
                .await
                .unwrap();
            assert_eq!(stalled.status(), 200);
            let started = Instant::now();
            // Meanwhile, on the same connection, a range is served whole (read as it comes).
            let range = hyper::Request::get(format!("http://{}/big.bin", server.addr))
                .header("Range", "bytes=1000-200999")
                .body(Empty::<Bytes>::new())
                .unwrap();
            let neighbour = sender.send_request(range).await.unwrap();
            assert_eq!(neighbour.status(), 206);
            let body = neighbour.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(sha256_hex(&body), sha256_hex(&data[1000..201_000]));
            // The stalled stream is reset by the server once the send timeout has passed (the
            // connection's 1 s idle timeout did not take the connection: a stream was in flight).
            let mut body = stalled.into_body();
            tokio::time::sleep(Duration::from_secs(3)).await;
            let mut got = 0usize;
            let ended = loop {
                match body.frame().await {
                    Some(Ok(frame)) => got += frame.data_ref().map_or(0, |d| d.len()),
                    Some(Err(err)) => break Some(err),
                    None => break None,
                }
            };
            assert!(
                ended.is_some(),
                "the stalled stream should have been reset, got {got} bytes"
            );
            assert!(got < data.len(), "not the whole file");
            assert!(started.elapsed() >= Duration::from_secs(2));
        })
        .await
        .expect("within the patience");
    });
    eventually("the reset stream is logged as aborted", || {
        let log = server.log();
        log.contains("waited 2s for the client to take more")
            && log
                .lines()
                .any(|l| l.contains("\"GET /big.bin\" range=- 200") && l.ends_with("aborted"))
    });
}

#[test]
fn an_idle_http_2_connection_is_closed_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "a.bin", 10_000, 2);
    let server = Server::start(&path, &["--idle-timeout", "1"]);
    runtime().block_on(async {
        let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        let connection = tokio::spawn(connection);
        let reply = sender
            .send_request(get(server.addr, "/a.bin"))
            .await
            .unwrap();
        let body = reply.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(sha256_hex(&body), sha256_hex(&data));
        let started = Instant::now();
        tokio::time::timeout(PATIENCE, connection)
            .await
            .expect("the server should close the idle connection")
            .unwrap()
            .ok();
        assert!(started.elapsed() >= Duration::from_millis(900));
    });
}

/// The server's first SETTINGS frame, read off a raw socket after the client preface: the
/// (identifier, value) pairs (RFC 9113 §6.5).
fn server_settings(addr: std::net::SocketAddr) -> Vec<(u16, u32)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .unwrap();
    stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap(); // an empty SETTINGS
    let mut head = [0u8; 9];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(head[3], 4, "the server's first frame is SETTINGS");
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).unwrap();
    payload
        .chunks(6)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
            )
        })
        .collect()
}

#[test]
fn the_server_announces_its_stream_and_header_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "a.bin", 1000, 3);
    let server = Server::start(&path, &["--max-streams", "7", "--max-header-bytes", "9000"]);
    let settings = server_settings(server.addr);
    // SETTINGS_MAX_CONCURRENT_STREAMS (0x3) and SETTINGS_MAX_HEADER_LIST_SIZE (0x6).
    assert!(settings.contains(&(3, 7)), "{settings:?}");
    assert!(settings.contains(&(6, 9000)), "{settings:?}");
    let defaults = Server::start(&path, &[]);
    assert!(server_settings(defaults.addr).contains(&(3, 100)));
}

#[test]
fn sigterm_lets_an_http_2_download_finish() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "long.bin", 4 << 20, 4);
    let mut server = Server::start(&path, &["--shutdown-timeout", "30"]);
    let out = dir.path().join("out");
    let mut download = Command::new("curl")
        .args([
            "-sS",
            "--fail",
            "--http2-prior-knowledge",
            "--limit-rate",
            "2M",
            "-o",
        ])
        .arg(&out)
        .arg(server.url("/long.bin"))
        .spawn()
        .unwrap();
    eventually("the download is under way", || {
        std::fs::metadata(&out).is_ok_and(|m| m.len() > 0)
    });
    server.signal("TERM");
    assert!(download.wait().unwrap().success(), "the download was cut");
    assert_eq!(common::sha256_file(&out), sha256_hex(&data));
    let status = server.wait_exit(PATIENCE).expect("exits once drained");
    assert!(status.success());
}

/// Reads frames until the server sends GOAWAY (returns its error code) or closes (`None`).
fn read_until_goaway(stream: &mut std::net::TcpStream) -> Option<u32> {
    use std::io::Read;
    loop {
        let mut head = [0u8; 9];
        stream.read_exact(&mut head).ok()?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).ok()?;
        if head[3] == 7 && payload.len() >= 8 {
            return Some(u32::from_be_bytes([
                payload[4], payload[5], payload[6], payload[7],
            ]));
        }
    }
}

#[test]
fn the_rapid_reset_pattern_gets_goaway_cve_2023_44487() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "a.bin", 1 << 20, 5);
    let server = Server::start(&path, &[]);
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // SETTINGS
    // HPACK: :method GET (static 2), :scheme http (6), :path / (4), :authority "x" (literal,
    // indexed name 1, not added to the table).
    let block = [0x82, 0x86, 0x84, 0x01, 0x01, b'x'];
    for i in 0..500u32 {
        let id = (2 * i + 1).to_be_bytes();
        // HEADERS, END_STREAM | END_HEADERS.
        out.extend_from_slice(&[
            0,
            0,
            block.len() as u8,
            1,
            0x05,
            id[0] & 0x7f,
            id[1],
            id[2],
            id[3],
        ]);
        out.extend_from_slice(&block);
        // RST_STREAM, CANCEL (0x8).
        out.extend_from_slice(&[0, 0, 4, 3, 0, id[0] & 0x7f, id[1], id[2], id[3], 0, 0, 0, 8]);
    }
    let _ = stream.write_all(&out); // the server may close before it has read everything
    let code = read_until_goaway(&mut stream);
    // ENHANCE_YOUR_CALM (0xb): h2's answer once more than 20 streams are reset before accepted.
    assert_eq!(
        code,
        Some(0xb),
        "the flood should end in GOAWAY(ENHANCE_YOUR_CALM)"
    );
    // And the server goes on serving others.
    let reply = common::h2::request(server.addr, "GET", "/a.bin", &[("Range", "bytes=0-9")]);
    assert_eq!(reply.status, 206);
}

#[test]
fn listings_sidecars_manifests_and_archives_are_the_same_over_http_2() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("share");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    random_file(&root, "one.bin", 3000, 6);
    random_file(&root.join("sub"), "two.bin", 5000, 7);
    let server = Server::start_dir(&root, &[]);
    eventually("the digests are known", || {
        ["/SHA256SUMS", "/sub/SHA256SUMS"]
            .iter()
            .all(|m| common::request(server.addr, "GET", m, &[]).status == 200)
    });
    for (path, fields) in [
        ("/", &[][..]),
        ("/?format=json", &[][..]),
        ("/sub/", &[("Accept", "application/json")][..]),
        ("/one.bin.sha256", &[][..]),
        ("/SHA256SUMS", &[][..]),
        ("/sub", &[][..]),
        ("/missing", &[][..]),
        ("/.hidden", &[][..]),
    ] {
        let h1 = common::request(server.addr, "GET", path, fields);
        let h2 = common::h2::request(server.addr, "GET", path, fields);
        assert_eq!(h1.status, h2.status, "{path}");
        assert_eq!(
            h1.header("content-type"),
            h2.header("content-type"),
            "{path}"
        );
        assert_eq!(h1.header("etag"), h2.header("etag"), "{path}");
        assert_eq!(h1.header("location"), h2.header("location"), "{path}");
        assert_eq!(
            sha256_hex(&h1.body),
            sha256_hex(&h2.body),
            "{path}: the same bytes (listings name the host as the client did: both say {})",
            server.addr
        );
    }
    // The archive of the whole folder, and a range of it.
    for range in [None, Some("bytes=100-2099")] {
        let fields: Vec<(&str, &str)> = range.iter().map(|r| ("Range", *r)).collect();
        let h1 = common::request(server.addr, "GET", "/share.tar", &fields);
        let h2 = common::h2::request(server.addr, "GET", "/share.tar", &fields);
        assert_eq!(
            (h1.status, h1.header("content-range")),
            (h2.status, h2.header("content-range"))
        );
        assert!(h1.status == 200 || h1.status == 206, "{}", h1.status);
        assert_eq!(sha256_hex(&h1.body), sha256_hex(&h2.body));
    }
}
