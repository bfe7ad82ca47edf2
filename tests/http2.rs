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
