//! `--auth` against the real binary: every kind of path needs Basic credentials (401 with the
//! RFC 7617 challenge and no file bytes), wrong ones are logged and after more than ten in a
//! minute the address gets 429 with Retry-After, and wget, curl and aria2c resume through it.

mod common;

use std::process::Command;

use common::{Server, random_file, request, run, sha256_file, sha256_hex};

const CHALLENGE: &str = "Basic realm=\"rangeserve\", charset=\"UTF-8\"";

fn basic(user_password: &str) -> String {
    let out = run(Command::new("sh")
        .arg("-c")
        .arg(format!("printf %s '{user_password}' | base64 -w0")));
    format!("Basic {}", String::from_utf8_lossy(&out.stdout))
}

#[test]
fn every_path_needs_credentials_and_gets_no_bytes_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("share");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let (_, data) = random_file(&root, "film.mkv", 50_000, 1);
    random_file(&root.join("sub"), "b.bin", 1000, 2);
    let server = Server::start_dir(&root, &["--auth", "alice:s3cret word"]);
    common::eventually("the plain-HTTP warning in the banner", || {
        server.banner().contains("passwords travel in the clear")
    });
    for path in [
        "/film.mkv",
        "/film.mkv.sha256",
        "/",
        "/sub/",
        "/sub",
        "/SHA256SUMS",
        "/share.tar",
        "/share.zip",
        "/missing",
        "/.hidden",
    ] {
        for fields in [
            &[][..],
            &[("Authorization", basic("alice:wrong").as_str())][..],
        ] {
            let reply = request(server.addr, "GET", path, fields);
            assert_eq!(reply.status, 401, "{path} {fields:?}");
            assert_eq!(reply.header("www-authenticate"), Some(CHALLENGE), "{path}");
            assert_eq!(
                reply.body, b"authentication required\n",
                "{path}: no file bytes"
            );
        }
    }
    let auth = basic("alice:s3cret word");
    let ok = request(
        server.addr,
        "GET",
        "/film.mkv",
        &[("Authorization", &auth), ("Range", "bytes=100-")],
    );
    assert_eq!(ok.status, 206);
    assert_eq!(sha256_hex(&ok.body), sha256_hex(&data[100..]));
    assert_eq!(
        request(server.addr, "GET", "/sub/", &[("Authorization", &auth)]).status,
        200
    );
    assert_eq!(
        request(server.addr, "GET", "/missing", &[("Authorization", &auth)]).status,
        404
    );
    assert!(
        server.log().contains("wrong credentials from 127.0.0.1"),
        "{}",
        server.log()
    );
}

#[test]
fn more_than_ten_wrong_attempts_in_a_minute_get_429_for_that_address() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "f.bin", 1000, 3);
    let server = Server::start(&path, &["--auth", "bob:pw"]);
    let wrong = basic("bob:guess");
    for i in 0..10 {
        assert_eq!(
            request(server.addr, "GET", "/", &[("Authorization", &wrong)]).status,
            401,
            "attempt {i}"
        );
    }
    // Asking without credentials is not a failure.
    assert_eq!(request(server.addr, "GET", "/", &[]).status, 401);
    let eleventh = request(server.addr, "GET", "/", &[("Authorization", &wrong)]);
    assert_eq!(eleventh.status, 429);
    let retry: u64 = eleventh.header("retry-after").unwrap().parse().unwrap();
    assert!((55..=60).contains(&retry), "{retry}");
    assert!(!eleventh.body.windows(3).any(|w| w == b"f.b"));
    // Refused now even with the right password, from this address.
    let right = request(
        server.addr,
        "GET",
        "/",
        &[("Authorization", &basic("bob:pw"))],
    );
    assert_eq!(right.status, 429);
}

#[test]
fn wget_curl_and_aria2c_resume_through_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "big.iso", 6 << 20, 4);
    // The second user is given as a digest: its password never appears on the command line.
    let digest = sha256_hex(b"hunter2");
    let server = Server::start(
        &path,
        &[
            "--auth",
            "alice:wonder",
            "--auth",
            &format!("carol:sha256:{digest}"),
        ],
    );
    let url = server.url("/big.iso");
    let dl = tempfile::tempdir().unwrap();
    let out = dl.path().join("big.iso");

    std::fs::write(&out, &data[..1_000_000]).unwrap();
    let wget = run(Command::new("wget")
        .args(["-q", "-c", "--user=alice", "--password=wonder", "-O"])
        .arg(&out)
        .arg(&url));
    assert!(wget.status.success());
    assert_eq!(sha256_file(&out), sha256_hex(&data));

    std::fs::write(&out, &data[..2_000_000]).unwrap();
    let curl = run(Command::new("curl")
        .args(["-sS", "--fail", "-u", "carol:hunter2", "-C", "-", "-o"])
        .arg(&out)
        .arg(&url));
    assert!(curl.status.success());
    assert_eq!(sha256_file(&out), sha256_hex(&data));

    std::fs::remove_file(&out).unwrap();
    let aria = run(Command::new("aria2c")
        .args([
            "-q",
            "-x",
            "8",
            "-s",
            "8",
            "--min-split-size=1M",
            "--http-user=alice",
            "--http-passwd=wonder",
        ])
        .arg(format!("--dir={}", dl.path().display()))
        .arg(&url));
    assert!(aria.status.success());
    assert_eq!(sha256_file(&out), sha256_hex(&data));
    let log = server.log();
    assert!(
        log.contains("range=bytes=1000000- 206"),
        "wget resumed:\n{log}"
    );
    assert!(
        log.contains("range=bytes=2000000- 206"),
        "curl resumed:\n{log}"
    );
    assert!(
        !log.contains("wrong credentials"),
        "no client sent a wrong password:\n{log}"
    );
}
