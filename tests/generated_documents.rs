//! Documents the server generates (a sidecar, `SHA256SUMS`, a listing in HTML and JSON) are
//! served like files: a strong ETag that is a digest of the bytes, 304 on revalidation, byte
//! ranges (one, and several as multipart), `If-Range`, HEAD with the GET's length, and a new
//! ETag when the tree changes.

mod common;

use std::fs;

use common::{Reply, Server, eventually, parse_multipart, random_file, request, sha256_hex};

/// A folder with two files, served, and every digest known.
fn ready_server() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    random_file(dir.path(), "a.bin", 40_000, 1);
    random_file(dir.path(), "b.txt", 3_000, 2);
    let server = Server::start_dir(dir.path(), &[]);
    eventually("SHA256SUMS ready", || {
        server.get("/SHA256SUMS", &[]).status == 200
    });
    (dir, server)
}

/// The whole document, checked: 200, exact length, a strong ETag, `Accept-Ranges`.
fn whole(server: &Server, path: &str, fields: &[(&str, &str)]) -> (Reply, String) {
    let reply = server.get(path, fields);
    assert_eq!(reply.status, 200, "{path}");
    reply.assert_exact_length();
    assert_eq!(reply.header("accept-ranges"), Some("bytes"), "{path}");
    assert_eq!(reply.header("cache-control"), Some("no-cache"), "{path}");
    let etag = reply.header("etag").expect("an ETag").to_string();
    assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
    (reply, etag)
}

fn check_like_a_file(server: &Server, path: &str, fields: &[(&str, &str)]) {
    let (full, etag) = whole(server, path, fields);
    let body = &full.body;
    assert!(body.len() > 20, "{path}: {} bytes", body.len());
    // The same bytes give the same tag.
    assert_eq!(whole(server, path, fields).1, etag, "{path}");

    // Revalidation: 304 with the tag, no body.
    let mut with = fields.to_vec();
    with.push(("If-None-Match", &etag));
    let not_modified = server.get(path, &with);
    assert_eq!(not_modified.status, 304, "{path}");
    assert_eq!(not_modified.header("etag"), Some(etag.as_str()));
    assert!(not_modified.body.is_empty());
    // A tag it never had: the whole document.
    let mut other = fields.to_vec();
    other.push(("If-None-Match", "\"other\""));
    assert_eq!(server.get(path, &other).status, 200);
    // If-Match with another tag: 412.
    let mut wrong = fields.to_vec();
    wrong.push(("If-Match", "\"other\""));
    assert_eq!(server.get(path, &wrong).status, 412, "{path}");

    let validated = fields.to_vec();
    // One range.
    let mut ranged = validated.clone();
    ranged.push(("Range", "bytes=5-14"));
    let part = server.get(path, &ranged);
    assert_eq!(part.status, 206, "{path}");
    part.assert_exact_length();
    assert_eq!(part.body, body[5..15]);
    let content_range = format!("bytes 5-14/{}", body.len());
    assert_eq!(part.header("content-range"), Some(content_range.as_str()));
    assert_eq!(part.header("etag"), Some(etag.as_str()));

    // A resume with If-Range: the current tag gets the range, a stale one the whole document.
    let tail = format!("bytes={}-", body.len() - 7);
    let mut resume = fields.to_vec();
    resume.extend([("Range", tail.as_str()), ("If-Range", etag.as_str())]);
    let resumed = server.get(path, &resume);
    assert_eq!(resumed.status, 206);
    assert_eq!(resumed.body, body[body.len() - 7..]);
    let mut stale = fields.to_vec();
    stale.extend([("Range", tail.as_str()), ("If-Range", "\"stale\"")]);
    let restarted = server.get(path, &stale);
    assert_eq!(restarted.status, 200);
    assert_eq!(sha256_hex(&restarted.body), sha256_hex(body));

    // Two ranges: multipart/byteranges with each part's bytes.
    let mut two = validated.clone();
    two.push(("Range", "bytes=0-3,10-12"));
    let multi = server.get(path, &two);
    assert_eq!(multi.status, 206);
    multi.assert_exact_length();
    let content_type = multi.header("content-type").unwrap().to_string();
    let boundary = content_type.split("boundary=").nth(1).expect("a boundary");
    let parts = parse_multipart(&multi.body, boundary);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].2, body[0..4]);
    assert_eq!(parts[1].2, body[10..13]);

    // Past the end: 416 with the length.
    let mut past = validated.clone();
    let beyond = format!("bytes={}-", body.len());
    past.push(("Range", beyond.as_str()));
    let unsatisfiable = server.get(path, &past);
    assert_eq!(unsatisfiable.status, 416);
    let star = format!("bytes */{}", body.len());
    assert_eq!(unsatisfiable.header("content-range"), Some(star.as_str()));

    // HEAD: the GET's fields, no body.
    let head = request(server.addr, "HEAD", path, fields);
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), Some(body.len() as u64));
    assert_eq!(head.header("etag"), Some(etag.as_str()));
    assert!(head.body.is_empty());
}

#[test]
fn a_sidecar_revalidates_and_serves_ranges() {
    let (_dir, server) = ready_server();
    check_like_a_file(&server, "/a.bin.sha256", &[]);
}

#[test]
fn a_manifest_revalidates_and_serves_ranges() {
    let (_dir, server) = ready_server();
    check_like_a_file(&server, "/SHA256SUMS", &[]);
}

#[test]
fn listings_revalidate_and_serve_ranges_in_both_forms() {
    let (_dir, server) = ready_server();
    check_like_a_file(&server, "/", &[]);
    check_like_a_file(&server, "/", &[("Accept", "application/json")]);
    let (html, html_tag) = whole(&server, "/", &[]);
    let (json, json_tag) = whole(&server, "/?format=json", &[]);
    assert_ne!(html_tag, json_tag, "two forms, two tags");
    assert_eq!(html.header("vary"), Some("Accept"));
    // Every answer about a listing varies by Accept, a 412 and a 416 too.
    let refused = server.get("/", &[("If-Match", "\"other\"")]);
    assert_eq!(
        (refused.status, refused.header("vary")),
        (412, Some("Accept"))
    );
    let beyond = server.get("/", &[("Range", "bytes=999999-")]);
    assert_eq!(
        (beyond.status, beyond.header("vary")),
        (416, Some("Accept"))
    );
    assert_eq!(json.header("content-type"), Some("application/json"));
}

#[test]
fn a_changed_tree_changes_the_tags() {
    let (dir, server) = ready_server();
    let (_, listing_before) = whole(&server, "/", &[]);
    let (_, sums_before) = whole(&server, "/SHA256SUMS", &[]);
    fs::write(dir.path().join("c.txt"), b"a new file\n").unwrap();
    let (_, listing_after) = whole(&server, "/", &[]);
    assert_ne!(listing_before, listing_after);
    // The manifest is 503 while c.txt is hashed, then has a line more and a new tag.
    eventually("SHA256SUMS with c.txt", || {
        let reply = server.get("/SHA256SUMS", &[]);
        reply.status == 200 && String::from_utf8_lossy(&reply.body).contains("c.txt")
    });
    let (_, sums_after) = whole(&server, "/SHA256SUMS", &[]);
    assert_ne!(sums_before, sums_after);
    // A client holding the old tag gets the new document, not a 304.
    let reply = server.get("/SHA256SUMS", &[("If-None-Match", &sums_before)]);
    assert_eq!(reply.status, 200);
}

/// A 304 says what the 200 would have said of caching (RFC 9110 §15.4.5): a file's
/// `--cache-control`, as a generated document's `no-cache`.
#[test]
fn a_304_carries_the_cache_control_of_its_200() {
    let dir = tempfile::tempdir().unwrap();
    random_file(dir.path(), "a.bin", 5000, 9);
    let server = Server::start_dir(dir.path(), &["--cache-control", "public, max-age=60"]);
    let full = server.get("/a.bin", &[]);
    assert_eq!(full.header("cache-control"), Some("public, max-age=60"));
    let etag = full.header("etag").unwrap().to_string();
    let not_modified = server.get("/a.bin", &[("If-None-Match", &etag)]);
    assert_eq!(not_modified.status, 304);
    assert_eq!(
        not_modified.header("cache-control"),
        Some("public, max-age=60")
    );
    let tar = server.get("/", &[]);
    assert_eq!(tar.header("cache-control"), Some("no-cache"));
}

/// A file dated past year 9999 (tmpfs keeps such a time) is listed, in both forms, with the
/// last second of 9999; nothing panics.
#[test]
fn a_file_from_after_year_9999_is_listed() {
    if !std::path::Path::new("/dev/shm").is_dir() {
        return; // no tmpfs to keep such a time (most disk file systems clamp it)
    }
    let dir = tempfile::tempdir_in("/dev/shm").unwrap();
    random_file(dir.path(), "future.bin", 100, 3);
    let file = dir.path().join("future.bin");
    common::run(
        std::process::Command::new("touch")
            .arg("-d")
            .arg("@253402300800")
            .arg(&file),
    );
    let server = Server::start_dir(dir.path(), &[]);
    let html = server.get("/", &[]);
    assert_eq!(html.status, 200);
    assert!(String::from_utf8_lossy(&html.body).contains("9999-12-31 23:59:59"));
    let json = server.get("/?format=json", &[]);
    assert_eq!(json.status, 200);
    let value: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(value["entries"][0]["modified"], "9999-12-31T23:59:59Z");
    assert_eq!(server.get("/future.bin", &[]).status, 200);
}
