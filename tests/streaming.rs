//! Streaming and lifecycle against the real binary: a file truncated mid-body cuts the
//! connection (never padding, never a hang), a client that leaves releases its descriptor,
//! a half-sent request header is dropped after the header timeout, and SIGTERM drains.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;

use common::{PATIENCE, Server, random_file, sha256_hex};

#[test]
fn a_file_truncated_mid_body_cuts_the_connection_without_padding() {
    let dir = tempfile::tempdir().unwrap();
    let len = 64 * 1024 * 1024;
    let (path, data) = random_file(dir.path(), "shrinking.bin", len, 11);
    let server = Server::start(&path, &[]);
    let (mut stream, _, promised, mut body) = common::begin(&server, "/", None);
    assert_eq!(promised, len as u64);
    // Read a little, then truncate the file under the server.
    let mut chunk = vec![0u8; 64 * 1024];
    while body.len() < 1024 * 1024 {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0);
        body.extend_from_slice(&chunk[..n]);
    }
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    // The rest must end with the connection closing (a read timeout would fail the test).
    stream
        .read_to_end(&mut body)
        .expect("the server closes the connection");
    assert!(
        body.len() < len,
        "got all {len} bytes although the file was truncated"
    );
    assert_eq!(
        sha256_hex(&body),
        sha256_hex(&data[..body.len()]),
        "what came is the original prefix"
    );
    common::eventually("no log line for the cut response", || {
        server.log().contains("failed: the file became shorter")
    });
}

#[test]
fn a_client_that_disconnects_mid_body_releases_its_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "big.bin", 32 * 1024 * 1024, 12);
    let server = Server::start(&path, &["--no-digest"]);
    let baseline = common::descriptors(server.pid());
    let downloads: Vec<_> = (0..20).map(|_| common::begin(&server, "/", None)).collect();
    assert!(
        common::descriptors(server.pid()) >= baseline + 20,
        "each download holds a socket and the file"
    );
    drop(downloads);
    common::eventually("descriptors stay open after the clients left", || {
        common::descriptors(server.pid()) <= baseline
    });
    assert!(
        server.log().contains("aborted"),
        "the access log says the downloads were aborted"
    );
}

#[test]
fn a_half_sent_request_header_is_dropped_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f.bin", 1000, 13);
    let server = Server::start(&path, &["--header-timeout", "1"]);
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.set_read_timeout(Some(PATIENCE)).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    // A normal client is served meanwhile.
    let reply = common::get(server.addr, &[]);
    assert_eq!(reply.body, data);
    let mut rest = Vec::new();
    let closed = slow.read_to_end(&mut rest);
    assert!(
        closed.is_ok(),
        "the server must close the slow connection, not leave it hanging: {closed:?}"
    );
    assert!(
        !rest.windows(4).any(|w| w == b"\r\n\r\n") || rest.starts_with(b"HTTP/1.1 408"),
        "no file bytes: {rest:?}"
    );
}

#[test]
fn sigterm_stops_accepting_and_lets_in_flight_downloads_finish() {
    let dir = tempfile::tempdir().unwrap();
    let len = 24 * 1024 * 1024;
    let (path, data) = random_file(dir.path(), "drain.bin", len, 14);
    let mut server = Server::start(&path, &[]);
    let mut downloads: Vec<_> = (0..3).map(|_| common::begin(&server, "/", None)).collect();
    server.signal("TERM");
    // New connections are refused once the listener is closed.
    common::eventually("still accepting after SIGTERM", || {
        TcpStream::connect(server.addr).is_err()
    });
    for (stream, _, promised, body) in downloads.iter_mut() {
        stream.read_to_end(body).unwrap();
        assert_eq!(*promised, len as u64);
        assert_eq!(
            sha256_hex(body),
            sha256_hex(&data),
            "a drained download is complete"
        );
    }
    let status = server.wait_exit(PATIENCE).expect("exits after draining");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigterm_with_a_stalled_client_exits_0_after_the_shutdown_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "stall.bin", 32 * 1024 * 1024, 15);
    let mut server = Server::start(&path, &["--shutdown-timeout", "1"]);
    let (_stalled, _, _, _) = common::begin(&server, "/", None);
    server.signal("TERM");
    let status = server
        .wait_exit(PATIENCE)
        .expect("exits once the shutdown timeout has passed");
    assert_eq!(status.code(), Some(0));
    assert!(
        server.log().contains("shutdown timeout reached"),
        "{}",
        server.log()
    );
}
