//! `--dir` against the real binary: every listed link fetched and hashed, the JSON listing field
//! by field, redirects, hidden names, symlinks inside and escaping, FIFOs, unreadable files, a
//! traversal table, manifests checked by the real `sha256sum -c`, a real interrupted and
//! resumed `wget -r`, digests that survive a restart, a 100,000-entry directory, several
//! `--file`s, `Host` rules, and a real browser's DOM.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, UNIX_EPOCH};

use common::{BIN, PATIENCE, Server, random_bytes, request, run, send_raw, sha256_hex};

const HOSTILE: &[u8] = b"<img src=x onerror=alert(1)>.txt";
const SECRET: &[u8] = b"root:x:0:0:outside-the-root";

/// A generated tree, and the bytes of every file that must be served (by relative path).
struct Tree {
    dir: tempfile::TempDir,
    _outside: tempfile::TempDir,
    files: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Tree {
    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn path(&self, rel: &[u8]) -> PathBuf {
        self.root().join(OsStr::from_bytes(rel))
    }
}

fn write(root: &Path, rel: &[u8], data: &[u8], files: &mut BTreeMap<Vec<u8>, Vec<u8>>) {
    fs::write(root.join(OsStr::from_bytes(rel)), data).unwrap();
    files.insert(rel.to_vec(), data.to_vec());
}

/// Nested dirs, an empty dir, names with spaces, `#`, `?`, `%`, UTF-8, non-UTF-8 bytes, a
/// backslash, a hostile name, a dotfile, a symlink inside and one escaping, a FIFO.
fn tree() -> Tree {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), SECRET).unwrap();
    let root = dir.path();
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
    let mut files = BTreeMap::new();
    for sub in ["sub", "sub/deeper", "empty", "sp ace"] {
        fs::create_dir(root.join(sub)).unwrap();
    }
    write(root, b"big.bin", &random_bytes(3 << 20, 1), &mut files);
    write(root, b"a b.txt", b"spaces\n", &mut files);
    write(
        root,
        b"we#ird?%.txt",
        b"hash question percent\n",
        &mut files,
    );
    write(
        root,
        "日本 語.txt".as_bytes(),
        &random_bytes(5000, 2),
        &mut files,
    );
    write(
        root,
        b"\xff\xfe latin1.bin",
        &random_bytes(777, 3),
        &mut files,
    );
    write(root, b"back\\slash.txt", b"backslash\n", &mut files);
    write(root, HOSTILE, b"hostile\n", &mut files);
    write(root, b"sub/s.bin", &random_bytes(100_000, 4), &mut files);
    write(root, b"sub/deeper/q.txt", b"deep\n", &mut files);
    write(
        root,
        b"sp ace/x y.dat",
        &random_bytes(70_000, 5),
        &mut files,
    );
    fs::write(root.join(".dot"), b"hidden\n").unwrap();
    fs::create_dir(root.join(".hiddendir")).unwrap();
    fs::write(root.join(".hiddendir/in.txt"), b"hidden too\n").unwrap();
    symlink("sub/s.bin", root.join("inside")).unwrap();
    files.insert(b"inside".to_vec(), files[&b"sub/s.bin"[..]].clone());
    symlink(outside.path().join("secret"), root.join("escape")).unwrap();
    symlink(outside.path(), root.join("escape-dir")).unwrap();
    run(Command::new("mkfifo").arg(root.join("fifo")));
    Tree {
        dir,
        _outside: outside,
        files,
    }
}

/// The URL path of a relative path: each segment's bytes percent-encoded.
fn url(rel: &[u8]) -> String {
    let mut out = String::new();
    for segment in rel.split(|&b| b == b'/') {
        out.push('/');
        for &b in segment {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// The hrefs of the entry links (`<td class="name"><a href="…">`) of an HTML listing, without
/// the parent link.
fn entry_links(html: &str) -> Vec<String> {
    html.split("<td class=\"name\"><a href=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].replace("&amp;", "&"))
        .filter(|href| href != "../")
        .collect()
}

fn decode(href: &str) -> Vec<u8> {
    let bytes = href.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&href[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn every_listed_link_serves_exactly_its_file_and_nothing_else_is_listed() {
    let tree = tree();
    let server = Server::start_dir(tree.root(), &[]);
    let mut seen = BTreeMap::new();
    let mut dirs = vec![Vec::<u8>::new()];
    while let Some(dir) = dirs.pop() {
        let listing_url = if dir.is_empty() {
            "/".to_string()
        } else {
            format!("{}/", url(&dir))
        };
        let reply = server.get(&listing_url, &[]);
        assert_eq!(reply.status, 200, "{listing_url}");
        assert_eq!(
            reply.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        reply.assert_exact_length();
        let html = String::from_utf8(reply.body).unwrap();
        assert_eq!(
            html.contains("href=\"../\""),
            !dir.is_empty(),
            "a parent link except at the root"
        );
        for href in entry_links(&html) {
            assert!(href.is_ascii() && !href.contains(' '), "{href}");
            let mut rel = dir.clone();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend(decode(href.trim_end_matches('/')));
            if href.ends_with('/') {
                dirs.push(rel);
                continue;
            }
            let file = server.get(&format!("{listing_url}{href}"), &[]);
            assert_eq!(file.status, 200, "{href}");
            file.assert_exact_length();
            assert!(file.header("etag").is_some() && file.header("accept-ranges") == Some("bytes"));
            seen.insert(rel, sha256_hex(&file.body));
        }
    }
    let want: BTreeMap<Vec<u8>, String> = tree
        .files
        .iter()
        .map(|(rel, data)| (rel.clone(), sha256_hex(data)))
        .collect();
    assert_eq!(
        seen.keys()
            .map(|k| String::from_utf8_lossy(k))
            .collect::<Vec<_>>(),
        want.keys()
            .map(|k| String::from_utf8_lossy(k))
            .collect::<Vec<_>>(),
        "exactly the visible regular files (no dotfile, FIFO or escaping link)"
    );
    assert_eq!(seen, want, "every byte of every file");
}

#[test]
fn the_json_listing_has_every_field_and_vary_and_an_etag_of_its_own() {
    let tree = tree();
    let mtime = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    fs::File::options()
        .write(true)
        .open(tree.path(b"a b.txt"))
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let server = Server::start_dir(tree.root(), &[]);
    let by_query = server.get("/?format=json", &[]);
    let by_accept = server.get("/", &[("Accept", "application/json")]);
    let html = server.get("/", &[]);
    for reply in [&by_query, &by_accept] {
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.header("vary"), Some("Accept"));
        reply.assert_exact_length();
    }
    assert_eq!(html.header("vary"), Some("Accept"));
    assert_ne!(
        html.header("etag"),
        by_accept.header("etag"),
        "the two forms never share an ETag"
    );
    let value: serde_json::Value = serde_json::from_slice(&by_query.body).unwrap();
    assert_eq!(value["path"], "/");
    let entries = value["entries"].as_array().unwrap();
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "empty",
            "sp ace",
            "sub",
            "<img src=x onerror=alert(1)>.txt",
            "a b.txt",
            "back\\slash.txt",
            "big.bin",
            "inside",
            "we#ird?%.txt",
            "日本 語.txt",
            "\u{fffd}\u{fffd} latin1.bin",
        ],
        "directories first, then files, each by name (bytes)"
    );
    for entry in entries {
        let name = entry["name"].as_str().unwrap();
        let is_dir = entry["type"] == "dir";
        assert!(is_dir || entry["type"] == "file");
        let url = entry["url"].as_str().unwrap();
        assert!(
            url.starts_with('/') && url.ends_with('/') == is_dir,
            "{url}"
        );
        let modified = entry["modified"].as_str().unwrap();
        assert!(
            modified.len() == 20 && modified.ends_with('Z') && modified.as_bytes()[10] == b'T',
            "RFC 3339 UTC: {modified}"
        );
        if is_dir {
            assert!(entry.get("size").is_none(), "no size on directories");
            continue;
        }
        let rel = decode(&url[1..]);
        let data = &tree.files[&rel];
        assert_eq!(entry["size"].as_u64(), Some(data.len() as u64), "{name}");
        match entry["sha256"].as_str() {
            Some(sum) => assert_eq!(sum, sha256_hex(data), "{name}"),
            None => assert!(entry["sha256"].is_null()),
        }
        assert_eq!(server.get(url, &[]).body, *data, "{url}");
    }
    let a_b = entries.iter().find(|e| e["name"] == "a b.txt").unwrap();
    assert_eq!(a_b["modified"], "2020-09-13T12:26:40Z");
    // A browser's conditional reload.
    let etag = html.header("etag").unwrap();
    let again = server.get("/", &[("If-None-Match", etag)]);
    if again.header("etag") == Some(etag) {
        assert_eq!(again.status, 304);
        assert!(again.body.is_empty());
        assert_eq!(again.header("vary"), Some("Accept"));
    } else {
        assert_eq!(
            again.status, 200,
            "digests appeared meanwhile: a new listing"
        );
    }
    // Once every digest is known, every file's sha256 is in the listing.
    common::eventually("the manifest becomes ready", || {
        server.get("/SHA256SUMS", &[]).status == 200
    });
    let settled: serde_json::Value =
        serde_json::from_slice(&server.get("/?format=json", &[]).body).unwrap();
    for entry in settled["entries"].as_array().unwrap() {
        if entry["type"] == "file" {
            let rel = decode(&entry["url"].as_str().unwrap()[1..]);
            assert_eq!(
                entry["sha256"].as_str(),
                Some(&*sha256_hex(&tree.files[&rel]))
            );
        }
    }
}

#[test]
fn directories_without_their_slash_redirect_and_files_with_one_are_404() {
    let tree = tree();
    let server = Server::start_dir(tree.root(), &[]);
    for (path, location) in [
        ("/sub", "/sub/"),
        ("/sub/deeper", "/sub/deeper/"),
        ("/sp%20ace", "/sp%20ace/"),
        ("/sub?format=json", "/sub/?format=json"),
    ] {
        let reply = server.get(path, &[]);
        assert_eq!(reply.status, 301, "{path}");
        assert_eq!(reply.header("location"), Some(location), "{path}");
        let head = request(server.addr, "HEAD", path, &[]);
        assert_eq!((head.status, head.body.len()), (301, 0));
    }
    for path in [
        "/a%20b.txt/",
        "/missing",
        "/missing/",
        "/sub/missing.txt",
        "/empty/x",
    ] {
        assert_eq!(server.get(path, &[]).status, 404, "{path}");
    }
    let empty = server.get("/empty/", &[]);
    assert_eq!(empty.status, 200);
    assert!(String::from_utf8_lossy(&empty.body).contains("0 folders, 0 files"));
    assert_eq!(
        server.get("/empty/SHA256SUMS", &[]).status,
        404,
        "no files, no manifest"
    );
}

#[test]
fn head_works_on_everything_and_other_methods_get_405() {
    let tree = tree();
    let server = Server::start_dir(tree.root(), &[]);
    common::eventually("the manifest becomes ready", || {
        server.get("/SHA256SUMS", &[]).status == 200
    });
    for path in [
        "/",
        "/sub/",
        "/?format=json",
        "/big.bin",
        "/big.bin.sha256",
        "/SHA256SUMS",
    ] {
        let got = server.get(path, &[]);
        let head = request(server.addr, "HEAD", path, &[]);
        assert_eq!((head.status, head.body.len()), (got.status, 0), "{path}");
        assert_eq!(head.content_length(), Some(got.body.len() as u64), "{path}");
        assert_eq!(
            head.header("content-type"),
            got.header("content-type"),
            "{path}"
        );
        for method in ["POST", "PUT", "DELETE"] {
            let reply = request(server.addr, method, path, &[]);
            assert_eq!(reply.status, 405, "{method} {path}");
            assert_eq!(reply.header("allow"), Some("GET, HEAD"));
        }
    }
}

#[test]
fn files_below_the_root_keep_every_range_and_precondition_rule() {
    let tree = tree();
    let server = Server::start_dir(tree.root(), &[]);
    let rel = "日本 語.txt".as_bytes();
    let data = &tree.files[rel];
    let path = url(rel);
    let full = server.get(&path, &[]);
    assert_eq!(full.body, *data);
    assert_eq!(full.header("content-type"), Some("text/plain"));
    assert_eq!(
        full.header("content-disposition"),
        Some(
            "attachment; filename=\"__ _.txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%20%E8%AA%9E.txt"
        )
    );
    let etag = common::settled_etag(&server, &path);
    let single = server.get(&path, &[("Range", "bytes=100-199")]);
    assert_eq!(single.status, 206);
    assert_eq!(single.header("content-range"), Some("bytes 100-199/5000"));
    assert_eq!(single.body, data[100..200]);
    let multi = server.get(&path, &[("Range", "bytes=0-9,-10")]);
    assert_eq!(multi.status, 206);
    let boundary = multi
        .header("content-type")
        .unwrap()
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap()
        .to_string();
    let parts = common::parse_multipart(&multi.body, &boundary);
    assert_eq!(parts[0].2, data[..10]);
    assert_eq!(parts[1].2, data[4990..]);
    assert_eq!(server.get(&path, &[("Range", "bytes=5000-")]).status, 416);
    let resumed = server.get(&path, &[("Range", "bytes=4000-"), ("If-Range", &etag)]);
    assert_eq!((resumed.status, &resumed.body[..]), (206, &data[4000..]));
    let stale = server.get(
        &path,
        &[("Range", "bytes=4000-"), ("If-Range", "\"stale\"")],
    );
    assert_eq!((stale.status, &stale.body), (200, data));
    assert_eq!(server.get(&path, &[("If-None-Match", &etag)]).status, 304);
    assert_eq!(server.get(&path, &[("If-Match", "\"other\"")]).status, 412);
    // A name that is not UTF-8 is reachable by its percent-encoded bytes.
    let latin = server.get("/%FF%FE%20latin1.bin", &[]);
    assert_eq!(latin.body, tree.files[&b"\xff\xfe latin1.bin"[..]]);
}

#[test]
fn hidden_names_need_hidden_and_escaping_symlinks_need_follow_symlinks() {
    let tree = tree();
    let plain = Server::start_dir(tree.root(), &[]);
    for path in [
        "/.dot",
        "/.hiddendir/",
        "/.hiddendir/in.txt",
        "/.dot.sha256",
        "/escape",
        "/escape-dir/secret",
        "/fifo",
    ] {
        let reply = plain.get(path, &[]);
        assert_eq!(reply.status, 404, "{path}");
        assert!(!String::from_utf8_lossy(&reply.body).contains("outside-the-root"));
    }
    let listing = String::from_utf8(plain.get("/", &[]).body).unwrap();
    for absent in ["dot", "escape", "fifo", "hiddendir"] {
        assert!(!listing.contains(absent), "{absent} listed");
    }
    assert_eq!(
        plain.get("/inside", &[]).body,
        tree.files[&b"sub/s.bin"[..]]
    );

    let hidden = Server::start_dir(tree.root(), &["--hidden"]);
    assert_eq!(hidden.get("/.dot", &[]).body, b"hidden\n");
    assert_eq!(hidden.get("/.hiddendir/in.txt", &[]).body, b"hidden too\n");
    assert!(
        String::from_utf8(hidden.get("/", &[]).body)
            .unwrap()
            .contains(".dot")
    );
    assert_eq!(hidden.get("/escape", &[]).status, 404);

    let follow = Server::start_dir(tree.root(), &["--follow-symlinks"]);
    assert_eq!(follow.get("/escape", &[]).body, SECRET);
    assert_eq!(follow.get("/escape-dir/secret", &[]).body, SECRET);
    assert!(
        String::from_utf8(follow.get("/", &[]).body)
            .unwrap()
            .contains("escape")
    );
    assert_eq!(follow.get("/fifo", &[]).status, 404, "never a FIFO");
}

#[test]
fn a_fifo_never_hangs_a_request_or_a_listing() {
    let tree = tree();
    let server = Server::start_dir(tree.root(), &["--hidden", "--follow-symlinks"]);
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(server.get("/fifo", &[]).status, 404);
        assert_eq!(server.get("/", &[]).status, 200);
    }
    assert!(started.elapsed() < PATIENCE);
    assert!(
        !common::descriptor_targets(server.pid())
            .iter()
            .any(|t| t.ends_with("/fifo"))
    );
}

#[test]
fn traversal_never_reaches_a_byte_outside_the_root() {
    let tree = tree();
    let server = Server::start_dir(tree.root(), &[]);
    let outside = tree
        ._outside
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let targets = [
        "/../secret".to_string(),
        "/../../etc/passwd".into(),
        "/..%2f..%2fetc%2fpasswd".into(),
        "/%2e%2e/%2e%2e/etc/passwd".into(),
        "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd".into(),
        "/.%2e/etc/passwd".into(),
        "/%2e./etc/passwd".into(),
        "/sub/../../etc/passwd".into(),
        "/sub/%2e%2e/%2e%2e/etc/passwd".into(),
        "/sub/./../..".into(),
        "/..\\..\\etc\\passwd".into(),
        "/..%5c..%5cetc%5cpasswd".into(),
        "/%5c..%5c..%5cetc%5cpasswd".into(),
        "//etc/passwd".into(),
        "///etc/passwd".into(),
        "/etc/passwd".into(),
        "/%2fetc%2fpasswd".into(),
        "/escape".into(),
        "/escape-dir/secret".into(),
        "/escape-dir/".into(),
        "/inside/../escape".into(),
        "/sub/s.bin/../../escape".into(),
        "/a%00b".into(),
        "/big.bin%00.txt".into(),
        "/big.bin%2f..%2f..%2fescape".into(),
        "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd".into(),
        "/%c0%af..%c0%afetc".into(),
        "/%e0%80%ae%e0%80%ae/etc/passwd".into(),
        "/%".into(),
        "/%zz".into(),
        "/%2".into(),
        format!("/../{outside}/secret"),
        format!("/%2e%2e/{outside}/secret"),
        "http://x/../../etc/passwd".into(),
        "http://x/escape".into(),
        "http://evil.example/big.bin".into(),
        "*".into(),
        "/escape.sha256".into(),
        "/escape-dir/SHA256SUMS".into(),
    ];
    assert!(targets.len() >= 30);
    for target in &targets {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let out = send_raw(server.addr, raw.as_bytes());
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("outside-the-root"), "{target}: leaked");
        assert!(!text.contains("root:x:0:0"), "{target}: leaked /etc/passwd");
        let reply = common::parse_reply(&out);
        assert!(
            matches!(reply.status, 400 | 404),
            "{target} → {}",
            reply.status
        );
    }
    let ok = send_raw(
        server.addr,
        b"GET http://x/a%20b.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        common::parse_reply(&ok).body,
        b"spaces\n",
        "absolute-form to ourselves"
    );
}

#[test]
fn the_host_field_is_required_once_in_http_1_1() {
    let tree = tree();
    let server = Server::start_dir(tree.root(), &[]);
    for raw in [
        &b"GET /a%20b.txt HTTP/1.1\r\nConnection: close\r\n\r\n"[..],
        b"GET /a%20b.txt HTTP/1.1\r\nHost: x\r\nHost: y\r\nConnection: close\r\n\r\n",
        b"GET /a%20b.txt HTTP/1.0\r\nHost: x\r\nHost: x\r\n\r\n",
        b"GET http://y/a%20b.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ] {
        let reply = common::parse_reply(&send_raw(server.addr, raw));
        assert_eq!(reply.status, 400, "{}", String::from_utf8_lossy(raw));
        assert!(!reply.body.windows(6).any(|w| w == b"spaces"));
    }
    let old = common::parse_reply(&send_raw(server.addr, b"GET /a%20b.txt HTTP/1.0\r\n\r\n"));
    assert_eq!(
        (old.status, &old.body[..]),
        (200, &b"spaces\n"[..]),
        "HTTP/1.0 needs no Host"
    );
}

#[test]
fn an_unreadable_file_is_403_and_logged_and_still_listed() {
    let tree = tree();
    let locked = tree.path(b"sub/s.bin");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    let mut cmd = common::rangeserve_unprivileged();
    cmd.arg("--dir")
        .arg(tree.root())
        .args(["--bind", "127.0.0.1", "--port", "0"]);
    let server = Server::spawn(cmd);
    let reply = server.get("/sub/s.bin", &[]);
    assert_eq!(reply.status, 403);
    assert!(reply.body.len() < 100);
    common::eventually("the 403 is logged with its reason", || {
        server
            .log()
            .contains("cannot open '/sub/s.bin': permission denied")
    });
    assert!(
        String::from_utf8(server.get("/sub/", &[]).body)
            .unwrap()
            .contains("s.bin")
    );
    assert_eq!(server.get("/sub/deeper/q.txt", &[]).body, b"deep\n");
}

/// Polls a manifest until it answers 200 (it is 503 with `Retry-After` while hashing).
fn wait_for_manifest(server: &Server, path: &str) -> Vec<u8> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let reply = server.get(path, &[]);
        if reply.status == 200 {
            return reply.body;
        }
        assert_eq!(reply.status, 503, "{path}");
        let retry: u64 = reply.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry));
        assert!(Instant::now() < deadline, "{path} never became ready");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn manifests_and_sidecars_pass_the_real_sha256sum_even_for_odd_names() {
    let tree = tree();
    fs::write(tree.path(b"new\nline.txt"), b"newline\n").unwrap();
    fs::write(tree.path(b"carriage\rreturn.txt"), b"cr\n").unwrap();
    // A real file named like a sidecar or a manifest wins.
    fs::write(tree.path(b"sub/deeper/q.txt.sha256"), b"my own sidecar\n").unwrap();
    fs::write(tree.path(b"sp ace/SHA256SUMS"), b"my own manifest\n").unwrap();
    let server = Server::start_dir(tree.root(), &[]);
    let manifest = wait_for_manifest(&server, "/SHA256SUMS");
    let text = String::from_utf8_lossy(&manifest);
    assert_eq!(text.lines().count(), 10, "{text}");
    assert!(text.contains("  big.bin\n"));
    assert!(
        text.contains("\n\\") && text.contains("back\\\\slash.txt"),
        "{text}"
    );
    assert!(!text.contains("sub"), "only the files directly in it");
    fs::write(tree.path(b"SHA256SUMS"), &manifest).unwrap();
    let check = run(Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(tree.root()));
    let out = String::from_utf8_lossy(&check.stdout);
    assert_eq!(out.matches(": OK").count(), 10, "{out}");
    fs::remove_file(tree.path(b"SHA256SUMS")).unwrap();
    // A sidecar for an odd name, checked in a folder of its own.
    let sidecar = server.get(&format!("{}.sha256", url(b"back\\slash.txt")), &[]);
    assert_eq!(sidecar.status, 200);
    let verify = tempfile::tempdir().unwrap();
    fs::write(verify.path().join("back\\slash.txt"), b"backslash\n").unwrap();
    fs::write(verify.path().join("check"), &sidecar.body).unwrap();
    run(Command::new("sha256sum")
        .args(["-c", "check"])
        .current_dir(verify.path()));
    assert_eq!(
        server.get("/sub/deeper/q.txt.sha256", &[]).body,
        b"my own sidecar\n"
    );
    assert_eq!(
        server.get("/sp%20ace/SHA256SUMS", &[]).body,
        b"my own manifest\n"
    );
    let sub = String::from_utf8(wait_for_manifest(&server, "/sub/SHA256SUMS")).unwrap();
    assert_eq!(
        sub,
        format!("{}  s.bin\n", sha256_hex(&tree.files[&b"sub/s.bin"[..]]))
    );
}

#[test]
fn a_real_wget_r_interrupted_and_resumed_then_sha256sum_c_succeeds() {
    let tree = tree();
    let server = Server::start_dir(tree.root(), &[]);
    let url = server.url("/");
    let downloads = tempfile::tempdir().unwrap();
    // Interrupted: 1 MB/s for a 3 MiB file, stopped after one second.
    let first = Command::new("timeout")
        .args([
            "1",
            "wget",
            "-q",
            "-c",
            "-r",
            "-np",
            "-nH",
            "--limit-rate=1m",
            &url,
        ])
        .current_dir(downloads.path())
        .status()
        .unwrap();
    assert!(!first.success(), "the first attempt was cut");
    let partial = fs::metadata(downloads.path().join("big.bin")).map_or(0, |m| m.len());
    assert!(partial < 3 << 20, "interrupted mid-file ({partial} bytes)");
    // The bare recipe has no retry: wait until the manifests are ready (the hasher stands back
    // while large downloads stream, so it may still be busy).
    for manifest in ["/SHA256SUMS", "/sub/SHA256SUMS", "/sub/deeper/SHA256SUMS"] {
        wait_for_manifest(&server, manifest);
    }
    // The README's recipe, for real: resume, then prove every folder whole.
    let recipe = format!(
        "wget -q -c -r -np -nH '{url}' && sha256sum -c SHA256SUMS && \
         find . -name SHA256SUMS -execdir sha256sum -c {{}} +"
    );
    let out = run(Command::new("bash")
        .arg("-c")
        .arg(&recipe)
        .current_dir(downloads.path()));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("big.bin: OK") && !said.contains("FAILED"),
        "{said}"
    );
    for (rel, data) in &tree.files {
        // wget writes names as they are (bytes) except control characters.
        let got = fs::read(downloads.path().join(OsStr::from_bytes(rel)))
            .unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(rel)));
        assert_eq!(
            sha256_hex(&got),
            sha256_hex(data),
            "{}",
            String::from_utf8_lossy(rel)
        );
    }
    let resumed = server
        .log()
        .lines()
        .any(|l| l.contains("\"GET /big.bin\" range=bytes=") && l.contains(" 206 "));
    assert!(
        resumed,
        "the resume asked for the rest only:\n{}",
        server.log()
    );
    // The README's flat-folder line, for a subfolder.
    let flat = tempfile::tempdir().unwrap();
    let sub_url = server.url("/sub/");
    let out = run(Command::new("bash")
        .arg("-c")
        .arg(format!(
            "wget -q -c -r -np -nH '{sub_url}' && (cd sub && sha256sum -c SHA256SUMS)"
        ))
        .current_dir(flat.path()));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "s.bin: OK\n");
    // The listing's own recipe (the index files removed, every folder checked).
    let again = tempfile::tempdir().unwrap();
    let html = String::from_utf8(server.get("/", &[]).body).unwrap();
    let start = html.find("<pre>wget -c -r").unwrap() + 5;
    let recipe = html[start..start + html[start..].find("</pre>").unwrap()]
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .replace("wget ", "wget -q ");
    let out = run(Command::new("bash")
        .arg("-c")
        .arg(recipe.replace('\n', " && "))
        .current_dir(again.path()));
    assert!(String::from_utf8_lossy(&out.stdout).contains("q.txt: OK"));
    assert!(!again.path().join("index.html").exists());
}

#[test]
fn a_digest_survives_a_restart_without_hashing_again() {
    let tree = tree();
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("rs");
    let args = ["--state-dir", state_dir.to_str().unwrap()];
    let want = format!("{}  big.bin\n", sha256_hex(&tree.files[&b"big.bin"[..]]));
    {
        let first = Server::start_dir(tree.root(), &args);
        let line = wait_for_manifest(&first, "/big.bin.sha256");
        assert_eq!(String::from_utf8(line).unwrap(), want);
        assert!(first.log().contains("sha256 of big.bin"), "{}", first.log());
    }
    let second = Server::start_dir(tree.root(), &args);
    let reply = second.get("/big.bin.sha256", &[]);
    assert_eq!(
        (
            reply.status,
            String::from_utf8_lossy(&reply.body).to_string()
        ),
        (200, want),
        "known at the first request after the restart"
    );
    assert!(second.log().contains("digest(s) from earlier runs"));
    assert!(
        !second.log().contains("sha256 of big.bin"),
        "not hashed again"
    );
    let full = second.get("/big.bin", &[]);
    assert!(full.header("repr-digest").is_some());
    // A changed file (same size, new mtime and ctime) is hashed again, never served with the old.
    let mut data = tree.files[&b"big.bin"[..]].clone();
    data[0] ^= 1;
    fs::write(tree.path(b"big.bin"), &data).unwrap();
    let line = {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let reply = second.get("/big.bin.sha256", &[]);
            if reply.status == 200 && reply.body.starts_with(sha256_hex(&data).as_bytes()) {
                break reply.body;
            }
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert!(line.ends_with(b"  big.bin\n"));
    common::eventually("the new version was hashed", || {
        second.log().contains("sha256 of big.bin")
    });
}

#[test]
fn an_explicit_state_dir_that_cannot_be_used_is_exit_2() {
    let tree = tree();
    let file = tree.path(b"a b.txt");
    let output = Command::new(BIN)
        .arg("--dir")
        .arg(tree.root())
        .arg("--state-dir")
        .arg(file.join("x"))
        .args(["--port", "0", "--bind", "127.0.0.1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot keep state in"), "{stderr}");
}

#[test]
fn a_hundred_thousand_entries_are_listed_whole_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let many = dir.path().join("many");
    fs::create_dir(&many).unwrap();
    for i in 0..100_000 {
        fs::File::create(many.join(format!("file-{i:06}.dat"))).unwrap();
    }
    let server = Server::start_dir(dir.path(), &["--no-digest"]);
    let started = Instant::now();
    let json = server.get("/many/?format=json", &[]);
    let json_time = started.elapsed();
    let value: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    let entries = value["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 100_000);
    assert_eq!(entries[0]["name"], "file-000000.dat");
    assert_eq!(entries[99_999]["url"], "/many/file-099999.dat");
    let started = Instant::now();
    let html = server.get("/many/", &[]);
    let html_time = started.elapsed();
    assert_eq!(
        entry_links(&String::from_utf8(html.body.clone()).unwrap()).len(),
        100_000
    );
    let status = fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap();
    println!(
        "100,000 entries: JSON {} bytes in {json_time:?}, HTML {} bytes in {html_time:?}; server peak RSS {} MiB",
        json.body.len(),
        html.body.len(),
        peak_kib / 1024
    );
    // The listing itself is ~20 MB of HTML: the server holds it, the entries, and little more.
    assert!(peak_kib < 256 * 1024, "peak RSS {peak_kib} KiB");
}

#[test]
fn several_files_are_each_served_at_their_name_and_listed_at_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let (a, a_data) = common::random_file(dir.path(), "a.iso", 10_000, 7);
    fs::create_dir(dir.path().join("other")).unwrap();
    let (b, b_data) = common::random_file(&dir.path().join("other"), "b c.bin", 20_000, 8);
    let mut cmd = Command::new(BIN);
    cmd.arg("--file")
        .arg(&a)
        .arg("--file")
        .arg(&b)
        .args(["--bind", "127.0.0.1", "--port", "0"]);
    let server = Server::spawn(cmd);
    assert_eq!(server.get("/a.iso", &[]).body, a_data);
    assert_eq!(server.get("/b%20c.bin", &[]).body, b_data);
    let listing = String::from_utf8(server.get("/", &[]).body).unwrap();
    assert_eq!(entry_links(&listing), ["a.iso", "b%20c.bin"]);
    let manifest = String::from_utf8(wait_for_manifest(&server, "/SHA256SUMS")).unwrap();
    assert_eq!(
        manifest,
        format!(
            "{}  a.iso\n{}  b c.bin\n",
            sha256_hex(&a_data),
            sha256_hex(&b_data)
        )
    );
    assert_eq!(server.get("/other/b%20c.bin", &[]).status, 404);
    // Two files with one name, --dir with --file, a bad --dir: one line, exit 2.
    let same = dir.path().join("other/a.iso");
    fs::write(&same, b"x").unwrap();
    for (args, message) in [
        (
            vec!["--file".into(), a.clone(), "--file".into(), same.clone()],
            "two files named 'a.iso'",
        ),
        (
            vec![
                "--dir".into(),
                dir.path().to_path_buf(),
                "--file".into(),
                a.clone(),
            ],
            "--dir and --file cannot be used together",
        ),
        (
            vec!["--dir".into(), dir.path().join("missing")],
            "no such file",
        ),
        (vec!["--dir".into(), a.clone()], "not a directory"),
    ] {
        let output = Command::new(BIN)
            .args(&args)
            .env_remove("RANGESERVE_FILE")
            .env_remove("RANGESERVE_DIR")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
}

#[test]
fn the_banner_names_the_folder_the_recipe_and_the_largest_file() {
    let tree = tree();
    let mut child = Command::new(BIN)
        .arg("--dir")
        .arg(tree.root())
        .args(["--bind", "127.0.0.1", "--port", "0"])
        .env(
            "RANGESERVE_STATE_DIR",
            tree.root().join("..").join("unused-state"),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    while !banner.contains("aria2c") {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() == 0 {
            break;
        }
        banner.push_str(&line);
    }
    let _ = child.kill();
    let _ = child.wait();
    let root = fs::canonicalize(tree.root()).unwrap();
    assert!(
        banner.contains(&format!("serving directory {}", root.display())),
        "{banner}"
    );
    assert!(banner.contains("wget -c -r -np -nH"), "{banner}");
    assert!(banner.contains("sha256sum -c"), "{banner}");
    assert!(
        banner.contains("Largest file: big.bin (3.0 MiB)"),
        "{banner}"
    );
    assert!(banner.contains("/big.bin'"), "{banner}");
}

#[test]
fn a_real_browser_renders_the_listing_with_hostile_names_as_text() {
    let tree = tree();
    let server = Server::start_dir(tree.root(), &[]);
    let dom = common::phone_dom(&server.url("/"));
    assert!(dom.contains("<title>Index of /</title>"), "{dom}");
    // The hostile name is text in the DOM, not an element.
    assert!(
        dom.contains("&lt;img src=x onerror=alert(1)&gt;.txt"),
        "{dom}"
    );
    assert!(!dom.contains("<img"), "no img element was made: {dom}");
    let links = entry_links(&dom);
    assert!(links.contains(&"%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt".to_string()));
    assert!(links.contains(&"sub/".to_string()) && links.contains(&"a%20b.txt".to_string()));
    assert!(
        dom.contains("title=\"3145728 bytes\">3.0 MiB<"),
        "sizes with exact bytes"
    );
    assert!(dom.contains("日本 語.txt"));
    // The browser's own fetch of the hostile link gets the file's bytes.
    assert_eq!(
        server
            .get(
                &format!(
                    "/{}",
                    links.iter().find(|l| l.starts_with("%3Cimg")).unwrap()
                ),
                &[]
            )
            .body,
        b"hostile\n"
    );
}
