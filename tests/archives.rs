//! A folder as one resumable archive, against the real binary: tar and zip read back by GNU tar,
//! bsdtar, unzip and Python with every member's bytes, names and modes; byte-identical across
//! downloads and restarts; 200 random ranges and 20 multipart requests against the full
//! download; real interrupted resumes with wget, curl and aria2c; ZIP64 with a sparse 5 GiB
//! member; a member changed mid-download cuts the connection and the resume gets the new archive.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{PATIENCE, Reply, Server, begin, random_bytes, request, run, sha256_hex};

/// A tree below `<tmp>/share` (so the root, and its archives, are named `share`), and what
/// every member must be: file bytes and modes by relative path, and the directories.
struct Share {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    files: BTreeMap<String, (Vec<u8>, u32)>,
    dirs: Vec<String>,
}

fn share() -> Share {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("share");
    let long = format!("{}.txt", "n".repeat(196));
    let mut files = BTreeMap::new();
    let dirs: Vec<String> = ["empty", "sub", "sub/deeper", "日本"]
        .iter()
        .map(|d| d.to_string())
        .collect();
    fs::create_dir(&root).unwrap();
    for dir in &dirs {
        fs::create_dir(root.join(dir)).unwrap();
    }
    let specs: Vec<(String, usize, u32)> = vec![
        ("zero.bin".into(), 0, 0o644),
        ("one.bin".into(), 1, 0o600),
        ("block-1.bin".into(), 511, 0o644),
        ("block.bin".into(), 512, 0o644),
        ("block+1.bin".into(), 513, 0o644),
        ("run.sh".into(), 300, 0o755),
        ("a file with spaces.txt".into(), 1000, 0o644),
        ("日本/語 データ.txt".into(), 4000, 0o644),
        (long, 70, 0o644),
        ("sub/mid.bin".into(), 100_000, 0o640),
        ("sub/deeper/big.bin".into(), 2_500_000, 0o644),
    ];
    for (i, (name, len, mode)) in specs.into_iter().enumerate() {
        let data = random_bytes(len, 100 + i as u64);
        let path = root.join(&name);
        fs::write(&path, &data).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        files.insert(name, (data, mode));
    }
    Share {
        _tmp: tmp,
        root,
        files,
        dirs,
    }
}

/// The whole archive once it is ready (a zip is 503 until every CRC-32 is known).
fn download(server: &Server, path: &str) -> Reply {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let reply = server.get(path, &[]);
        if reply.status != 503 {
            assert_eq!(reply.status, 200, "{path}");
            reply.assert_exact_length();
            return reply;
        }
        assert!(reply.header("retry-after").is_some());
        assert!(Instant::now() < deadline, "{path} never became ready");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks an extracted `share/` against the tree: every file's bytes and mode, every directory.
fn assert_extracted(out: &Path, share: &Share, what: &str) {
    let top = out.join("share");
    for (name, (data, mode)) in &share.files {
        let path = top.join(name);
        let got = fs::read(&path).unwrap_or_else(|e| panic!("{what}: {name}: {e}"));
        assert_eq!(sha256_hex(&got), sha256_hex(data), "{what}: {name}");
        let got_mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(got_mode, *mode, "{what}: mode of {name}");
    }
    for dir in &share.dirs {
        assert!(top.join(dir).is_dir(), "{what}: directory {dir}");
    }
}

#[test]
fn tar_and_zip_read_back_with_every_tool() {
    let share = share();
    let server = Server::start_dir(&share.root, &[]);
    let tar = download(&server, "/share.tar");
    assert_eq!(tar.header("content-type"), Some("application/x-tar"));
    assert_eq!(tar.header("accept-ranges"), Some("bytes"));
    assert_eq!(
        tar.header("content-disposition"),
        Some("attachment; filename=\"share.tar\"; filename*=UTF-8''share.tar")
    );
    assert!(tar.header("etag").unwrap().starts_with("\"tar-"));
    assert!(tar.header("last-modified").is_some());
    let zip = download(&server, "/share.zip");
    assert_eq!(zip.header("content-type"), Some("application/zip"));
    let work = tempfile::tempdir().unwrap();
    let tar_path = work.path().join("share.tar");
    let zip_path = work.path().join("share.zip");
    fs::write(&tar_path, &tar.body).unwrap();
    fs::write(&zip_path, &zip.body).unwrap();
    for (tool, args) in [
        ("tar", vec!["-xpf"]),
        ("bsdtar", vec!["-xpf"]),
        ("unzip", vec!["-q"]),
        ("bsdtar-zip", vec!["-xpf"]),
    ] {
        let out = work.path().join(tool);
        fs::create_dir(&out).unwrap();
        let (program, archive) = match tool {
            "unzip" => ("unzip", &zip_path),
            "bsdtar-zip" => ("bsdtar", &zip_path),
            other => (other, &tar_path),
        };
        run(Command::new(program)
            .args(&args)
            .arg(archive)
            .current_dir(&out));
        assert_extracted(&out, &share, tool);
    }
    let test = run(Command::new("unzip").arg("-t").arg(&zip_path));
    assert!(String::from_utf8_lossy(&test.stdout).contains("No errors detected"));
    // Python's readers, member by member.
    let script = r#"
import sys, tarfile, zipfile, hashlib, json
out = {}
with tarfile.open(sys.argv[1]) as t:
    for m in t.getmembers():
        data = t.extractfile(m).read() if m.isfile() else None
        out["tar:" + m.name] = [m.isdir(), oct(m.mode), hashlib.sha256(data).hexdigest() if data is not None else None, m.uid, m.gid]
with zipfile.ZipFile(sys.argv[2]) as z:
    assert z.testzip() is None
    for i in z.infolist():
        data = None if i.is_dir() else z.read(i)
        out["zip:" + i.filename] = [i.is_dir(), oct(i.external_attr >> 16 & 0o777), hashlib.sha256(data).hexdigest() if data is not None else None, i.compress_type, i.flag_bits & 0x800]
print(json.dumps(out))
"#;
    let py = run(Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&tar_path)
        .arg(&zip_path));
    let seen: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
    for (name, (data, mode)) in &share.files {
        let t = &seen[format!("tar:share/{name}")];
        assert_eq!(t[0], false, "{name}");
        assert_eq!(t[1], format!("0o{mode:o}"), "tar mode of {name}");
        assert_eq!(t[2], sha256_hex(data), "tar bytes of {name}");
        assert_eq!(
            (t[3].as_u64(), t[4].as_u64()),
            (Some(0), Some(0)),
            "numeric owner 0"
        );
        let z = &seen[format!("zip:share/{name}")];
        assert_eq!(z[1], format!("0o{mode:o}"), "zip mode of {name}");
        assert_eq!(z[2], sha256_hex(data), "zip bytes of {name}");
        assert_eq!(z[3], 0, "stored");
        assert_eq!(
            z[4].as_u64().unwrap() != 0,
            !name.is_ascii(),
            "UTF-8 flag of {name}"
        );
    }
    for dir in &share.dirs {
        assert_eq!(seen[format!("tar:share/{dir}")][0], true, "{dir}");
        assert_eq!(seen[format!("zip:share/{dir}/")][0], true, "{dir}");
    }
    let long = share.files.keys().find(|n| n.len() > 190).unwrap();
    assert!(
        seen.get(format!("tar:share/{long}")).is_some(),
        "a 200-byte name"
    );
}

#[test]
fn archives_are_listed_and_a_real_file_of_that_name_wins() {
    let share = share();
    let server = Server::start_dir(&share.root, &[]);
    let json: serde_json::Value =
        serde_json::from_slice(&server.get("/sub/?format=json", &[]).body).unwrap();
    assert_eq!(json["archives"]["tar"], "/sub/sub.tar");
    assert_eq!(json["archives"]["zip"], "/sub/sub.zip");
    let root: serde_json::Value =
        serde_json::from_slice(&server.get("/?format=json", &[]).body).unwrap();
    assert_eq!(root["archives"]["tar"], "/share.tar");
    let html = String::from_utf8(server.get("/sub/", &[]).body).unwrap();
    assert!(html.contains("action=\"/sub/sub.tar\"") && html.contains("action=\"/sub/sub.zip\""));
    let sub = download(&server, "/sub/sub.tar");
    let listing = run(Command::new("bash").arg("-c").arg("tar -tf -").stdin({
        let path = share.root.join("../sub.tar");
        fs::write(&path, &sub.body).unwrap();
        fs::File::open(path).unwrap()
    }));
    let names = String::from_utf8_lossy(&listing.stdout).to_string();
    assert_eq!(
        names, "sub/\nsub/deeper/\nsub/deeper/big.bin\nsub/mid.bin\n",
        "the subfolder's tree under its own name"
    );
    fs::write(share.root.join("sub/sub.tar"), b"a real file").unwrap();
    assert_eq!(server.get("/sub/sub.tar", &[]).body, b"a real file");
    assert_eq!(server.get("/sub.tar", &[]).status, 404);
    let no_digest = Server::start_dir(&share.root, &["--no-digest"]);
    assert_eq!(
        no_digest.get("/share.zip", &[]).status,
        404,
        "a zip needs CRC-32s"
    );
    assert_eq!(no_digest.get("/share.tar", &[]).status, 200);
}

#[test]
fn archives_are_byte_identical_across_downloads_and_restarts() {
    let share = share();
    let mut first = Vec::new();
    for round in 0..2 {
        let server = Server::start_dir(&share.root, &[]);
        for path in ["/share.tar", "/share.zip"] {
            let a = download(&server, path);
            let b = download(&server, path);
            assert_eq!(sha256_hex(&a.body), sha256_hex(&b.body), "{path}");
            assert_eq!(a.header("etag"), b.header("etag"));
            if round == 0 {
                first.push((sha256_hex(&a.body), a.header("etag").map(str::to_string)));
            } else {
                let i = usize::from(path.ends_with(".zip"));
                assert_eq!(first[i].0, sha256_hex(&a.body), "{path} after a restart");
                assert_eq!(
                    first[i].1.as_deref(),
                    a.header("etag"),
                    "{path} ETag after a restart"
                );
            }
        }
    }
}

fn content_range(reply: &Reply) -> (u64, u64) {
    let value = reply.header("content-range").unwrap();
    let (range, _) = value
        .strip_prefix("bytes ")
        .unwrap()
        .split_once('/')
        .unwrap();
    let (a, b) = range.split_once('-').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn random_ranges_and_multipart_match_the_full_download() {
    let share = share();
    let server = Server::start_dir(&share.root, &[]);
    for path in ["/share.tar", "/share.zip"] {
        let full = download(&server, path).body;
        let len = full.len() as u64;
        let etag = server.get(path, &[]).header("etag").unwrap().to_string();
        // Ranges that start inside a header, at a member boundary, in padding, at the end.
        let mut ranges: Vec<(u64, u64)> = vec![
            (0, 0),
            (0, 511),
            (100, 700),
            (511, 513),
            (512, 1023),
            (len - 1024, len - 1),
            (len - 1, len - 1),
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        while ranges.len() < 200 {
            let a = next(len);
            let b = (a + next(300_000)).min(len - 1);
            ranges.push((a, b));
        }
        for &(a, b) in &ranges {
            let reply = server.get(
                path,
                &[("Range", &format!("bytes={a}-{b}")), ("If-Range", &etag)],
            );
            assert_eq!(reply.status, 206, "{path} {a}-{b}");
            assert_eq!(content_range(&reply), (a, b));
            assert_eq!(
                sha256_hex(&reply.body),
                sha256_hex(&full[a as usize..=b as usize]),
                "{path} {a}-{b}"
            );
        }
        for i in 0..20 {
            let picks: Vec<(u64, u64)> = (0..3)
                .map(|k| ranges[(i * 7 + k * 31) % ranges.len()])
                .collect();
            let mut sorted = picks.clone();
            sorted.sort();
            if sorted.windows(2).any(|w| w[1].0 <= w[0].1 + 1) {
                continue; // overlapping or adjacent: the server may coalesce; covered elsewhere
            }
            let spec: Vec<String> = picks.iter().map(|(a, b)| format!("{a}-{b}")).collect();
            let reply = server.get(path, &[("Range", &format!("bytes={}", spec.join(",")))]);
            assert_eq!(reply.status, 206);
            let boundary = reply
                .header("content-type")
                .unwrap()
                .strip_prefix("multipart/byteranges; boundary=")
                .unwrap()
                .to_string();
            let parts = common::parse_multipart(&reply.body, &boundary);
            assert_eq!(parts.len(), picks.len());
            for ((_, range, data), (a, b)) in parts.iter().zip(&picks) {
                assert_eq!(range, &format!("bytes {a}-{b}/{len}"));
                assert_eq!(data, &full[*a as usize..=*b as usize]);
            }
        }
        assert_eq!(
            server
                .get(path, &[("Range", &format!("bytes={len}-"))])
                .status,
            416
        );
        let head = request(server.addr, "HEAD", path, &[]);
        assert_eq!((head.status, head.content_length()), (200, Some(len)));
        assert_eq!(server.get(path, &[("If-None-Match", &etag)]).status, 304);
    }
}

#[test]
fn real_clients_resume_an_interrupted_archive_download() {
    let share = share();
    let server = Server::start_dir(&share.root, &[]);
    for path in ["/share.tar", "/share.zip"] {
        let want = sha256_hex(&download(&server, path).body);
        let url = server.url(path);
        let name = &path[1..];
        // wget: interrupted by a time limit at 1 MB/s, then resumed.
        let dir = tempfile::tempdir().unwrap();
        let cut = Command::new("timeout")
            .args(["1", "wget", "-q", "--limit-rate=1m", &url])
            .current_dir(dir.path())
            .status()
            .unwrap();
        assert!(!cut.success());
        let partial = fs::metadata(dir.path().join(name)).unwrap().len();
        assert!(
            partial > 0 && partial < 2_700_000,
            "interrupted ({partial})"
        );
        run(Command::new("wget")
            .args(["-q", "-c", &url])
            .current_dir(dir.path()));
        assert_eq!(
            common::sha256_file(&dir.path().join(name)),
            want,
            "wget -c {path}"
        );
        // curl: a first part, then -C -.
        let dir = tempfile::tempdir().unwrap();
        run(Command::new("curl")
            .args(["-s", "-r", "0-777776", "-o", name, &url])
            .current_dir(dir.path()));
        run(Command::new("curl")
            .args(["-s", "-C", "-", "-O", &url])
            .current_dir(dir.path()));
        assert_eq!(
            common::sha256_file(&dir.path().join(name)),
            want,
            "curl -C - {path}"
        );
        // aria2c: eight connections.
        let dir = tempfile::tempdir().unwrap();
        run(Command::new("aria2c")
            .args([
                "-q",
                "-x",
                "8",
                "-s",
                "8",
                "--min-split-size=1M",
                "--allow-overwrite=true",
                &url,
            ])
            .current_dir(dir.path()));
        let saved = dir.path().join(name);
        assert_eq!(common::sha256_file(&saved), want, "aria2c {path}");
        let check = if path.ends_with(".tar") {
            Command::new("tar").arg("-tf").arg(&saved).output().unwrap()
        } else {
            Command::new("unzip")
                .arg("-t")
                .arg(&saved)
                .output()
                .unwrap()
        };
        assert!(check.status.success(), "{path} reads back");
    }
    let log = server.log();
    assert!(
        log.contains("\"GET /share.tar\" range=bytes="),
        "ranged requests were made"
    );
}

#[test]
fn a_member_changed_mid_download_cuts_it_and_the_resume_gets_the_new_archive() {
    let share = share();
    let big = share.root.join("sub/deeper/big.bin");
    fs::write(&big, random_bytes(8 << 20, 9)).unwrap();
    let server = Server::start_dir(&share.root, &["--no-digest"]);
    let original = download(&server, "/share.tar");
    let etag = original.header("etag").unwrap().to_string();
    let (mut stream, status, promised, mut got) = begin(&server, "/share.tar", None);
    assert_eq!((status, promised), (200, original.body.len() as u64));
    // Take a little, then append to the 8 MiB member before its end was sent.
    while got.len() < 300_000 {
        let mut buf = [0u8; 65536];
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    fs::OpenOptions::new()
        .append(true)
        .open(&big)
        .unwrap()
        .write_all(b"appended")
        .unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest); // a reset is a cut too
    got.extend_from_slice(&rest);
    assert!(
        (got.len() as u64) < promised,
        "the connection was cut ({} of {promised})",
        got.len()
    );
    assert_eq!(
        got,
        original.body[..got.len()],
        "what came is the original's prefix"
    );
    common::eventually("the cut is logged", || {
        server
            .log()
            .contains("changed since the archive was announced")
    });
    // The resume with the old ETag gets the new archive whole.
    let resumed = server.get(
        "/share.tar",
        &[
            ("Range", &format!("bytes={}-", got.len())),
            ("If-Range", &etag),
        ],
    );
    assert_eq!(resumed.status, 200);
    assert_ne!(resumed.header("etag"), Some(&*etag));
    assert_eq!(
        resumed.body.len(),
        original.body.len() + 512,
        "8 more bytes: one more block"
    );
    let out = tempfile::tempdir().unwrap();
    fs::write(out.path().join("new.tar"), &resumed.body).unwrap();
    run(Command::new("tar")
        .args(["-xf", "new.tar"])
        .current_dir(out.path()));
    assert_eq!(
        fs::metadata(out.path().join("share/sub/deeper/big.bin"))
            .unwrap()
            .len(),
        (8 << 20) + 8
    );
}

static ZEROS: [u8; 1 << 20] = [0; 1 << 20];

/// Downloads `path` into `file`, leaving holes where the body is zeros (a sparse 5 GiB member
/// then costs little disk).
fn download_sparse(server: &Server, path: &str, file: &Path) -> (u64, String) {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let reply = common::parse_reply(&head);
    assert_eq!(reply.status, 200, "{path}");
    let len = reply.content_length().unwrap();
    let mut out = fs::File::create(file).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            let n = stream.read(&mut buf[filled..]).unwrap();
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        // A slice comparison is one memcmp, fast even in a debug build.
        if buf[..filled] == ZEROS[..filled] {
            out.seek(SeekFrom::Current(filled as i64)).unwrap();
        } else {
            out.write_all(&buf[..filled]).unwrap();
        }
        total += filled as u64;
    }
    out.set_len(total).unwrap();
    assert_eq!(total, len, "{path}: the whole body");
    (len, reply.header("etag").unwrap_or_default().to_string())
}

#[test]
fn zip64_with_a_sparse_five_gib_member_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("huge");
    fs::create_dir(&root).unwrap();
    let member = root.join("disk.img");
    let size: u64 = 5 << 30;
    let f = fs::File::create(&member).unwrap();
    f.set_len(size).unwrap();
    f.write_all_at_end(b"end");
    fs::write(root.join("after.txt"), b"after the big one\n").unwrap();
    let server = Server::start_dir(&root, &[]);
    let work = tempfile::tempdir().unwrap();
    let zip = work.path().join("huge.zip");
    // Wait for the CRC-32s (hashing 5 GiB takes a few seconds).
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    while request(server.addr, "HEAD", "/huge.zip", &[]).status == 503 {
        assert!(Instant::now() < deadline, "the CRC-32 of 5 GiB never came");
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("CRC-32 of 5 GiB ready after {:?}", started.elapsed());
    let (len, _) = download_sparse(&server, "/huge.zip", &zip);
    println!("zip downloaded after {:?}", started.elapsed());
    assert!(len > size);
    let test = run(Command::new("unzip").arg("-t").arg(&zip));
    assert!(
        String::from_utf8_lossy(&test.stdout).contains("No errors detected"),
        "{test:?}"
    );
    println!("unzip -t done after {:?}", started.elapsed());
    // The CRC-32 the zip announces is the member's (computed here independently).
    let mut crc = crc32fast::Hasher::new();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(size >> 20) - 1 {
        crc.update(&zeros);
    }
    let mut last = vec![0u8; 1 << 20];
    let tail = last.len() - 3;
    last[tail..].copy_from_slice(b"end");
    crc.update(&last);
    let want_crc = crc.finalize();
    let script = r#"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    info = z.getinfo("huge/disk.img")
    print(info.file_size, info.CRC, z.read("huge/after.txt").decode().strip())
"#;
    let py = run(Command::new("python3").arg("-c").arg(script).arg(&zip));
    assert_eq!(
        String::from_utf8_lossy(&py.stdout).trim(),
        format!("{size} {want_crc} after the big one")
    );
    println!("zip checked after {:?}", started.elapsed());
    let tar = work.path().join("huge.tar");
    download_sparse(&server, "/huge.tar", &tar);
    let listing = run(Command::new("tar").arg("-tvf").arg(&tar));
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(
        text.contains(&size.to_string()) && text.contains("huge/disk.img"),
        "{text}"
    );
    assert!(text.contains("huge/after.txt"));
    println!("tar checked after {:?}", started.elapsed());
}

trait WriteAtEnd {
    fn write_all_at_end(&self, data: &[u8]);
}

impl WriteAtEnd for fs::File {
    fn write_all_at_end(&self, data: &[u8]) {
        use std::os::unix::fs::FileExt;
        let len = self.metadata().unwrap().len();
        self.write_all_at(data, len - data.len() as u64).unwrap();
    }
}
