//! Bounds a client drives the server to (issue "Bounded under load"): each test pushes one
//! resource to its limit and shows the server still serving the others.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{PATIENCE, Server, connect_from, parse_reply, random_file};

/// Sends a keep-alive GET on `stream` and reads one response (header block and
/// `Content-Length` bytes); returns the status and the header block.
fn exchange(stream: &mut TcpStream, path: &str) -> (u16, String) {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).unwrap();
        assert!(n > 0, "closed before the header block ended");
        buf.push(byte[0]);
    }
    let reply = parse_reply(&buf);
    let mut body = vec![0u8; reply.content_length().unwrap_or(0) as usize];
    stream.read_exact(&mut body).unwrap();
    (reply.status, String::from_utf8_lossy(&buf).to_string())
}

/// Whether the server closes `stream` (reads EOF) within `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).is_ok()
}

/// A server of one file `/a.txt` with `--max-connections-per-client 1` (and `extra`), and the
/// keep-alive connection from 127.0.0.1 that holds that address's one slot, served once.
fn one_slot_held(extra: &[&str]) -> (tempfile::TempDir, Server, TcpStream) {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "a.txt", 1000, 1);
    let args = [&["--max-connections-per-client", "1"][..], extra].concat();
    let server = Server::start(&path, &args);
    let mut held = connect_from([127, 0, 0, 1].into(), server.addr);
    assert_eq!(exchange(&mut held, "/a.txt").0, 200);
    (dir, server, held)
}

#[test]
fn one_address_never_holds_more_than_its_slots_and_another_is_served() {
    // The first address's one slot, held by a keep-alive connection that has been served.
    let (_dir, server, mut held) = one_slot_held(&["--max-connections", "2"]);
    let one: IpAddr = "127.0.0.1".parse().unwrap();

    // A second connection from it: 503, Retry-After, Connection: close, and closed at once.
    let mut over = connect_from(one, server.addr);
    let (status, head) = exchange(&mut over, "/a.txt");
    assert_eq!(status, 503, "{head}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("retry-after: 5\r\n"), "{head}");
    assert!(head.contains("connection: close\r\n"), "{head}");
    assert!(
        closed_within(&mut over, Duration::from_secs(5)),
        "the refused connection stays open"
    );

    // The first address hammers with new keep-alive connections (bounded in count and time)...
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicUsize::new(0));
    let hammer = {
        let (stop, refused, addr) = (Arc::clone(&stop), Arc::clone(&refused), server.addr);
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            for _ in 0..2000 {
                if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                    break;
                }
                let mut stream = connect_from(one, addr);
                if exchange(&mut stream, "/a.txt").0 == 503 {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
                assert!(closed_within(&mut stream, Duration::from_secs(5)));
            }
        })
    };
    common::eventually("the hammer has been refused", || {
        refused.load(Ordering::Relaxed) >= 5
    });
    // ... while the second address is served, promptly, on the second slot.
    // A fresh address each time (the server may not have seen the last one's close yet).
    for n in 2..5u8 {
        let started = Instant::now();
        let mut other = connect_from(IpAddr::from([127, 0, 0, n]), server.addr);
        assert_eq!(exchange(&mut other, "/a.txt").0, 200);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(3),
            "the second address waited {took:?}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    hammer.join().unwrap();
    // The held connection was never disturbed.
    assert_eq!(exchange(&mut held, "/a.txt").0, 200);
}

/// An h2c connection past the limit: its request gets 503 (no connection-specific field, as
/// HTTP/2 forbids them), and the server then ends the connection (GOAWAY).
#[test]
fn an_http2_connection_past_the_limit_is_answered_then_closed() {
    use http_body_util::Empty;
    use hyper::body::Bytes;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let (_dir, server, mut held) = one_slot_held(&[]);

    let reply = common::h2::request(server.addr, "GET", "/a.txt", &[]);
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("5"));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .expect("an HTTP/2 handshake");
        let connection = tokio::spawn(connection);
        let request = hyper::Request::builder()
            .uri(format!("http://{}/a.txt", server.addr))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.expect("a response");
        assert_eq!(response.status(), 503);
        drop(response);
        // The server ends the connection by itself (the client keeps its side open).
        let ended = tokio::time::timeout(Duration::from_secs(10), connection).await;
        assert!(ended.is_ok(), "the refused HTTP/2 connection stays open");
    });
    assert_eq!(exchange(&mut held, "/a.txt").0, 200);
}

/// Under `prlimit --nofile=256`, a folder of 2,000 files and a 1,500-member archive pulled by
/// 64 clients at once: every answer is 200 (with the right bytes) or 503 with `Retry-After`,
/// never another 5xx, no archive download is cut, and the server serves afterwards. A kept
/// handle of a file unlinked meanwhile is closed within a couple of seconds, though connections
/// stay open.
#[test]
fn a_descriptor_limit_gives_503_never_500_and_unlinked_files_are_let_go() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("share");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let mut files = Vec::new();
    for i in 0..500 {
        files.push((
            format!("/f{i}"),
            random_file(&root, &format!("f{i}"), 512, i).1,
        ));
    }
    for i in 0..1500 {
        let name = format!("m{i}");
        files.push((
            format!("/sub/{name}"),
            random_file(&root.join("sub"), &name, 256, 10_000 + i).1,
        ));
    }
    let files = Arc::new(files);
    let mut cmd = std::process::Command::new("prlimit");
    cmd.args(["--nofile=256", "--", common::BIN, "--dir"])
        .arg(&root)
        .args(["--bind", "127.0.0.1", "--port", "0", "--no-digest"]);
    let server = Server::spawn(cmd);
    let addr = server.addr;
    let tar_len = {
        let head = common::request(addr, "HEAD", "/sub/sub.tar", &[]);
        assert_eq!(head.status, 200);
        head.content_length().unwrap()
    };

    let statuses = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
    let clients: Vec<_> = (0..64)
        .map(|client| {
            let (files, statuses) = (Arc::clone(&files), Arc::clone(&statuses));
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(60);
                for round in 0..30 {
                    if Instant::now() > deadline {
                        break;
                    }
                    let (path, status) = if client % 16 == 0 && round % 10 == 0 {
                        // An archive download, whole or refused, never cut.
                        let reply = common::request(addr, "GET", "/sub/sub.tar", &[]);
                        if reply.status == 200 {
                            reply.assert_exact_length();
                            assert_eq!(reply.body.len() as u64, tar_len);
                        }
                        ("/sub/sub.tar".to_string(), reply.status)
                    } else {
                        let (path, data) = &files[(client * 31 + round * 7) % files.len()];
                        let reply = common::request(addr, "GET", path, &[]);
                        if reply.status == 200 {
                            assert_eq!(&reply.body, data, "{path}");
                        }
                        if reply.status == 503 {
                            assert!(reply.header("retry-after").is_some(), "{path}");
                        }
                        (path.clone(), reply.status)
                    };
                    *statuses.lock().unwrap().entry(status).or_insert(0) += 1;
                    assert!(status == 200 || status == 503, "{path}: {status}");
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let statuses = statuses.lock().unwrap().clone();
    assert!(statuses.get(&200).copied().unwrap_or(0) > 0, "{statuses:?}");

    // Afterwards: served as ever.
    let (_, data) = &files[3];
    assert_eq!(&common::request(addr, "GET", "/f3", &[]).body, data);

    // A file served on a kept-alive connection is unlinked: its handle goes within seconds.
    let mut kept = TcpStream::connect(addr).unwrap();
    assert_eq!(exchange(&mut kept, "/f7").0, 200);
    std::fs::remove_file(root.join("f7")).unwrap();
    let pid = server.pid();
    common::eventually("the unlinked file's handle is closed", || {
        !common::descriptor_targets(pid)
            .iter()
            .any(|t| t.ends_with("(deleted)"))
    });
    assert_eq!(exchange(&mut kept, "/f8").0, 200);
    assert!(
        !server.log().contains("accept failed"),
        "the accept loop failed:\n{}",
        server.log()
    );
}

/// A file rewritten 100 times (each version hashed and stored), then a restart: the store keeps
/// one line for it, the current version's, whose digest is known at once.
#[test]
fn the_digest_store_keeps_one_version_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("share");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&root).unwrap();
    let file = root.join("notes.txt");
    let start = || {
        Server::start_dir(
            &root,
            &["--state-dir", state.to_str().unwrap(), "--no-progress"],
        )
    };
    let mut server = start();
    let mut data = Vec::new();
    for round in 0..100u32 {
        data = format!("version {round}\n")
            .repeat(1 + round as usize)
            .into_bytes();
        std::fs::write(&file, &data).unwrap();
        let want = common::sha256_hex(&data);
        common::eventually("the sidecar of the new version", || {
            let reply = server.get("/notes.txt.sha256", &[]);
            reply.status == 200 && reply.body.starts_with(want.as_bytes())
        });
    }
    server.signal("TERM");
    assert!(server.wait_exit(PATIENCE).is_some());
    let server = start();
    let store = std::fs::read_to_string(state.join("digests-v1")).unwrap();
    assert_eq!(store.lines().count(), 1, "{store}");
    // Known at once: the first answer is the digest, no 503 while hashing.
    let reply = server.get("/notes.txt.sha256", &[]);
    assert_eq!(reply.status, 200);
    assert!(reply.body.starts_with(common::sha256_hex(&data).as_bytes()));
}

/// The server's resident memory in KiB (`VmRSS`).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn head(server: &Server, path: &str) -> (String, u64) {
    let reply = common::request(server.addr, "HEAD", path, &[]);
    assert_eq!(reply.status, 200, "{path}");
    (
        reply.header("etag").unwrap().to_string(),
        reply.content_length().unwrap(),
    )
}

/// A change to a folder shows in its archive's ETag and length one second later: a member
/// added, removed, rewritten. The whole archive then comes exact, never cut.
#[test]
fn an_archive_is_never_more_than_a_second_behind_its_tree() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    random_file(&sub, "a.txt", 1000, 1);
    random_file(&sub, "b.txt", 2000, 2);
    let server = Server::start_dir(dir.path(), &["--no-digest"]);
    let whole = |want: &(String, u64)| {
        let reply = server.get("/sub/sub.tar", &[]);
        assert_eq!(reply.status, 200);
        reply.assert_exact_length();
        assert_eq!(reply.header("etag"), Some(want.0.as_str()));
        assert_eq!(reply.body.len() as u64, want.1);
    };
    let first = head(&server, "/sub/sub.tar");
    whole(&first);
    // The bound is the point here, not readiness: one second after a change, the archive has it.
    let past_the_bound = || std::thread::sleep(Duration::from_millis(1100));

    random_file(&sub, "c.txt", 3000, 3);
    past_the_bound();
    let added = head(&server, "/sub/sub.tar");
    assert_ne!(added.0, first.0);
    assert!(added.1 > first.1);
    whole(&added);

    std::fs::remove_file(sub.join("c.txt")).unwrap();
    past_the_bound();
    let removed = head(&server, "/sub/sub.tar");
    assert_ne!(removed.0, added.0);
    assert_eq!(removed.1, first.1);
    whole(&removed);

    random_file(&sub, "b.txt", 2500, 4);
    past_the_bound();
    let rewritten = head(&server, "/sub/sub.tar");
    assert_ne!(rewritten.0, removed.0);
    assert_eq!(rewritten.1, first.1 + 512);
    whole(&rewritten);
}

/// 20 requests at once for a cold archive share one walk.
#[test]
fn concurrent_requests_for_a_cold_archive_share_one_walk() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    for i in 0..2000 {
        std::fs::write(sub.join(format!("f{i}")), b"x").unwrap();
    }
    let mut cmd = std::process::Command::new(common::BIN);
    cmd.arg("--dir")
        .arg(dir.path())
        .args(["--bind", "127.0.0.1", "--port", "0", "--no-digest"])
        .env("RUST_LOG", "info,rangeserve::tree::archives=debug");
    let server = Server::spawn(cmd);
    let addr = server.addr;
    let heads: Vec<_> = (0..20)
        .map(|_| std::thread::spawn(move || common::request(addr, "HEAD", "/sub/sub.tar", &[])))
        .collect();
    let etags: std::collections::HashSet<String> = heads
        .into_iter()
        .map(|h| {
            let reply = h.join().unwrap();
            assert_eq!(reply.status, 200);
            reply.header("etag").unwrap().to_string()
        })
        .collect();
    assert_eq!(etags.len(), 1);
    let walks = server.log().matches("walked 2001 members").count();
    assert_eq!(walks, 1, "{}", server.log());
}

/// GETs of a 30,000-member archive that read nothing hold a position in the cached layout, not
/// a copy of it: 20 of them add little to the server's memory.
#[test]
fn stalled_archive_downloads_hold_no_copy_of_the_layout() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    for i in 0..30_000 {
        std::fs::write(sub.join(format!("member-{i:05}")), b"x").unwrap();
    }
    let server = Server::start_dir(dir.path(), &["--no-digest", "--no-progress"]);
    head(&server, "/sub/sub.tar");
    // Once more, fresh, so the cached version is the one the GETs use.
    head(&server, "/sub/sub.tar");
    let before = rss_kib(server.pid());
    let stalled: Vec<(TcpStream, u16, u64, Vec<u8>)> = (0..20)
        .map(|_| common::begin(&server, "/sub/sub.tar", None))
        .collect();
    for (_, status, _, _) in &stalled {
        assert_eq!(*status, 200);
    }
    let grown = rss_kib(server.pid()).saturating_sub(before);
    // A copy of the piece list was about 4.3 MB per response (86 MB for 20).
    assert!(
        grown < 25 * 1024,
        "20 stalled downloads grew RSS by {grown} KiB"
    );
    drop(stalled);
}

/// One HTTP/2 frame: length, type, flags, stream, payload (RFC 9113 §4.1).
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut frame = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// An HPACK literal without indexing, its name from the static table (RFC 7541 §6.2.2).
fn hpack_literal(name_index: u8, value: &str) -> Vec<u8> {
    assert!(name_index < 16 && value.len() < 127);
    let mut out = vec![name_index, value.len() as u8];
    out.extend_from_slice(value.as_bytes());
    out
}

/// 100 HTTP/2 streams on one connection whose client grants a 2^31-1 window and then reads
/// nothing: what the server buffers for them is bounded per connection (about 2 MiB), not
/// 256 KiB per stream.
#[test]
fn stalled_http2_streams_hold_a_bounded_buffer_per_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "big.bin", 4 << 20, 5);
    let server = Server::start(&path, &["--no-digest", "--no-progress"]);
    let pid = server.pid();
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    // SETTINGS_INITIAL_WINDOW_SIZE = 2^31-1, and the connection window raised to match.
    hello.extend(h2_frame(0x4, 0, 0, &[0, 4, 0x7f, 0xff, 0xff, 0xff]));
    hello.extend(h2_frame(
        0x8,
        0,
        0,
        &(0x7fff_ffffu32 - 65_535).to_be_bytes(),
    ));
    stream.write_all(&hello).unwrap();
    // The server's SETTINGS, then our ACK of it.
    let mut header = [0u8; 9];
    stream.read_exact(&mut header).unwrap();
    assert_eq!(header[3], 0x4, "the server opens with SETTINGS");
    let len =
        (usize::from(header[0]) << 16) | (usize::from(header[1]) << 8) | usize::from(header[2]);
    let mut settings = vec![0u8; len];
    stream.read_exact(&mut settings).unwrap();
    stream.write_all(&h2_frame(0x4, 0x1, 0, &[])).unwrap();
    let before = rss_kib(pid);

    let authority = server.addr.to_string();
    let mut requests = Vec::new();
    for n in 0..100u32 {
        let mut block = vec![0x82, 0x86]; // :method GET, :scheme http
        block.extend(hpack_literal(4, "/big.bin"));
        block.extend(hpack_literal(1, &authority));
        requests.extend(h2_frame(0x1, 0x5, 2 * n + 1, &block));
    }
    stream.write_all(&requests).unwrap();
    // Nothing more is read: wait until the server's memory stops growing (bounded).
    let mut last = rss_kib(pid);
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(250));
        let now = rss_kib(pid);
        if now.abs_diff(last) < 64 {
            break;
        }
        last = now;
    }
    let grown = rss_kib(pid).saturating_sub(before);
    // 256 KiB per stream held 28 MiB at 100 streams.
    assert!(
        grown < 10 * 1024,
        "100 stalled streams grew RSS by {grown} KiB"
    );
    assert!(server.get("/big.bin", &[("Range", "bytes=0-9")]).status == 206);
}

/// Connections past the per-client limit that send nothing (or only HTTP/2 PINGs) hold none of
/// the `--max-connections` slots: another address is served at once, though the timeouts that
/// would close them are long.
#[test]
fn silent_connections_past_the_limit_hold_no_slot() {
    let long = ["--idle-timeout", "60", "--header-timeout", "60"];
    let (_dir, server, mut held) =
        one_slot_held(&[&["--max-connections", "3"][..], &long].concat());
    let one: IpAddr = "127.0.0.1".parse().unwrap();
    // Two silent connections and one h2c connection that only pings.
    let silent: Vec<TcpStream> = (0..2).map(|_| connect_from(one, server.addr)).collect();
    let mut pinging = connect_from(one, server.addr);
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend(h2_frame(0x4, 0, 0, &[]));
    hello.extend(h2_frame(0x6, 0, 0, &[0; 8]));
    pinging.write_all(&hello).unwrap();
    // A fresh address each time (the server may not have seen the last one's close yet).
    for n in 2..5u8 {
        let started = Instant::now();
        let mut other = connect_from(IpAddr::from([127, 0, 0, n]), server.addr);
        assert_eq!(exchange(&mut other, "/a.txt").0, 200);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "the second address waited {took:?}"
        );
        let _ = pinging.write_all(&h2_frame(0x6, 0, 0, &[1; 8]));
    }
    drop(silent);
    assert_eq!(exchange(&mut held, "/a.txt").0, 200);
}

/// A listing is rendered as it is sent, from its sorted entries: 10 GETs of a 20,000-entry
/// listing that read nothing hold one copy of the entries between them, not 10 rendered pages.
#[test]
fn stalled_listing_downloads_share_the_entries_not_pages() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    std::fs::create_dir(&big).unwrap();
    for i in 0..20_000 {
        std::fs::write(
            big.join(format!("a-rather-long-file-name-{i:05}.bin")),
            b"x",
        )
        .unwrap();
    }
    let server = Server::start_dir(dir.path(), &["--no-digest", "--no-progress"]);
    let whole = server.get("/big/", &[]);
    assert_eq!(whole.status, 200);
    whole.assert_exact_length();
    assert!(whole.body.len() > 4_000_000, "{} bytes", whole.body.len());
    // A range of it is the same bytes as the whole page's.
    let part = server.get("/big/", &[("Range", "bytes=3000000-3000999")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, whole.body[3_000_000..3_001_000]);
    let before = rss_kib(server.pid());
    let stalled: Vec<(TcpStream, u16, u64, Vec<u8>)> = (0..10)
        .map(|_| common::begin(&server, "/big/", None))
        .collect();
    for (_, status, len, _) in &stalled {
        // (Host: x here: the page's commands name another origin, so another length.)
        assert!(*status == 200 && *len > 4_000_000, "{status} {len}");
    }
    let grown = rss_kib(server.pid()).saturating_sub(before);
    // Ten rendered pages would be 10 × 5 MB.
    assert!(
        grown < 25 * 1024,
        "10 stalled listings grew RSS by {grown} KiB"
    );
    drop(stalled);
}

/// Requests that wait for a listing's turn (or take long to answer) are not idle: with a 1 s
/// idle timeout, 12 parallel listings of a 20,000-entry folder (4 read at a time) all get their
/// whole page.
#[test]
fn a_request_waiting_for_its_turn_is_not_idle() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    std::fs::create_dir(&big).unwrap();
    for i in 0..20_000 {
        std::fs::write(big.join(format!("entry-{i:05}")), b"").unwrap();
    }
    let server = Server::start_dir(
        dir.path(),
        &["--no-digest", "--no-progress", "--idle-timeout", "1"],
    );
    let addr = server.addr;
    let listings: Vec<_> = (0..12)
        .map(|i| {
            std::thread::spawn(move || {
                let path = if i % 2 == 0 {
                    "/big/"
                } else {
                    "/big/?format=json"
                };
                common::request(addr, "GET", path, &[])
            })
        })
        .collect();
    for listing in listings {
        let reply = listing.join().unwrap();
        assert_eq!(reply.status, 200);
        reply.assert_exact_length();
    }
}

/// The answers past the per-client limit have 64 slots of their own: with them all taken by
/// silent connections, one more is closed at once without an answer, and another address (and
/// the held connection) are served as ever.
#[test]
fn the_busy_slots_are_bounded_too() {
    let long = ["--idle-timeout", "60", "--header-timeout", "60"];
    let (_dir, server, mut held) = one_slot_held(&long);
    let one: IpAddr = "127.0.0.1".parse().unwrap();
    let silent: Vec<TcpStream> = (0..64).map(|_| connect_from(one, server.addr)).collect();
    // The 65th is closed (no busy slot left) though it would be answered 503 otherwise.
    common::eventually("a connection past the busy slots is closed at once", || {
        let mut extra = connect_from(one, server.addr);
        write!(extra, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut got = Vec::new();
        extra
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        extra.read_to_end(&mut got).is_ok() && got.is_empty()
    });
    let mut other = connect_from([127, 0, 0, 2].into(), server.addr);
    assert_eq!(exchange(&mut other, "/a.txt").0, 200);
    assert_eq!(exchange(&mut held, "/a.txt").0, 200);
    drop(silent);
}
