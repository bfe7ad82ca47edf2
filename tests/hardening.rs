//! Hostile, slow and many clients, and files that change under the server: it stays up, frees
//! what a client leaves behind, and never sends a byte that does not belong to the version it
//! announced. Every loop here is bounded in count, and every wait by `PATIENCE`.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{
    PATIENCE, Server, descriptors, file_handles, get, random_bytes, random_file, sha256_hex,
};

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn an_idle_keep_alive_connection_and_a_silent_one_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f.bin", 5000, 1);
    let server = Server::start(&path, &["--idle-timeout", "1"]);
    let mut kept = TcpStream::connect(server.addr).unwrap();
    kept.set_read_timeout(Some(PATIENCE)).unwrap();
    kept.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n")
        .unwrap();
    let mut silent = TcpStream::connect(server.addr).unwrap();
    silent.set_read_timeout(Some(PATIENCE)).unwrap();
    // Both end in EOF, not in the read timeout: the server closed them.
    let mut got = Vec::new();
    kept.read_to_end(&mut got)
        .expect("the idle keep-alive connection is closed");
    assert!(got.ends_with(&data[..10]), "the response came first");
    let mut nothing = Vec::new();
    silent
        .read_to_end(&mut nothing)
        .expect("the silent connection is closed");
    assert!(nothing.is_empty());
}

#[test]
fn a_client_that_stops_reading_is_disconnected_after_the_send_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "big.bin", 64 * 1024 * 1024, 2);
    let server = Server::start(&path, &["--send-timeout", "1", "--no-digest"]);
    let baseline = descriptors(server.pid());
    let (_stalled, status, _, _) = common::begin(&server, "/", None);
    assert_eq!(status, 200);
    assert_eq!(
        file_handles(server.pid(), &path),
        1,
        "the response holds the file"
    );
    assert!(descriptors(server.pid()) >= baseline + 2, "and its socket");
    // The client still holds its socket, but the server lets go of both.
    common::eventually("the stalled response still holds descriptors", || {
        descriptors(server.pid()) <= baseline
    });
    common::eventually("no log line for the stalled response", || {
        server.log().contains(" 200 sent=")
    });
}

#[test]
fn at_the_connection_limit_new_clients_wait_and_are_then_served() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "big.bin", 32 * 1024 * 1024, 3);
    let server = Server::start(&path, &["--max-connections", "2"]);
    let first = common::begin(&server, "/", None);
    let second = common::begin(&server, "/", None);
    common::eventually("the limit is logged", || {
        server
            .log()
            .contains("2 connections open (--max-connections)")
    });
    let waiting = std::thread::spawn({
        let addr = server.addr;
        move || get(addr, &[("Range", "bytes=-1000")])
    });
    drop(first);
    let reply = waiting.join().unwrap();
    assert_eq!(reply.status, 206);
    assert_eq!(reply.body, &data[data.len() - 1000..]);
    drop(second);
}

#[test]
fn an_oversized_header_is_431_and_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "f.bin", 100, 4);
    let server = Server::start(&path, &[]);
    let big = "a".repeat(64 * 1024);
    let raw = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let _ = stream.write_all(raw.as_bytes()); // the server may close before reading it all
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply); // a reset after the reply is fine
    assert!(
        reply.starts_with(b"HTTP/1.1 431"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    assert_eq!(get(server.addr, &[]).status, 200, "still serving");
}

#[test]
fn a_thousand_concurrent_range_requests_get_exactly_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let len = 3 * 1024 * 1024 + 333;
    let (path, data) = random_file(dir.path(), "f.bin", len, 5);
    let server = Server::start(&path, &["--chunk-size", "16384"]);
    let data = std::sync::Arc::new(data);
    // 50 threads × 20 connections, all opened and sent before any is read: 1000 at once.
    let threads: Vec<_> = (0..50u64)
        .map(|t| {
            let (addr, data) = (server.addr, std::sync::Arc::clone(&data));
            std::thread::spawn(move || {
                let ranges: Vec<(usize, usize)> = (0..20u64)
                    .map(|i| {
                        let seed = random_bytes(16, t * 1000 + i + 1);
                        let a = u64::from_le_bytes(seed[..8].try_into().unwrap()) as usize % len;
                        let b = a + u64::from_le_bytes(seed[8..].try_into().unwrap()) as usize % 200_000;
                        (a, b.min(len - 1))
                    })
                    .collect();
                let mut streams: Vec<TcpStream> = ranges
                    .iter()
                    .map(|(a, b)| {
                        let mut s = TcpStream::connect(addr).unwrap();
                        s.set_read_timeout(Some(PATIENCE)).unwrap();
                        write!(s, "GET / HTTP/1.1\r\nHost: x\r\nRange: bytes={a}-{b}\r\nConnection: close\r\n\r\n").unwrap();
                        s
                    })
                    .collect();
                for (stream, (a, b)) in streams.iter_mut().zip(&ranges) {
                    let mut raw = Vec::new();
                    stream.read_to_end(&mut raw).unwrap();
                    let reply = common::parse_reply(&raw);
                    assert_eq!(reply.status, 206);
                    reply.assert_exact_length();
                    assert_eq!(sha256_hex(&reply.body), sha256_hex(&data[*a..=*b]), "bytes {a}-{b}");
                }
                ranges.len()
            })
        })
        .collect();
    let verified: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(verified, 1000);
    println!("1000 concurrent range requests verified");
}

#[test]
fn three_hundred_stalled_full_file_readers_hold_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "big.bin", 32 * 1024 * 1024, 6);
    let server = Server::start(&path, &["--no-digest"]);
    let pid = server.pid();
    let baseline_fds = descriptors(pid);
    let stalled: Vec<_> = (0..300)
        .map(|_| common::begin(&server, "/", None))
        .collect();
    assert!(
        stalled
            .iter()
            .all(|(_, status, len, _)| *status == 200 && *len == 32 * 1024 * 1024)
    );
    // A round trip on a fresh connection: the runtime has moved every connection along.
    assert_eq!(get(server.addr, &[("Range", "bytes=0-0")]).status, 206);
    let peak_kib = status_kib(pid, "VmHWM:");
    println!("peak RSS with 300 stalled readers: {} KiB", peak_kib);
    assert!(
        peak_kib < 40 * 1024,
        "peak RSS {peak_kib} KiB: responses are being buffered"
    );
    // Issue 14: responses to an unchanged file share one kept handle instead of one open each.
    let handles = file_handles(pid, &path);
    assert!(
        (1..=300).contains(&handles),
        "the stalled readers hold the file ({handles} handles)"
    );
    println!(
        "descriptors: {baseline_fds} at rest, {} with 300 stalled readers",
        descriptors(pid)
    );
    drop(stalled);
    common::eventually("descriptors return to the baseline", || {
        descriptors(pid) <= baseline_fds
    });
}

#[test]
fn five_hundred_downloads_reset_mid_body_leave_no_descriptor_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "big.bin", 16 * 1024 * 1024, 7);
    let server = Server::start(&path, &["--no-digest"]);
    let baseline = descriptors(server.pid());
    for _batch in 0..10 {
        let streams: Vec<_> = (0..50)
            .map(|_| common::begin(&server, "/", None).0)
            .collect();
        for stream in streams {
            socket2::SockRef::from(&stream)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(stream); // SO_LINGER 0: close sends a TCP reset
        }
    }
    common::eventually(
        "descriptors return to the baseline after 500 resets",
        || descriptors(server.pid()) <= baseline,
    );
    println!(
        "descriptors after 500 resets: {} (baseline {baseline})",
        descriptors(server.pid())
    );
    assert_eq!(
        get(server.addr, &[("Range", "bytes=0-9")]).status,
        206,
        "still serving"
    );
}

/// Issue 13 changed this: the server cannot tell an append from an in-place rewrite (both move
/// the mtime), so a file that changes under a response cuts it rather than risk a byte of
/// another version; every byte sent is still the announced version's.
#[test]
fn an_append_during_a_response_cuts_it_and_never_sends_another_version() {
    let dir = tempfile::tempdir().unwrap();
    let len = 32 * 1024 * 1024;
    let (path, data) = random_file(dir.path(), "grow.bin", len, 8);
    let server = Server::start(&path, &[]);
    let (mut stream, _, promised, mut body) = common::begin(&server, "/", None);
    assert_eq!(promised, len as u64);
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&random_bytes(1 << 20, 9))
        .unwrap();
    if let Err(err) = stream.read_to_end(&mut body) {
        println!("the cut was a reset: {err}");
    }
    assert!(
        body.len() < len,
        "cut before the end ({} of {len})",
        body.len()
    );
    assert_eq!(
        sha256_hex(&body),
        sha256_hex(&data[..body.len()]),
        "only the announced version's bytes"
    );
    common::eventually("the cut is logged", || {
        server
            .log()
            .contains("failed: the file changed while it was sent")
    });
    assert_eq!(
        get(server.addr, &[]).body.len(),
        len + (1 << 20),
        "the next request sees the new length"
    );
}

#[test]
fn a_replacement_by_rename_keeps_the_in_flight_response_on_the_old_version() {
    let dir = tempfile::tempdir().unwrap();
    let len = 32 * 1024 * 1024;
    let (path, old) = random_file(dir.path(), "v.bin", len, 10);
    let server = Server::start(&path, &[]);
    let (mut stream, _, _, mut body) = common::begin(&server, "/", None);
    let old_etag = get(server.addr, &[("Range", "bytes=0-0")])
        .header("etag")
        .unwrap()
        .to_string();
    let (new_path, new) = random_file(dir.path(), "v.new", len / 2, 11);
    fs::rename(&new_path, &path).unwrap();
    stream.read_to_end(&mut body).unwrap();
    assert_eq!(
        sha256_hex(&body),
        sha256_hex(&old),
        "the in-flight response is the old version whole"
    );
    let reply = get(
        server.addr,
        &[("If-Range", &old_etag), ("Range", "bytes=100-")],
    );
    assert_eq!(
        reply.status, 200,
        "an old If-Range gets the new version whole"
    );
    assert_eq!(sha256_hex(&reply.body), sha256_hex(&new));
}

#[test]
fn a_deleted_file_finishes_in_flight_and_is_404_next() {
    let dir = tempfile::tempdir().unwrap();
    let len = 32 * 1024 * 1024;
    let (path, data) = random_file(dir.path(), "gone.bin", len, 12);
    let server = Server::start(&path, &[]);
    let (mut stream, _, _, mut body) = common::begin(&server, "/gone.bin", None);
    fs::remove_file(&path).unwrap();
    stream.read_to_end(&mut body).unwrap();
    assert_eq!(sha256_hex(&body), sha256_hex(&data));
    assert_eq!(get(server.addr, &[]).status, 404);
    // And it comes back when the file does.
    fs::write(&path, b"back").unwrap();
    assert_eq!(get(server.addr, &[]).body, b"back");
}

#[test]
fn a_file_unreadable_at_request_time_is_403_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let (path, _) = random_file(dir.path(), "secret.bin", 100, 13);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    // Root reads anything, so the server runs as nobody when we are root.
    let mut cmd = common::rangeserve_unprivileged();
    cmd.arg("--file")
        .arg(&path)
        .args(["--bind", "127.0.0.1", "--port", "0"]);
    let server = Server::spawn(cmd);
    assert_eq!(get(server.addr, &[]).status, 200);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
    let reply = get(server.addr, &[]);
    assert_eq!(reply.status, 403);
    assert!(!reply.body.is_empty() && reply.body.len() < 100);
    common::eventually("the 403 is logged with its reason", || {
        server.log().contains("permission denied")
    });
}

#[test]
fn sigterm_during_twenty_downloads_lets_them_finish_then_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let len = 8 * 1024 * 1024;
    let (path, data) = random_file(dir.path(), "drain.bin", len, 14);
    let mut server = Server::start(&path, &[]);
    let mut downloads: Vec<_> = (0..20)
        .map(|i| common::begin(&server, "/", (i % 2 == 0).then_some("bytes=1000-")))
        .collect();
    server.signal("TERM");
    for (stream, status, promised, body) in downloads.iter_mut() {
        stream.read_to_end(body).unwrap();
        let want = if *status == 206 {
            &data[1000..]
        } else {
            &data[..]
        };
        assert_eq!(*promised as usize, want.len());
        assert_eq!(sha256_hex(body), sha256_hex(want));
    }
    assert_eq!(
        server
            .wait_exit(PATIENCE)
            .expect("exits after draining")
            .code(),
        Some(0)
    );
}
