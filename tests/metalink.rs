//! Issue 22, "Proven piece by piece": `Digest` for the clients that ask with `Want-Digest`
//! (RFC 3230), Metalink 4 documents for files and folders (RFC 5854) checked against the bytes
//! by an XML parser, aria2c and wget2 fetching through them from one server and from two
//! replicas, a corrupt mirror survived both ways aria2c can meet it, a damaged copy repaired
//! piece by piece, and `--offer-metalink` for a plain `aria2c URL`.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::{
    BIN, Server, eventually, free_port, random_file, ready, request, run, sha256_file, sha256_hex,
};

/// Checks a Metalink against the files under `root` with Python's XML parser: the namespace,
/// each file's size and SHA-256, and each piece's SHA-256 against that byte range. Returns the
/// names, sizes and URLs it lists, one line each.
fn check_with_python(doc: &[u8], root: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.meta4");
    fs::write(&path, doc).unwrap();
    let script = r#"
import hashlib, os, sys, xml.etree.ElementTree as ET
NS = "{urn:ietf:params:xml:ns:metalink}"
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == NS + "metalink", root.tag
for f in root.findall(NS + "file"):
    name = f.get("name")
    local = os.path.join(sys.argv[2], name.split("/", 1)[1] if sys.argv[3] == "folder" else name)
    data = open(local, "rb").read()
    assert int(f.find(NS + "size").text) == len(data), name
    assert f.find(NS + "hash").text == hashlib.sha256(data).hexdigest(), name
    pieces = f.find(NS + "pieces")
    length = int(pieces.get("length"))
    hashes = [h.text for h in pieces.findall(NS + "hash")]
    assert len(hashes) == max(1, -(-len(data) // length)), name
    for i, h in enumerate(hashes):
        assert h == hashlib.sha256(data[i * length:(i + 1) * length]).hexdigest(), (name, i)
    urls = [(u.get("priority"), u.text) for u in f.findall(NS + "url")]
    print(name, len(data), len(hashes), urls)
"#;
    let (kind, base) = match root.is_dir() {
        true => ("folder", root),
        false => ("file", root.parent().unwrap()),
    };
    let out = run(Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .arg(base)
        .arg(kind));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn want_digest_gets_the_files_sha256_on_200_and_206_and_nothing_unasked() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f.bin", 100_000, 1);
    let server = Server::start(&path, &[]);
    let want = common::independent_repr_digest(&path);
    let digest = format!("SHA-256={}", &want["sha-256=:".len()..want.len() - 1]);
    let aria2 = ("Want-Digest", "SHA-512;q=1, SHA-256;q=1, SHA;q=0.1");
    eventually("hashed", || {
        server.get("/f.bin", &[aria2]).header("digest").is_some()
    });
    let full = server.get("/f.bin", &[aria2]);
    assert_eq!(full.header("digest"), Some(digest.as_str()));
    assert_eq!(sha256_hex(&full.body), sha256_hex(&data));
    let part = server.get("/f.bin", &[aria2, ("Range", "bytes=10-19")]);
    assert_eq!(
        (part.status, part.header("digest")),
        (206, Some(digest.as_str()))
    );
    assert_eq!(server.get("/f.bin", &[]).header("digest"), None, "unasked");
    let refused = server.get("/f.bin", &[("Want-Digest", "SHA-256;q=0")]);
    assert_eq!(refused.header("digest"), None, "q=0");
    assert_eq!(
        refused.header("repr-digest"),
        Some(want.as_str()),
        "Repr-Digest stays"
    );
}

#[test]
fn metalinks_of_a_file_and_a_folder_describe_exactly_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("share");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::create_dir_all(root.join(".git")).unwrap();
    random_file(&root.join("sub"), "a.bin", (3 << 20) + 17, 2);
    random_file(&root, "b.txt", 10, 3);
    random_file(&root, "empty", 0, 4);
    random_file(&root, "bell\u{7}.txt", 5, 15);
    random_file(&root.join(".git"), "config", 10, 5);
    let server = Server::start_dir(
        &root,
        &[
            "--mirror",
            "http://mirror.example/pub/",
            "--public-url",
            "https://files.example",
        ],
    );
    let doc = ready(&server, "/sub/a.bin.meta4");
    let reply = server.get("/sub/a.bin.meta4", &[]);
    assert_eq!(
        reply.header("content-type"),
        Some("application/metalink4+xml")
    );
    let etag = reply.header("etag").unwrap().to_string();
    assert_eq!(
        server
            .get("/sub/a.bin.meta4", &[("If-None-Match", &etag)])
            .status,
        304
    );
    let seen = check_with_python(&doc, &root.join("sub/a.bin"));
    assert!(
        seen.contains("a.bin 3145745 4 [('1', 'https://files.example/sub/a.bin'), ('2', 'http://mirror.example/pub/sub/a.bin')]"),
        "{seen}"
    );
    let folder = ready(&server, "/share.meta4");
    let seen = check_with_python(&folder, &root);
    let names: Vec<&str> = seen.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        names,
        ["share/b.txt", "share/empty", "share/sub/a.bin"],
        "{seen}"
    );
    let sub = ready(&server, "/sub/sub.meta4");
    assert!(
        String::from_utf8(sub)
            .unwrap()
            .contains("<file name=\"sub/a.bin\">")
    );
    // The file responses point at their Metalink and their mirror (RFC 6249).
    let file = server.get("/sub/a.bin", &[("Range", "bytes=0-0")]);
    let links: Vec<&str> = file
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("link"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        links,
        [
            "<https://files.example/sub/a.bin.meta4>; rel=describedby; type=\"application/metalink4+xml\"",
            "<http://mirror.example/pub/sub/a.bin>; rel=duplicate; pri=1"
        ]
    );
    // Listings offer them.
    let json: serde_json::Value =
        serde_json::from_slice(&server.get("/sub/?format=json", &[]).body).unwrap();
    assert_eq!(json["metalink"], "/sub/sub.meta4");
    assert_eq!(json["entries"][0]["meta4"], "/sub/a.bin.meta4");
    // A name no Metalink can carry is left out of the folder's and offered none.
    let top: serde_json::Value =
        serde_json::from_slice(&server.get("/?format=json", &[]).body).unwrap();
    let bell = top["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "bell\u{7}.txt")
        .unwrap();
    assert!(bell.get("meta4").is_none(), "{bell}");
    assert_eq!(server.get("/bell%07.txt.meta4", &[]).status, 404);
    assert_eq!(server.get("/.git/config.meta4", &[]).status, 404, "hidden");
    assert_eq!(server.get("/nothing.meta4", &[]).status, 404);

    // aria2c fetches the whole folder through its Metalink (wget2 1.99 takes one <file> per
    // Metalink, so the folder is aria2c's), here from a server without --public-url.
    let plain = Server::start_dir(&root, &[]);
    let folder = ready(&plain, "/share.meta4");
    let dl = tempfile::tempdir().unwrap();
    let meta4 = dl.path().join("share.meta4");
    fs::write(&meta4, &folder).unwrap();
    let out = aria2c(dl.path(), &["-M", meta4.to_str().unwrap()]);
    assert!(out.status.success(), "{}", aria2_log(dl.path()));
    for rel in ["b.txt", "empty", "sub/a.bin"] {
        assert_eq!(
            sha256_file(&dl.path().join("share").join(rel)),
            sha256_file(&root.join(rel)),
            "{rel}"
        );
    }
    assert!(!dl.path().join("share/.git").exists());
}

/// A free port and the base URL a server on it has.
fn port_and_url() -> (u16, String) {
    let port = free_port();
    (port, format!("http://127.0.0.1:{port}"))
}

fn replica(dir: &Path, port: u16, extra: &[&str]) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.arg("--dir")
        .arg(dir)
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(extra);
    Server::spawn(cmd)
}

fn aria2c(dir: &Path, args: &[&str]) -> Output {
    let log = dir.join("aria2.log");
    let out = Command::new("aria2c")
        .args([
            "--log-level=info",
            "--summary-interval=0",
            "--console-log-level=warn",
        ])
        .arg(format!("--log={}", log.display()))
        .arg(format!("--dir={}", dir.display()))
        .args(args)
        .output()
        .unwrap();
    println!(
        "aria2c: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn aria2_log(dir: &Path) -> String {
    fs::read_to_string(dir.join("aria2.log")).unwrap_or_default()
}

/// Bytes the server's access log says it sent for `path` (ranges and whole answers).
fn sent_for(server: &Server, path: &str) -> u64 {
    server
        .log()
        .lines()
        .filter(|l| l.contains(&format!("\"GET {path}\"")))
        .filter_map(|l| {
            l.split(" sent=")
                .nth(1)?
                .split('/')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

fn ranged_gets(server: &Server, path: &str) -> usize {
    server
        .log()
        .lines()
        .filter(|l| l.contains(&format!("\"GET {path}\" range=bytes=")) && l.contains(" 206 "))
        .count()
}

/// Two replicas of one 48 MiB file; B's copy has one byte flipped in the middle of every
/// 4 MiB when `corrupt` (so whichever pieces aria2c takes from B, one is bad). Each names the
/// other with `--mirror`.
struct Pair {
    a: Server,
    b: Server,
    data: Vec<u8>,
    _dirs: tempfile::TempDir,
}

impl Pair {
    fn start(corrupt: bool, extra: &[&str]) -> Pair {
        let dirs = tempfile::tempdir().unwrap();
        let (a_dir, b_dir) = (dirs.path().join("a"), dirs.path().join("b"));
        fs::create_dir(&a_dir).unwrap();
        let (_, data) = random_file(&a_dir, "big.bin", 48 << 20, 9);
        fs::create_dir(&b_dir).unwrap();
        let mut copy = data.clone();
        if corrupt {
            for at in (0..12).map(|i| (i << 22) + (2 << 20) + 100) {
                copy[at] ^= 0xff;
            }
        }
        fs::write(b_dir.join("big.bin"), &copy).unwrap();
        let ((a_port, a_url), (b_port, b_url)) = (port_and_url(), port_and_url());
        // Slowed so that aria2c's second connection starts before the first has it all.
        let mut a_args = vec!["--mirror", &b_url, "--limit-rate", "8M"];
        a_args.extend_from_slice(extra);
        let mut b_args = vec!["--mirror", &a_url, "--limit-rate", "8M"];
        b_args.extend_from_slice(extra);
        let a = replica(&a_dir, a_port, &a_args);
        let b = replica(&b_dir, b_port, &b_args);
        ready(&a, "/big.bin.meta4");
        ready(&b, "/big.bin.meta4");
        Pair {
            a,
            b,
            data,
            _dirs: dirs,
        }
    }
}

#[test]
fn aria2c_takes_one_file_from_two_replicas_through_the_metalink() {
    let pair = Pair::start(false, &[]);
    let dl = tempfile::tempdir().unwrap();
    let url = pair.a.url("/big.bin.meta4");
    let out = aria2c(
        dl.path(),
        &[
            "--follow-metalink=mem",
            "-x",
            "2",
            "-s",
            "4",
            "-k",
            "1M",
            &url,
        ],
    );
    assert!(out.status.success(), "{}", aria2_log(dl.path()));
    assert_eq!(
        sha256_file(&dl.path().join("big.bin")),
        sha256_hex(&pair.data)
    );
    assert!(
        ranged_gets(&pair.a, "/big.bin") > 0,
        "A served ranges:\n{}",
        pair.a.log()
    );
    assert!(
        ranged_gets(&pair.b, "/big.bin") > 0,
        "B served ranges:\n{}",
        pair.b.log()
    );
}

#[test]
fn a_corrupt_mirror_is_dropped_on_its_digest_or_its_bad_piece_fetched_again() {
    let pair = Pair::start(true, &[]);
    let url = pair.a.url("/big.bin.meta4");
    // (a) As aria2c asks by default (Want-Digest): B's Digest is its own bad copy's, and
    // aria2c leaves B.
    let dl = tempfile::tempdir().unwrap();
    let out = aria2c(
        dl.path(),
        &[
            "--follow-metalink=mem",
            "-x",
            "2",
            "-s",
            "4",
            "-k",
            "1M",
            &url,
        ],
    );
    let log = aria2_log(dl.path());
    assert!(out.status.success(), "{log}");
    assert_eq!(
        sha256_file(&dl.path().join("big.bin")),
        sha256_hex(&pair.data)
    );
    assert!(
        log.contains("Invalid hash found in Digest header field"),
        "{log}"
    );
    // (b) A client that does not ask for digests: aria2c takes pieces from B, finds a bad one
    // by its piece hash (from A's Metalink: B's own would describe its bad copy) and fetches it
    // again from A. A's document with B's URL first, so that B surely serves pieces (aria2c
    // may otherwise take the whole file from the first URL before its second connection).
    let dl = tempfile::tempdir().unwrap();
    let doc = String::from_utf8(ready(&pair.a, "/big.bin.meta4")).unwrap();
    let (a_url, b_url) = (pair.a.url("/big.bin"), pair.b.url("/big.bin"));
    let swapped = doc
        .replace(&a_url, "A-URL")
        .replace(&b_url, &a_url)
        .replace("A-URL", &b_url);
    let meta4 = dl.path().join("big.bin.meta4");
    fs::write(&meta4, swapped).unwrap();
    let (before_a, before_b) = (
        ranged_gets(&pair.a, "/big.bin"),
        ranged_gets(&pair.b, "/big.bin"),
    );
    let out = aria2c(
        dl.path(),
        &[
            "-x",
            "2",
            "-s",
            "4",
            "-k",
            "1M",
            "--header=Want-Digest: SHA-256;q=0",
            "-M",
            meta4.to_str().unwrap(),
        ],
    );
    let log = aria2_log(dl.path());
    assert!(out.status.success(), "{log}");
    assert_eq!(
        sha256_file(&dl.path().join("big.bin")),
        sha256_hex(&pair.data)
    );
    for line in log.lines().filter(|l| l.contains("hecksum")) {
        println!("{line}");
    }
    assert!(
        ranged_gets(&pair.b, "/big.bin") > before_b,
        "B was used:\n{}",
        pair.b.log()
    );
    assert!(log.contains("Chunk checksum validation failed"), "{log}");
    assert!(
        ranged_gets(&pair.a, "/big.bin") > before_a,
        "refetched from A"
    );
}

#[test]
fn a_damaged_copy_is_repaired_piece_by_piece_not_downloaded_again() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "film.bin", 12 << 20, 11);
    let server = Server::start(&path, &[]);
    let doc = ready(&server, "/film.bin.meta4");
    let dl = tempfile::tempdir().unwrap();
    fs::write(dl.path().join("film.bin.meta4"), &doc).unwrap();
    let mut damaged = data.clone();
    for at in [100usize, (5 << 20) + 7, (11 << 20) + 3] {
        damaged[at] ^= 0x55;
    }
    fs::write(dl.path().join("film.bin"), &damaged).unwrap();
    let before = sent_for(&server, "/film.bin");
    let meta4 = dl.path().join("film.bin.meta4");
    let out = aria2c(dl.path(), &["-V", "-M", meta4.to_str().unwrap()]);
    assert!(out.status.success(), "{}", aria2_log(dl.path()));
    assert_eq!(sha256_file(&dl.path().join("film.bin")), sha256_hex(&data));
    let sent = sent_for(&server, "/film.bin") - before;
    println!("repair: {sent} bytes sent for a {} byte file", data.len());
    assert!(
        sent <= 3 * (1 << 20) + 65_536,
        "about three pieces, not the file: {sent}"
    );

    // wget2 requeues a bad piece of a partial file and resumes the rest.
    let w = tempfile::tempdir().unwrap();
    let mut partial = data[..(8 << 20) + 5].to_vec();
    partial[(2 << 20) + 9] ^= 0x01;
    fs::write(w.path().join("film.bin"), &partial).unwrap();
    let out = Command::new("wget2")
        .args(["--metalink", "-c"])
        .arg(server.url("/film.bin.meta4"))
        .current_dir(w.path())
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("Piece 3/12 not OK - requeuing"), "{said}");
    assert_eq!(sha256_file(&w.path().join("film.bin")), sha256_hex(&data));
}

#[test]
fn replicas_with_the_same_flags_serve_the_same_metalink() {
    let dirs = tempfile::tempdir().unwrap();
    let (a, b) = (dirs.path().join("a"), dirs.path().join("b"));
    fs::create_dir(&a).unwrap();
    random_file(&a, "x.bin", 2 << 20, 12);
    fs::create_dir(&b).unwrap();
    run(Command::new("cp").arg("-p").arg(a.join("x.bin")).arg(&b));
    let flags = [
        "--mirror",
        "http://m1.example",
        "--mirror",
        "https://m2.example/x",
    ];
    let (sa, sb) = (Server::start_dir(&a, &flags), Server::start_dir(&b, &flags));
    let host = [("Host", "files.example.org:8000")];
    let (da, db) = (ready(&sa, "/x.bin.meta4"), ready(&sb, "/x.bin.meta4"));
    assert!(!da.is_empty());
    let ra = sa.get("/x.bin.meta4", &host);
    let rb = sb.get("/x.bin.meta4", &host);
    assert_eq!(ra.body, rb.body);
    assert_eq!(ra.header("etag"), rb.header("etag"));
    assert!(String::from_utf8_lossy(&ra.body).contains("http://files.example.org:8000/x.bin"));
    assert_eq!(da.len(), db.len());
    // A Host without a port (wget2's): the port the server listens on is added.
    let bare = request(sa.addr, "GET", "/x.bin.meta4", &[("Host", "127.0.0.1")]);
    let want = format!(
        "<url priority=\"1\">http://127.0.0.1:{}/x.bin</url>",
        sa.addr.port()
    );
    assert!(String::from_utf8_lossy(&bare.body).contains(&want));
}

#[test]
fn offered_to_aria2c_a_plain_url_downloads_through_the_metalink_and_others_get_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "movie.bin", 6 << 20, 13);
    let server = Server::start(&path, &["--offer-metalink"]);
    ready(&server, "/movie.bin.meta4");
    let url = server.url("/movie.bin");
    let dl = tempfile::tempdir().unwrap();
    let out = aria2c(dl.path(), &["-x", "4", &url]);
    assert!(out.status.success(), "{}", aria2_log(dl.path()));
    assert_eq!(sha256_file(&dl.path().join("movie.bin")), sha256_hex(&data));
    assert!(!dl.path().join("movie.bin.1").exists());
    let log = server.log();
    let whole = log
        .lines()
        .find(|l| l.contains("\"GET /movie.bin\" range=- 200"))
        .unwrap_or_default();
    assert!(
        whole.contains("sent="),
        "the Metalink answered the plain GET:\n{log}"
    );
    assert!(
        ranged_gets(&server, "/movie.bin") > 0,
        "then ranges:\n{log}"
    );
    // The offered answer says what it is.
    let offered = request(
        server.addr,
        "GET",
        "/movie.bin",
        &[(
            "Accept",
            "*/*,application/metalink4+xml,application/metalink+xml",
        )],
    );
    assert_eq!(
        offered.header("content-type"),
        Some("application/metalink4+xml")
    );
    assert_eq!(offered.header("vary"), Some("Accept"));
    assert!(
        offered
            .header("content-disposition")
            .unwrap()
            .contains("movie.bin.meta4")
    );
    assert_eq!(offered.header("digest"), None);
    // The type at weight 0 is a refusal; its name is case-insensitive (RFC 9110 §12.5.1).
    let refused = request(
        server.addr,
        "GET",
        "/movie.bin",
        &[
            ("Accept", "application/metalink4+xml;q=0, */*"),
            ("Range", "bytes=0-0"),
        ],
    );
    assert_eq!(refused.status, 206);
    let refused = request(
        server.addr,
        "GET",
        "/movie.bin",
        &[("Accept", "application/metalink4+xml;q=0, */*")],
    );
    assert_eq!(
        refused.header("content-type"),
        Some("application/octet-stream")
    );
    let upper = request(
        server.addr,
        "GET",
        "/movie.bin",
        &[("Accept", "Application/Metalink4+XML")],
    );
    assert_eq!(
        upper.header("content-type"),
        Some("application/metalink4+xml")
    );
    // curl and wget get the file.
    let c = tempfile::tempdir().unwrap();
    run(Command::new("curl")
        .args(["-sS", "--fail", "-O"])
        .arg(&url)
        .current_dir(c.path()));
    run(Command::new("wget")
        .args(["-q"])
        .arg(&url)
        .current_dir(c.path()));
    assert_eq!(sha256_file(&c.path().join("movie.bin")), sha256_hex(&data));
    assert_eq!(
        sha256_file(&c.path().join("movie.bin.1")),
        sha256_hex(&data)
    );
}

/// A signed file link also opens the documents that describe the file (the `Link` field on its
/// answer points at them).
#[test]
fn a_file_link_opens_its_metalink_and_torrent() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("share");
    fs::create_dir(&root).unwrap();
    random_file(&root, "big.bin", 3 << 20, 14);
    let key = dir.path().join("link.key");
    fs::write(&key, [b'k'; 40]).unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut fs::metadata(&key).unwrap().permissions(),
        0o600,
    );
    fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let key = key.to_str().unwrap();
    let server = Server::start_dir(&root, &["--signed-links", "--link-key", key]);
    let base = format!("http://{}", server.addr);
    let out = run(Command::new(BIN).arg("link").args([
        "--link-key",
        key,
        "--dir",
        root.to_str().unwrap(),
        "--base-url",
        &base,
        root.join("big.bin").to_str().unwrap(),
    ]));
    let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let path = &url[base.len()..];
    let doc = ready(&server, &format!("{path}.meta4"));
    assert!(String::from_utf8_lossy(&doc).contains(&format!("<url priority=\"1\">{url}</url>")));
    assert!(!ready(&server, &format!("{path}.torrent")).is_empty());
    let file = server.get(path, &[("Range", "bytes=0-0")]);
    let link = file
        .headers
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case("link") && v.contains("describedby"))
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(link.starts_with(&format!("<{url}.meta4>")), "{link}");
}
