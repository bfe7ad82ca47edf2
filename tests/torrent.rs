//! Issue 23: `/<path>.torrent` and `/<dir>/<dir name>.torrent` are BitTorrent v1 metainfo with
//! this server as the web seed (BEP 19); their infohash is the one `mktorrent` makes of the same
//! file or folder, every SHA-1 piece is that byte range's (across files for a folder), and
//! aria2c and libtorrent complete them from the web seed alone, with no peer, under a secret
//! path and a signed link too; replicas serve the same bytes; listings carry the magnet links.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{Server, eventually, random_file, ready, run, sha256_file, sha256_hex};

/// A small bencode reader (Python, no library): the infohash, the top-level keys, the info's
/// fields, and whether each SHA-1 piece is the SHA-1 of that range of `data_file`.
const READ: &str = r#"
import hashlib, sys
def dec(b, i=0):
    c = b[i:i+1]
    if c == b'i':
        j = b.index(b'e', i); return int(b[i+1:j]), j + 1
    if c == b'l':
        i += 1; out = []
        while b[i:i+1] != b'e':
            v, i = dec(b, i); out.append(v)
        return out, i + 1
    if c == b'd':
        i += 1; out = {}
        while b[i:i+1] != b'e':
            k, i = dec(b, i); s = i; v, i = dec(b, i); out[k] = (v, s, i)
        return out, i + 1
    j = b.index(b':', i); n = int(b[i:j]); return b[j+1:j+1+n], j + 1 + n
raw = open(sys.argv[1], 'rb').read()
top, end = dec(raw)
assert end == len(raw)
info, s, e = top[b'info']
print("infohash", hashlib.sha1(raw[s:e]).hexdigest())
print("keys", sorted(k.decode() for k in top))
import os
if b'files' in info:
    # A folder: argv[2] is it; the pieces run over its files end to end, in the listed order.
    print("name", info[b'name'][0].decode(), "folder")
    data = b''
    for f in info[b'files'][0]:
        path = [seg.decode() for seg in f[b'path'][0]]
        print("file", "/".join(path), f[b'length'][0])
        data += open(os.path.join(sys.argv[2], *path), 'rb').read()
else:
    print("name", info[b'name'][0].decode(), "length", info[b'length'][0])
    data = open(sys.argv[2], 'rb').read()
length = info[b'piece length'][0]
pieces = info[b'pieces'][0]
n = -(-len(data) // length)
assert len(pieces) == 20 * n, (len(pieces), n)
for k in range(n):
    assert pieces[20*k:20*k+20] == hashlib.sha1(data[k*length:(k+1)*length]).digest(), k
print("pieces ok", n, "of", length)
if b'url-list' in top:
    seeds = top[b'url-list'][0]
    seeds = [seeds] if isinstance(seeds, bytes) else seeds
    print("url-list", [u.decode() for u in seeds])
"#;

/// libtorrent (Debian's python3-libtorrent): adds the torrent argv[1] with no peers and no DHT,
/// saving to argv[2], and waits (60 s at most) until it is complete: the web seed alone.
const LIBTORRENT: &str = r#"
import sys, time, libtorrent as lt
ses = lt.session({"enable_dht": False, "enable_lsd": False, "enable_upnp": False,
                  "enable_natpmp": False, "listen_interfaces": "127.0.0.1:0"})
h = ses.add_torrent({"ti": lt.torrent_info(sys.argv[1]), "save_path": sys.argv[2]})
deadline = time.time() + 60
while time.time() < deadline:
    s = h.status()
    if s.is_seeding or s.progress >= 1.0:
        print("complete", s.total_wanted, "bytes from", list(h.url_seeds()))
        sys.exit(0)
    time.sleep(0.1)
print("timeout at", h.status().progress)
sys.exit(1)
"#;

fn read_torrent(torrent: &Path, data: &Path) -> String {
    let out = run(Command::new("python3")
        .arg("-c")
        .arg(READ)
        .arg(torrent)
        .arg(data));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_file_torrent_matches_mktorrent_and_its_pieces_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "film.bin", (5 << 20) + 123, 1);
    let server = Server::start(&path, &["--tracker", "udp://tracker.example:6969/announce"]);
    let torrent = ready(&server, "/film.bin.torrent");
    let reply = server.get("/film.bin.torrent", &[]);
    assert_eq!(
        reply.header("content-type"),
        Some("application/x-bittorrent")
    );
    assert!(
        reply
            .header("content-disposition")
            .unwrap()
            .contains("film.bin.torrent")
    );
    let ours = dir.path().join("ours.torrent");
    fs::write(&ours, &torrent).unwrap();
    let seen = read_torrent(&ours, &path);
    let url = server.url("/film.bin");
    assert!(seen.contains("name film.bin length 5243003"), "{seen}");
    assert!(seen.contains("pieces ok 6 of 1048576"), "{seen}");
    assert!(seen.contains(&format!("url-list ['{url}']")), "{seen}");
    assert!(
        seen.contains("keys ['announce', 'info', 'url-list']"),
        "no creation date: {seen}"
    );
    // mktorrent, same piece length (2^20) and web seed: the same infohash.
    let theirs = dir.path().join("mk.torrent");
    run(Command::new("mktorrent")
        .args(["-l", "20", "-w", &url, "-o"])
        .arg(&theirs)
        .arg(&path));
    let mk = read_torrent(&theirs, &path);
    let hash = |text: &str| text.lines().next().unwrap().to_string();
    println!("ours: {}\nmktorrent: {}", hash(&seen), hash(&mk));
    assert_eq!(hash(&seen), hash(&mk));
    // The banner prints the file's magnet: the same infohash, this URL as web seed.
    eventually("the banner's magnet line", || {
        server.banner().contains("magnet:?")
    });
    let banner = server.banner();
    let infohash = hash(&seen).trim_start_matches("infohash ").to_string();
    assert!(
        banner.contains(&format!(
            "magnet:?xt=urn:btih:{infohash}&dn=film.bin&ws=http%3A%2F%2F"
        )),
        "{banner}"
    );
    assert!(banner.contains(&format!("'{url}.torrent'")), "{banner}");

    // An empty file: no piece, as mktorrent makes it (and aria2c wants).
    let (empty, _) = random_file(dir.path(), "empty", 0, 9);
    let server = Server::start(&empty, &[]);
    let torrent = dir.path().join("empty.torrent");
    fs::write(&torrent, ready(&server, "/empty.torrent")).unwrap();
    let theirs = dir.path().join("mk-empty.torrent");
    run(Command::new("mktorrent")
        .args(["-l", "20", "-w", &server.url("/empty"), "-o"])
        .arg(&theirs)
        .arg(&empty));
    let (ours, mk) = (
        read_torrent(&torrent, &empty),
        read_torrent(&theirs, &empty),
    );
    assert!(ours.contains("pieces ok 0 of 1048576"), "{ours}");
    assert_eq!(hash(&ours), hash(&mk));
}

/// aria2c on `torrent` into `dir` with no DHT, LPD or peer exchange: the web seed alone.
fn aria2c_command(torrent: &Path, dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new("aria2c");
    cmd.args([
        "-q",
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--seed-time=0",
    ])
    .arg(format!("--dir={}", dir.display()))
    .args(extra)
    .arg(torrent);
    cmd
}

fn aria2c_torrent(torrent: &Path, dir: &Path, extra: &[&str]) -> std::process::Output {
    aria2c_command(torrent, dir, extra).output().unwrap()
}

/// aria2c at 1 MB/s killed after 2 s: a download interrupted part-way, its control file left.
fn aria2c_interrupted(torrent: &Path, dir: &Path) {
    let aria2c = aria2c_command(torrent, dir, &["--max-download-limit=1M"]);
    let _ = Command::new("timeout")
        .arg("2")
        .arg(aria2c.get_program())
        .args(aria2c.get_args())
        .status();
}

#[test]
fn aria2c_and_libtorrent_complete_a_file_from_the_web_seed_alone_and_aria2c_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "movie.bin", 6 << 20, 2);
    let server = Server::start(&path, &[]);
    let torrent = dir.path().join("movie.bin.torrent");
    fs::write(&torrent, ready(&server, "/movie.bin.torrent")).unwrap();

    // aria2c, interrupted (a slow first run killed) and run again with its control file.
    let dl = tempfile::tempdir().unwrap();
    aria2c_interrupted(&torrent, dl.path());
    let before = server
        .log()
        .matches("\"GET /movie.bin\" range=bytes=")
        .count();
    let out = aria2c_torrent(&torrent, dl.path(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(sha256_file(&dl.path().join("movie.bin")), sha256_hex(&data));
    assert!(
        server
            .log()
            .matches("\"GET /movie.bin\" range=bytes=")
            .count()
            > before,
        "ranges from the web seed:\n{}",
        server.log()
    );

    // libtorrent (Debian's python3-libtorrent), no peers, no DHT: the web seed alone.
    let lt = tempfile::tempdir().unwrap();
    let out = run(Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(LIBTORRENT)
        .arg(&torrent)
        .arg(lt.path()));
    println!("libtorrent: {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(sha256_file(&lt.path().join("movie.bin")), sha256_hex(&data));
}

#[test]
fn replicas_serve_the_same_torrent_and_aria2c_uses_both_web_seeds() {
    let dirs = tempfile::tempdir().unwrap();
    let (a, b) = (dirs.path().join("a"), dirs.path().join("b"));
    fs::create_dir(&a).unwrap();
    let (_, data) = random_file(&a, "x.bin", 24 << 20, 3);
    fs::create_dir(&b).unwrap();
    run(Command::new("cp").arg("-p").arg(a.join("x.bin")).arg(&b));
    let (a_port, b_port) = (common::free_port(), common::free_port());
    // Two addresses: aria2c counts its connections per host.
    let (a_url, b_url) = (
        format!("http://127.0.0.1:{a_port}"),
        format!("http://127.0.0.2:{b_port}"),
    );
    let start = |dir: &Path, ip: &str, port: u16| {
        let mut cmd = Command::new(common::BIN);
        cmd.arg("--dir")
            .arg(dir)
            .args(["--bind", ip, "--port", &port.to_string()])
            .args([
                "--public-url",
                &a_url,
                "--mirror",
                &b_url,
                "--limit-rate",
                "4M",
            ]);
        Server::spawn(cmd)
    };
    let (sa, sb) = (
        start(&a, "127.0.0.1", a_port),
        start(&b, "127.0.0.2", b_port),
    );
    let (ta, tb) = (ready(&sa, "/x.bin.torrent"), ready(&sb, "/x.bin.torrent"));
    assert_eq!(ta, tb, "the same flags, the same bytes, the same infohash");
    let torrent = dirs.path().join("x.torrent");
    fs::write(&torrent, &ta).unwrap();
    let seen = read_torrent(&torrent, &a.join("x.bin"));
    assert!(
        seen.contains(&format!("url-list ['{a_url}/x.bin', '{b_url}/x.bin']")),
        "{seen}"
    );
    let dl = tempfile::tempdir().unwrap();
    let out = aria2c_torrent(
        &torrent,
        dl.path(),
        &["-s", "4", "-k", "1M", "--max-connection-per-server=1"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(sha256_file(&dl.path().join("x.bin")), sha256_hex(&data));
    let ranges = |s: &Server| s.log().matches("\"GET /x.bin\" range=bytes=").count();
    assert!(
        ranges(&sa) > 0 && ranges(&sb) > 0,
        "A: {}, B: {}",
        ranges(&sa),
        ranges(&sb)
    );
}

/// `season 1/` with names whose order by path (`a.txt` before `a/x.bin`) is not a walk's, an
/// empty file, a hidden one (never listed), and a nested folder. Returns it and each visible
/// file's path below it with its bytes, in path order.
fn season(dir: &Path, scale: usize) -> (std::path::PathBuf, Vec<(&'static str, Vec<u8>)>) {
    let top = dir.join("season 1");
    fs::create_dir_all(top.join("a")).unwrap();
    fs::create_dir_all(top.join("sub/deep")).unwrap();
    let mut files = Vec::new();
    for (name, len, seed) in [
        ("B.bin", 2 * scale + 17, 11),
        ("a.txt", 10, 12),
        ("a/x.bin", scale + 5, 13),
        ("empty", 0, 14),
        ("sub/deep/c.bin", scale / 2 + 3, 15),
        ("sub/d.txt", 1000, 16),
    ] {
        let (_, data) = random_file(&top, name, len, seed);
        files.push((name, data));
    }
    random_file(&top, ".hidden", 1000, 17);
    files.sort_by_key(|(name, _)| *name);
    (top, files)
}

/// The infohash line of `read_torrent`'s output.
fn infohash(seen: &str) -> String {
    seen.lines()
        .next()
        .unwrap()
        .trim_start_matches("infohash ")
        .to_string()
}

#[test]
fn a_folder_torrent_lists_the_visible_files_by_path_and_matches_mktorrent() {
    let dir = tempfile::tempdir().unwrap();
    let (top, files) = season(dir.path(), 1 << 20);
    let server = Server::start_dir(&top, &[]);

    // The root: every visible file, by path, pieces across files; its web seed /.web-seed/.
    let root = dir.path().join("root.torrent");
    fs::write(&root, ready(&server, "/season%201.torrent")).unwrap();
    let seen = read_torrent(&root, &top);
    println!("{seen}");
    let listed: Vec<&str> = seen
        .lines()
        .filter_map(|l| l.strip_prefix("file "))
        .collect();
    let want: Vec<String> = files
        .iter()
        .map(|(name, data)| format!("{name} {}", data.len()))
        .collect();
    assert_eq!(listed, want, "the visible files, ordered by path");
    assert!(seen.contains("name season 1 folder"), "{seen}");
    assert!(seen.contains("pieces ok 4 of 1048576"), "{seen}");
    let web_seed = server.url("/.web-seed/");
    assert!(seen.contains(&format!("url-list ['{web_seed}']")), "{seen}");
    // The web seed address serves the files: what a client asks for.
    let ep = server.get("/.web-seed/season%201/a/x.bin", &[]);
    assert_eq!(
        sha256_hex(&ep.body),
        sha256_hex(&files[2].1),
        "{}",
        files[2].0
    );

    // mktorrent of the same files (a copy without the hidden one, named alike).
    let copy = dir.path().join("copy");
    run(Command::new("cp").arg("-a").arg(&top).arg(&copy));
    fs::remove_file(copy.join(".hidden")).unwrap();
    let mk = dir.path().join("mk.torrent");
    run(Command::new("mktorrent")
        .args(["-l", "20", "-n", "season 1", "-w", &web_seed, "-o"])
        .arg(&mk)
        .arg(&copy));
    let theirs = read_torrent(&mk, &copy);
    println!(
        "ours: {}\nmktorrent: {}",
        infohash(&seen),
        infohash(&theirs)
    );
    assert_eq!(infohash(&seen), infohash(&theirs));

    // A subfolder: its web seed is its parent's URL; mktorrent agrees.
    let sub = dir.path().join("sub.torrent");
    fs::write(&sub, ready(&server, "/sub/sub.torrent")).unwrap();
    let sub_seen = read_torrent(&sub, &top.join("sub"));
    assert!(
        sub_seen.contains(&format!("url-list ['{}']", server.url("/"))),
        "{sub_seen}"
    );
    let mk_sub = dir.path().join("mk-sub.torrent");
    run(Command::new("mktorrent")
        .args(["-l", "20", "-w", &server.url("/"), "-o"])
        .arg(&mk_sub)
        .arg(top.join("sub")));
    assert_eq!(
        infohash(&sub_seen),
        infohash(&read_torrent(&mk_sub, &top.join("sub")))
    );

    // The listings carry the magnets: the folder's once its torrent is made, a file's once its
    // pieces are known; the same infohashes.
    let file_torrent = dir.path().join("b.torrent");
    fs::write(&file_torrent, ready(&server, "/B.bin.torrent")).unwrap();
    let b_hash = infohash(&read_torrent(&file_torrent, &top.join("B.bin")));
    let json = String::from_utf8(server.get("/?format=json", &[]).body).unwrap();
    let sub_magnet = format!(
        "magnet:?xt=urn:btih:{}&dn=sub&ws=http%3A%2F%2F",
        infohash(&sub_seen)
    );
    assert!(json.contains(&sub_magnet), "{json}");
    assert!(json.contains("\"torrent\":\"/sub/sub.torrent\""), "{json}");
    assert!(
        json.contains("\"torrent\":\"/season%201.torrent\""),
        "{json}"
    );
    assert!(
        json.contains(&format!("magnet:?xt=urn:btih:{b_hash}&dn=B.bin&ws=")),
        "{json}"
    );
    let html = String::from_utf8(server.get("/", &[]).body).unwrap();
    assert!(
        html.contains(&sub_magnet.replace('&', "&amp;")),
        "the HTML row's link"
    );
    // A file below changes: the folder's magnet is no longer offered (its torrent is stale).
    let mut more = fs::OpenOptions::new()
        .append(true)
        .open(top.join("sub/d.txt"))
        .unwrap();
    std::io::Write::write_all(&mut more, b"more").unwrap();
    let json = String::from_utf8(server.get("/?format=json", &[]).body).unwrap();
    assert!(!json.contains(&sub_magnet), "{json}");
    let html_after = String::from_utf8(server.get("/", &[]).body).unwrap();
    assert_eq!(html.len(), html_after.len(), "the row keeps its length");
}

#[test]
fn aria2c_and_libtorrent_complete_folder_torrents_under_a_secret_path_and_a_signed_link() {
    let dir = tempfile::tempdir().unwrap();
    let (top, files) = season(dir.path(), 3 << 20);
    let state = dir.path().join("state");
    let server = Server::start_dir(
        &top,
        &["--secret-path", "--state-dir", state.to_str().unwrap()],
    );
    let root_url = server.url("/");
    eventually("the banner's secret URL", || {
        server.banner().contains(&root_url)
    });
    let banner = server.banner();
    let at = banner.find(&root_url).unwrap() + root_url.len();
    let token = banner[at..at + 32].to_string();
    let torrent = dir.path().join("season.torrent");
    fs::write(
        &torrent,
        ready(&server, &format!("/{token}/season%201.torrent")),
    )
    .unwrap();
    let seen = read_torrent(&torrent, &top);
    assert!(
        seen.contains(&format!("url-list ['{root_url}{token}/.web-seed/']")),
        "{seen}"
    );

    // aria2c from the web seed alone, interrupted and resumed with its control file.
    let dl = tempfile::tempdir().unwrap();
    aria2c_interrupted(&torrent, dl.path());
    let ranges = || {
        server
            .log()
            .lines()
            .filter(|l| l.contains("/.web-seed/season%201/") && l.contains("range=bytes="))
            .count()
    };
    let before = ranges();
    assert!(
        dl.path().join("season 1.aria2").exists() || dl.path().join("season 1").exists(),
        "the first run started"
    );
    let out = aria2c_torrent(&torrent, dl.path(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for (name, data) in &files {
        let got = dl.path().join("season 1").join(name);
        assert_eq!(sha256_file(&got), sha256_hex(data), "{name}");
    }
    assert!(!dl.path().join("season 1/.hidden").exists());
    assert!(ranges() > before, "ranges:\n{}", server.log());
    println!(
        "aria2c: {} range requests after the restart",
        ranges() - before
    );

    // libtorrent, a subfolder through a signed folder link: the link is the web seed.
    let key = dir.path().join("link.key");
    fs::write(&key, "a key for this test, thirty-two bytes or more\n").unwrap();
    fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let signed = Server::start_dir(
        &top,
        &["--signed-links", "--link-key", key.to_str().unwrap()],
    );
    let base = format!("http://{}", signed.addr);
    let urls = common::link(&[
        "--link-key",
        key.to_str().unwrap(),
        "--dir",
        top.to_str().unwrap(),
        "--base-url",
        &base,
        top.join("sub").to_str().unwrap(),
    ]);
    let prefix = urls[0][base.len()..].to_string();
    assert!(prefix.ends_with("/sub/"), "{prefix}");
    let sub = dir.path().join("sub.torrent");
    fs::write(&sub, ready(&signed, &format!("{prefix}sub.torrent"))).unwrap();
    let token = prefix.split('/').nth(1).unwrap();
    let sub_seen = read_torrent(&sub, &top.join("sub"));
    assert!(
        sub_seen.contains(&format!("url-list ['{base}/{token}/']")),
        "{sub_seen}"
    );
    let lt = tempfile::tempdir().unwrap();
    let out = run(Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(LIBTORRENT)
        .arg(&sub)
        .arg(lt.path()));
    println!("libtorrent: {}", String::from_utf8_lossy(&out.stdout));
    for (name, data) in files.iter().filter(|(n, _)| n.starts_with("sub/")) {
        assert_eq!(
            sha256_file(&lt.path().join(name)),
            sha256_hex(data),
            "{name}"
        );
    }
}

#[test]
fn links_never_reach_more_than_they_name_and_names_clients_rewrite_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("top");
    for sub in ["sub/private", ".web-seed/top", "odd"] {
        fs::create_dir_all(top.join(sub)).unwrap();
    }
    let (_, shared_file) = random_file(&top, "sub/sub", 3000, 21);
    random_file(&top, "sub/private/plans.txt", 100, 22);
    random_file(&top, "odd/plain.bin", 200_000, 23);
    // Two: libtorrent takes a torrent of one file for a single-file one (it asks the web seed
    // for `<seed><name>`), whatever its form.
    random_file(&top, "odd/second.bin", 1000, 24);
    use std::os::unix::ffi::OsStrExt as _;
    for odd in [
        &b"bad\xff.txt"[..],
        b"nl\nx",
        "bidi\u{202e}x".as_bytes(),
        b"back\\slash",
    ] {
        fs::write(
            top.join("odd").join(std::ffi::OsStr::from_bytes(odd)),
            b"odd",
        )
        .unwrap();
    }
    let key = dir.path().join("link.key");
    fs::write(&key, "a key for this test, thirty-two bytes or more\n").unwrap();
    fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let server = Server::start_dir(
        &top,
        &[
            "--signed-links",
            "--hidden",
            "--link-key",
            key.to_str().unwrap(),
        ],
    );
    let base = format!("http://{}", server.addr);
    let link = |path: &str| {
        let urls = common::link(&[
            "--link-key",
            key.to_str().unwrap(),
            "--dir",
            top.to_str().unwrap(),
            "--base-url",
            &base,
            top.join(path).to_str().unwrap(),
        ]);
        urls[0][base.len()..].to_string()
    };
    // A link to the file `sub/sub` opens that file's torrent, not the folder's.
    let file_link = link("sub/sub");
    let torrent = dir.path().join("sub.torrent");
    fs::write(&torrent, ready(&server, &format!("{file_link}.torrent"))).unwrap();
    let seen = read_torrent(&torrent, &top.join("sub/sub"));
    assert!(seen.contains("name sub length 3000"), "{seen}");
    assert_eq!(shared_file.len(), 3000);
    // A link to a real `.web-seed` folder is checked against the path the alias serves.
    let hidden_link = link(".web-seed");
    let reply = server.get(&format!("{hidden_link}top/sub/private/plans.txt"), &[]);
    assert_eq!(reply.status, 403, "{hidden_link}");

    // Names a client would rewrite are left out; libtorrent completes the rest from the web seed.
    let root_link = link("odd");
    let odd = dir.path().join("odd.torrent");
    fs::write(&odd, ready(&server, &format!("{root_link}odd.torrent"))).unwrap();
    let seen = read_torrent(&odd, &top.join("odd"));
    let listed: Vec<&str> = seen.lines().filter(|l| l.starts_with("file ")).collect();
    assert_eq!(
        listed,
        ["file plain.bin 200000", "file second.bin 1000"],
        "{seen}"
    );
    let lt = tempfile::tempdir().unwrap();
    run(Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(LIBTORRENT)
        .arg(&odd)
        .arg(lt.path()));
    assert_eq!(
        sha256_file(&lt.path().join("odd/plain.bin")),
        sha256_file(&top.join("odd/plain.bin"))
    );
}
