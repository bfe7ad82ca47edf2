//! More than one machine: replicas of the same bytes agree on the ETag once digests are known
//! (and from the first request after a restart with stored digests), behind a real nginx caching
//! proxy with `slice` (no "etag mismatch", exact bytes, a real `wget -c` resume through it) where
//! inode-based tags break; a same-size, same-mtime replacement never splices; an in-place
//! overwrite cuts the response before a byte of the new version; `--cache-control`.

mod common;

use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{PATIENCE, Server, random_bytes, request, run, sha256_hex};

/// A folder holding one file, copied (`cp`, preserving nothing) into a second folder: same
/// bytes, other inode, other mtime.
struct Copies {
    tmp: tempfile::TempDir,
    data: Vec<u8>,
}

impl Copies {
    fn new(len: usize) -> Copies {
        let tmp = tempfile::tempdir().unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let data = random_bytes(len, 77);
        for replica in ["a", "b"] {
            fs::create_dir(tmp.path().join(replica)).unwrap();
        }
        fs::write(tmp.path().join("a/film.mkv"), &data).unwrap();
        std::thread::sleep(Duration::from_millis(20)); // a different mtime, surely
        run(Command::new("cp")
            .arg(tmp.path().join("a/film.mkv"))
            .arg(tmp.path().join("b/film.mkv")));
        Copies { tmp, data }
    }

    fn dir(&self, replica: &str) -> PathBuf {
        self.tmp.path().join(replica)
    }
}

fn etag(server: &Server, path: &str) -> String {
    let reply = request(server.addr, "HEAD", path, &[]);
    assert_eq!(reply.status, 200);
    reply.header("etag").unwrap().to_string()
}

/// Polls until the server sends the content-derived tag (its digest is known).
fn content_etag(server: &Server, path: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let tag = etag(server, path);
        if tag.starts_with("\"sha256-") {
            return tag;
        }
        assert!(
            Instant::now() < deadline,
            "no content tag for {path}: {tag}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn replicas_of_the_same_bytes_agree_on_the_etag_and_keep_agreeing_after_a_restart() {
    let copies = Copies::new(3 << 20);
    let (ia, ib) = (
        fs::metadata(copies.dir("a").join("film.mkv")).unwrap(),
        fs::metadata(copies.dir("b").join("film.mkv")).unwrap(),
    );
    use std::os::unix::fs::MetadataExt;
    assert_ne!((ia.ino(), ia.mtime_nsec()), (ib.ino(), ib.mtime_nsec()));
    let states = tempfile::tempdir().unwrap();
    let state = |r: &str| states.path().join(r).to_string_lossy().to_string();
    let first = {
        let a = Server::start_dir(&copies.dir("a"), &["--state-dir", &state("a")]);
        let b = Server::start_dir(&copies.dir("b"), &["--state-dir", &state("b")]);
        let (ta, tb) = (content_etag(&a, "/film.mkv"), content_etag(&b, "/film.mkv"));
        assert_eq!(ta, tb, "same bytes, same tag, whatever the inode and mtime");
        assert_eq!(
            ta,
            format!("\"sha256-{}\"", &sha256_hex(&copies.data)[..32])
        );
        ta
    };
    // Restarted with their stored digests: they agree from the very first request.
    let a = Server::start_dir(&copies.dir("a"), &["--state-dir", &state("a")]);
    let b = Server::start_dir(&copies.dir("b"), &["--state-dir", &state("b")]);
    assert_eq!(etag(&a, "/film.mkv"), first);
    assert_eq!(etag(&b, "/film.mkv"), first);
    // A client that got the tag from one resumes against the other.
    let resumed = request(
        b.addr,
        "GET",
        "/film.mkv",
        &[("Range", "bytes=1000000-"), ("If-Range", &first)],
    );
    assert_eq!(resumed.status, 206);
    assert_eq!(resumed.body, copies.data[1_000_000..]);
}

#[test]
fn a_provisional_tag_still_resumes_once_the_content_tag_exists() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("huge.img");
    // Sparse and large: hashed for seconds, so the first answers carry the provisional tag.
    let f = fs::File::create(&path).unwrap();
    f.set_len(3 << 30).unwrap();
    f.write_all_at(b"tail", (3 << 30) - 4).unwrap();
    let server = Server::start_dir(tmp.path(), &[]);
    // Strong once the file has settled (2 s), before its hash (seconds) is done.
    let provisional = common::settled_etag(&server, "/huge.img");
    assert!(!provisional.starts_with("\"sha256-"), "{provisional}");
    let content = content_etag(&server, "/huge.img");
    assert_ne!(content, provisional);
    let reply = request(
        server.addr,
        "GET",
        "/huge.img",
        &[("Range", "bytes=-4"), ("If-Range", &provisional)],
    );
    assert_eq!((reply.status, &reply.body[..]), (206, &b"tail"[..]));
    assert_eq!(reply.header("etag"), Some(&*content));
    for tag in [&provisional, &content] {
        let not_modified = request(server.addr, "HEAD", "/huge.img", &[("If-None-Match", tag)]);
        assert_eq!(not_modified.status, 304, "{tag}");
    }
    let other = request(
        server.addr,
        "GET",
        "/huge.img",
        &[
            ("Range", "bytes=-4"),
            ("If-Range", "\"sha256-00000000000000000000000000000000\""),
        ],
    );
    assert_eq!(other.status, 200, "another content's tag never matches");
}

#[test]
fn a_same_size_same_mtime_replacement_is_never_spliced() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("v.bin");
    let old = random_bytes(2 << 20, 1);
    fs::write(&path, &old).unwrap();
    let server = Server::start_dir(tmp.path(), &[]);
    let old_tag = content_etag(&server, "/v.bin");
    let provisional_old = {
        // The provisional tag this version had, as a client that came early would hold it.
        let no_digest = Server::start_dir(tmp.path(), &["--no-digest"]);
        etag(&no_digest, "/v.bin")
    };
    let new = random_bytes(2 << 20, 2);
    let staged = tmp.path().join(".staged");
    fs::write(&staged, &new).unwrap();
    run(Command::new("touch").arg("-r").arg(&path).arg(&staged));
    fs::rename(&staged, &path).unwrap();
    for tag in [&old_tag, &provisional_old] {
        let reply = request(
            server.addr,
            "GET",
            "/v.bin",
            &[("Range", "bytes=1048576-"), ("If-Range", tag)],
        );
        assert_eq!(
            reply.status, 200,
            "{tag}: the new file whole, never a splice"
        );
        assert_eq!(sha256_hex(&reply.body), sha256_hex(&new));
    }
    assert_ne!(content_etag(&server, "/v.bin"), old_tag);
}

#[test]
fn an_in_place_overwrite_mid_download_cuts_it_before_any_new_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("big.bin");
    let block = random_bytes(1 << 20, 5);
    let len = 256usize << 20;
    {
        let f = fs::File::create(&path).unwrap();
        for i in 0..256u64 {
            f.write_all_at(&block, i << 20).unwrap();
        }
    }
    let server = Server::start_dir(tmp.path(), &["--no-digest"]);
    let (mut stream, status, promised, mut got) = common::begin(&server, "/big.bin", None);
    assert_eq!((status, promised), (200, len as u64));
    while got.len() < 8 << 20 {
        let mut buf = [0u8; 65536];
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    // A tool that writes into the existing file (same inode), far ahead of what was sent.
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(&vec![0xEE; 4 << 20], 128 << 20).unwrap();
    if let Err(err) = stream.read_to_end(&mut got) {
        println!("cut by a reset: {err}");
    }
    assert!(
        got.len() < len,
        "cut before the last byte ({} of {len})",
        got.len()
    );
    for (i, chunk) in got.chunks(1 << 20).enumerate() {
        assert_eq!(chunk, &block[..chunk.len()], "MiB {i} is the original's");
    }
    common::eventually("the cut is logged", || {
        server.log().contains("the file changed while it was sent")
    });
}

#[test]
fn cache_control_goes_on_files_and_archives_and_no_cache_on_what_changes_with_the_tree() {
    let copies = Copies::new(10_000);
    let server = Server::start_dir(
        &copies.dir("a"),
        &["--cache-control", "public, max-age=3600"],
    );
    for path in ["/film.mkv", "/a.tar"] {
        let reply = request(server.addr, "GET", path, &[]);
        assert_eq!(
            reply.header("cache-control"),
            Some("public, max-age=3600"),
            "{path}"
        );
    }
    content_etag(&server, "/film.mkv");
    for path in ["/", "/?format=json", "/film.mkv.sha256", "/SHA256SUMS"] {
        let reply = request(server.addr, "GET", path, &[]);
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("cache-control"), Some("no-cache"), "{path}");
    }
    assert_eq!(
        request(server.addr, "GET", "/", &[]).header("vary"),
        Some("Accept")
    );
}

/// A real nginx on loopback: a caching proxy with `slice 1m` in front of two replicas,
/// round-robin (the configuration the README gives).
struct Nginx {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Nginx {
    fn start(upstreams: &[&Server]) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let servers: String = upstreams
            .iter()
            .map(|s| format!("        server {};\n", s.addr))
            .collect();
        let root = dir.path().display();
        let config = format!(
            "worker_processes 1;\n\
             daemon off;\n\
             pid {root}/nginx.pid;\n\
             error_log {root}/error.log info;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
             \x20   access_log off;\n\
             \x20   client_body_temp_path {root}/body;\n\
             \x20   proxy_temp_path {root}/proxy;\n\
             \x20   fastcgi_temp_path {root}/fastcgi;\n\
             \x20   uwsgi_temp_path {root}/uwsgi;\n\
             \x20   scgi_temp_path {root}/scgi;\n\
             \x20   proxy_cache_path {root}/cache levels=1:2 keys_zone=slices:10m max_size=1g inactive=1h use_temp_path=off;\n\
             \x20   upstream replicas {{\n{servers}    }}\n\
             \x20   server {{\n\
             \x20       listen 127.0.0.1:{port};\n\
             \x20       location / {{\n\
             \x20           slice 1m;\n\
             \x20           proxy_cache slices;\n\
             \x20           proxy_cache_key $uri$slice_range;\n\
             \x20           proxy_set_header Range $slice_range;\n\
             \x20           proxy_cache_valid 200 206 1h;\n\
             \x20           proxy_http_version 1.1;\n\
             \x20           proxy_pass http://replicas;\n\
             \x20       }}\n\
             \x20   }}\n\
             }}\n"
        );
        fs::write(dir.path().join("nginx.conf"), &config).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so stopping it stops its workers and cache manager too.
            .process_group(0)
            .spawn()
            .expect("nginx (Debian nginx-light; .ci/run installs it)");
        let nginx = Nginx { child, port, dir };
        common::eventually("nginx listens", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        nginx
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn error_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Nginx {
    /// The processes of its group still alive (master, workers, cache manager and loader).
    fn group_alive(pgid: u32) -> bool {
        Command::new("pgrep")
            .arg("-g")
            .arg(pgid.to_string())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Nginx {
    /// A fast shutdown (SIGTERM to the whole group: the master would otherwise leave orphaned
    /// workers and a cache manager running after the test run), then SIGKILL for whatever is
    /// left after five seconds.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Nginx::group_alive(self.child.id()) && Instant::now() < deadline {
            let _ = self.child.try_wait();
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// Issue 20: stopping the test's nginx leaves none of its processes behind.
#[test]
fn a_stopped_nginx_leaves_no_worker_or_cache_manager_running() {
    let copies = Copies::new(1 << 16);
    let a = Server::start_dir(&copies.dir("a"), &[]);
    let nginx = Nginx::start(&[&a]);
    let pgid = nginx.child.id();
    common::eventually("nginx started its worker and cache manager", || {
        let out = Command::new("pgrep")
            .arg("-g")
            .arg(pgid.to_string())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count() >= 3
    });
    drop(nginx);
    common::eventually("no process of nginx's group is left", || {
        !Nginx::group_alive(pgid)
    });
}

/// A full curl download through the proxy; its bytes (whatever came).
fn curl_through(nginx: &Nginx, dest: &Path) -> Vec<u8> {
    let status = Command::new("curl")
        .args(["-s", "-o"])
        .arg(dest)
        .arg(nginx.url("/film.mkv"))
        .status()
        .unwrap();
    println!("curl through nginx: {status}");
    fs::read(dest).unwrap_or_default()
}

#[test]
fn behind_nginx_slice_caching_replicas_serve_exact_bytes_and_a_wget_resume_completes() {
    let copies = Copies::new(8 << 20);
    let a = Server::start_dir(&copies.dir("a"), &[]);
    let b = Server::start_dir(&copies.dir("b"), &[]);
    let tag = content_etag(&a, "/film.mkv");
    assert_eq!(content_etag(&b, "/film.mkv"), tag);
    let nginx = Nginx::start(&[&a, &b]);
    let out = tempfile::tempdir().unwrap();
    let got = curl_through(&nginx, &out.path().join("curl.mkv"));
    assert_eq!(
        sha256_hex(&got),
        sha256_hex(&copies.data),
        "curl through the proxy"
    );
    // Both replicas served slices (round-robin), so agreement was really tested.
    for replica in [&a, &b] {
        assert!(
            replica.log().contains("range=bytes="),
            "each replica served slices"
        );
    }
    // wget: interrupted, then resumed through the proxy (a new cache key for a new proxy, so the
    // slices come from the replicas again).
    drop(nginx);
    let nginx = Nginx::start(&[&b, &a]);
    let url = nginx.url("/film.mkv");
    let cut = Command::new("timeout")
        .args(["1", "wget", "-q", "--limit-rate=2m", &url])
        .current_dir(out.path())
        .status()
        .unwrap();
    assert!(!cut.success(), "the first attempt was cut");
    let partial = fs::metadata(out.path().join("film.mkv")).map_or(0, |m| m.len());
    assert!(partial < 8 << 20, "partial ({partial})");
    run(Command::new("wget")
        .args(["-q", "-c", &url])
        .current_dir(out.path()));
    assert_eq!(
        common::sha256_file(&out.path().join("film.mkv")),
        sha256_hex(&copies.data),
        "wget -c through the proxy"
    );
    let log = nginx.error_log();
    assert!(!log.contains("etag mismatch"), "{log}");
}

#[test]
fn behind_nginx_slice_inode_based_tags_break_the_download() {
    // The control: --no-digest replicas send only the provisional (inode-based) tag, as every
    // version of rangeserve before content tags did. nginx must notice.
    let copies = Copies::new(8 << 20);
    let a = Server::start_dir(&copies.dir("a"), &["--no-digest"]);
    let b = Server::start_dir(&copies.dir("b"), &["--no-digest"]);
    assert_ne!(etag(&a, "/film.mkv"), etag(&b, "/film.mkv"));
    let nginx = Nginx::start(&[&a, &b]);
    let out = tempfile::tempdir().unwrap();
    let got = curl_through(&nginx, &out.path().join("curl.mkv"));
    assert_ne!(
        sha256_hex(&got),
        sha256_hex(&copies.data),
        "the download breaks"
    );
    common::eventually("nginx reports the mismatch", || {
        nginx
            .error_log()
            .contains("etag mismatch in slice response")
    });
}
