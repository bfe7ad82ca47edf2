//! Hostile input against the real binary: thousands of generated malformed Range and If-*
//! headers, over-long headers, garbage request lines and path traversal attempts. Never a 5xx,
//! never a crash, never a byte that is not the served file's own, at the place it claims.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{
    PATIENCE, Reply, Server, parse_multipart, parse_reply, random_bytes, random_file, send_raw,
};

const LEN: usize = 4 * 4096 + 123;

/// Checks a reply against the file: a 200 is the file, a 206 is the slices it names, anything
/// else carries no file bytes. Never a 5xx.
fn check(reply: &Reply, data: &[u8], what: &str) {
    assert!(
        reply.status < 500,
        "{what}: {} {:?}",
        reply.status,
        reply.headers
    );
    match reply.status {
        200 => assert_eq!(reply.body, data, "{what}"),
        206 => {
            let content_type = reply.header("content-type").unwrap_or_default();
            if let Some(boundary) = content_type.strip_prefix("multipart/byteranges; boundary=") {
                for (_, content_range, part) in parse_multipart(&reply.body, boundary) {
                    let (first, _) = slice_of(&content_range, data.len());
                    assert_eq!(
                        part,
                        &data[first..first + part.len()],
                        "{what}: part {content_range}"
                    );
                }
            } else {
                let (first, last) = slice_of(reply.header("content-range").unwrap(), data.len());
                assert_eq!(reply.body, &data[first..=last], "{what}");
            }
        }
        _ => assert!(
            reply.body.len() < 64,
            "{what}: {} with a {}-byte body",
            reply.status,
            reply.body.len()
        ),
    }
}

/// `bytes first-last/len` → (first, last), checking the length.
fn slice_of(content_range: &str, len: usize) -> (usize, usize) {
    let spec = content_range.strip_prefix("bytes ").unwrap();
    let (range, total) = spec.split_once('/').unwrap();
    assert_eq!(total.parse::<usize>().unwrap(), len);
    let (first, last) = range.split_once('-').unwrap();
    (first.parse().unwrap(), last.parse().unwrap())
}

/// Fragments that header values are glued from: valid pieces, near misses and junk.
const FRAGMENTS: &[&str] = &[
    "bytes=",
    "BYTES=",
    "bytes",
    "=",
    "-",
    "--",
    ",",
    ", ",
    " ",
    "\t",
    "0",
    "1",
    "00",
    "16507",
    "16506",
    "16508",
    "4096",
    "99999999999999999999999999",
    "18446744073709551615",
    "18446744073709551616",
    "-0",
    "+1",
    "0x10",
    "items=",
    "\"",
    "W/",
    "\"abc\"",
    "*",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994",
    "Mon, 32 Foo 2024 25:61:61 GMT",
    "é",
    "\u{7f}",
    ";",
    "bytes=0-0",
    "-1",
    "1-",
];

const FIELDS: &[&str] = &[
    "Range", // first: the generator picks the others by index from 1
    "If-Range",
    "If-Match",
    "If-None-Match",
    "If-Modified-Since",
    "If-Unmodified-Since",
];

#[test]
fn thousands_of_malformed_conditional_and_range_headers_never_break_it() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f.bin", LEN, 21);
    let server = Server::start(&path, &["--chunk-size", "4096"]);
    let etag = common::get(server.addr, &[])
        .header("etag")
        .unwrap()
        .to_string();
    let last_modified = common::get(server.addr, &[])
        .header("last-modified")
        .unwrap()
        .to_string();
    let noise = random_bytes(2400 * 32, 22);
    let mut statuses = std::collections::BTreeMap::new();
    for case in 0..2400 {
        let mut picks = noise[case * 32..(case + 1) * 32]
            .iter()
            .map(|&b| b as usize)
            .cycle();
        let mut pick = move || picks.next().unwrap_or(0);
        // A Range half the time, and up to two precondition fields.
        let mut names: Vec<&str> = (0..pick() % 3)
            .map(|_| FIELDS[1 + pick() % (FIELDS.len() - 1)])
            .collect();
        if pick() % 2 == 0 {
            names.push("Range");
        }
        let fields: Vec<(&str, String)> = names
            .into_iter()
            .map(|name| (name, generate_value(name, &etag, &last_modified, &mut pick)))
            .collect();
        let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let reply = common::get(server.addr, &fields);
        check(&reply, &data, &format!("case {case}: {fields:?}"));
        *statuses.entry(reply.status).or_insert(0) += 1;
    }
    println!("2400 generated requests, statuses: {statuses:?}");
    for status in [200, 206, 304, 412, 416] {
        let seen = statuses.get(&status).copied().unwrap_or(0);
        assert!(
            seen >= 5,
            "the generator should reach {status} often: {statuses:?}"
        );
    }
}

/// A value for `name`: mostly of the field's own shape (Range specs around the file's length,
/// entity-tag lists, dates), with junk fragments spliced in.
fn generate_value(
    name: &str,
    etag: &str,
    last_modified: &str,
    pick: &mut impl FnMut() -> usize,
) -> String {
    let junk = |pick: &mut dyn FnMut() -> usize| FRAGMENTS[pick() % FRAGMENTS.len()].to_string();
    let numbers = [
        "0",
        "1",
        "100",
        "4095",
        "4096",
        "16506",
        "16507",
        "16508",
        "99999999999999999999",
        "",
    ];
    match name {
        "Range" => {
            let mut value = if pick().is_multiple_of(6) {
                junk(pick)
            } else {
                "bytes=".to_string()
            };
            for i in 0..1 + pick() % 4 {
                if i > 0 {
                    value.push_str([",", ", ", " ,", ",,", ";"][pick() % 5]);
                }
                let (a, b) = (
                    numbers[pick() % numbers.len()],
                    numbers[pick() % numbers.len()],
                );
                value.push_str(&if pick().is_multiple_of(8) {
                    junk(pick)
                } else {
                    format!("{a}-{b}")
                });
            }
            value
        }
        "If-Match" | "If-None-Match" | "If-Range" => {
            let tags = [
                etag.to_string(),
                format!("W/{etag}"),
                "\"abc\"".into(),
                "*".into(),
                "\"open".into(),
            ];
            let mut value = String::new();
            for i in 0..1 + pick() % 3 {
                if i > 0 {
                    value.push_str(", ");
                }
                value.push_str(&match pick() % 7 {
                    0 => junk(pick),
                    1 if name == "If-Range" => last_modified.to_string(),
                    n => tags[n % tags.len()].clone(),
                });
            }
            value
        }
        _ => match pick() % 5 {
            0 => junk(pick),
            1 => "Sun, 06 Nov 1994 08:49:37 GMT".into(),
            2 => "Fri, 01 Jan 2100 00:00:00 GMT".into(),
            _ => last_modified.to_string(),
        },
    }
}

#[test]
fn garbage_requests_and_over_long_headers_get_4xx_or_a_close() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f.bin", LEN, 23);
    let server = Server::start(&path, &[]);
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let many_fields: String = (0..300).map(|i| format!("X-{i}: y\r\n")).collect();
    let garbage: Vec<Vec<u8>> = vec![
        b"GARBAGE\r\n\r\n".to_vec(),
        b"GET\r\n\r\n".to_vec(),
        b"GET / HTTP/9.9\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\x00\r\n\r\n".to_vec(),
        b"\x00\x01\x02\x03\xff\xfe\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n".to_vec(),
        b" GET / HTTP/1.1\r\n\r\n".to_vec(),
        long_uri.into_bytes(),
        format!("GET / HTTP/1.1\r\nHost: x\r\n{many_fields}\r\n").into_bytes(),
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\nRange: bytes={}\r\n\r\n",
            "0-0,".repeat(10_000)
        )
        .into_bytes(),
    ];
    for raw in &garbage {
        let what = String::from_utf8_lossy(&raw[..raw.len().min(60)]).to_string();
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let _ = stream.write_all(raw); // the server may close before reading it all
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out); // a reset after the reply is fine, a timeout is not
        if out.is_empty() {
            continue; // closed without a word: allowed for garbage
        }
        let reply = parse_reply(&out);
        assert!(
            (400..500).contains(&reply.status),
            "{what:?} → {}",
            reply.status
        );
        assert!(
            !out.windows(32).any(|w| data.windows(32).next() == Some(w)),
            "{what:?}: file bytes"
        );
    }
    assert_eq!(common::get(server.addr, &[]).body, data, "still serving");
}

#[test]
fn path_traversal_never_reaches_another_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f.bin", LEN, 24);
    std::fs::write(dir.path().join("secret.txt"), b"root:x:0:0:secret").unwrap();
    let server = Server::start(&path, &[]);
    let targets = [
        "/../../etc/passwd",
        "/..%2f..%2fetc%2fpasswd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "/..\\..\\etc\\passwd",
        "//etc/passwd",
        "/etc/passwd",
        "/secret.txt",
        "/../secret.txt",
        "/f.bin/../secret.txt",
        "/f.bin%00.txt",
        "/f.bin%2f..%2fsecret.txt",
        "http://x/../../etc/passwd",
        "http://x/secret.txt",
        "/%",
        "/%zz",
        "/%c0%ae%c0%ae/etc/passwd",
        "*",
    ];
    for target in targets {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let out = send_raw(server.addr, raw.as_bytes());
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("root:"), "{target}: leaked another file");
        let reply = parse_reply(&out);
        assert!(
            reply.status == 404 || reply.status == 400,
            "{target} → {}",
            reply.status
        );
    }
    // The absolute form naming the file itself is the file.
    let out = send_raw(
        server.addr,
        b"GET http://x/f.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    check(&parse_reply(&out), &data, "absolute-form");
}
