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

/// `aria2c -x 8` of `url` into `dir` with Basic credentials; it must succeed.
fn aria2c_with_password(dir: &std::path::Path, url: &str, user: &str, password: &str) {
    run(Command::new("aria2c")
        .args(["-q", "-x", "8", "-s", "8", "--min-split-size=1M"])
        .arg(format!("--http-user={user}"))
        .arg(format!("--http-passwd={password}"))
        .arg(format!("--dir={}", dir.display()))
        .arg(url));
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
    aria2c_with_password(dl.path(), &url, "alice", "wonder");
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

/// A GET of `path` with `Authorization: auth` over a connection from the local address `from`.
fn get_from(server: &Server, from: [u8; 4], path: &str, auth: &str) -> u16 {
    use std::io::{Read as _, Write as _};
    let mut stream = common::connect_from(from.into(), server.addr);
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    common::parse_reply(&raw).status
}

/// Issue 20: the lockout is per client and user name: one attacker behind the same NAT (or
/// proxy) locks out only the name it guesses, from its own address.
#[test]
fn a_lockout_refuses_only_that_user_name_from_that_client() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "f.bin", 1000, 5);
    let server = Server::start(&path, &["--auth", "bob:pw", "--auth", "alice:pw2"]);
    let wrong = basic("bob:guess");
    let attacker = [127, 0, 0, 1];
    for _ in 0..10 {
        assert_eq!(get_from(&server, attacker, "/", &wrong), 401);
    }
    assert_eq!(get_from(&server, attacker, "/", &wrong), 429);
    assert_eq!(
        get_from(&server, attacker, "/", &basic("bob:pw")),
        429,
        "bob from there"
    );
    assert_eq!(
        get_from(&server, attacker, "/f.bin", &basic("alice:pw2")),
        200,
        "another user from the same address"
    );
    assert_eq!(
        get_from(&server, [127, 0, 0, 2], "/f.bin", &basic("bob:pw")),
        200,
        "bob from another address"
    );
    assert!(server.log().contains("for user 'bob'"), "{}", server.log());
}

/// Issue 20: `--auth-file` takes Apache htpasswd bcrypt lines (`htpasswd -B`, Debian's
/// apache2-utils), checks a password once per download (aria2c's eight connections and its
/// many requests pay for one or two bcrypt checks), and is read again on SIGHUP.
#[test]
fn an_htpasswd_file_of_bcrypt_users_is_checked_once_per_download_and_reloaded_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "big.iso", 6 << 20, 6);
    let users = dir.path().join("users");
    run(Command::new("htpasswd")
        .args(["-B", "-C", "10", "-c", "-b"])
        .arg(&users)
        .args(["carol", "s3cret word"]));
    let mut cmd = Command::new(common::BIN);
    cmd.arg("--file")
        .arg(&path)
        .args(["--bind", "127.0.0.1", "--port", "0", "--auth-file"])
        .arg(&users)
        .env("RUST_LOG", "info,rangeserve::handler::gates=debug");
    let server = Server::spawn(cmd);
    common::eventually("the plain-HTTP warning in the banner", || {
        server.banner().contains("passwords travel in the clear")
    });
    let url = server.url("/big.iso");
    assert_eq!(request(server.addr, "GET", "/big.iso", &[]).status, 401);
    let wrong = request(
        server.addr,
        "GET",
        "/big.iso",
        &[("Authorization", &basic("carol:s3cret"))],
    );
    assert_eq!(wrong.status, 401);
    let dl = tempfile::tempdir().unwrap();
    aria2c_with_password(dl.path(), &url, "carol", "s3cret word");
    assert_eq!(sha256_file(&dl.path().join("big.iso")), sha256_hex(&data));
    let log = server.log();
    let checks = log.matches("a bcrypt check for 'carol'").count();
    let requests = log.matches("\"GET /big.iso\"").count();
    println!("{checks} bcrypt checks for {requests} requests");
    // The wrong password above, then at most one per bcrypt turn for the right one.
    assert!(
        (2..=3).contains(&checks) && requests >= 8,
        "{checks} bcrypt checks for {requests} requests:\n{log}"
    );

    // A new user, and carol gone, once the file is read again.
    run(Command::new("htpasswd")
        .args(["-B", "-C", "4", "-c", "-b"])
        .arg(&users)
        .args(["dave", "pw"]));
    server.signal("HUP");
    common::eventually("dave gets in after the reload", || {
        request(
            server.addr,
            "GET",
            "/big.iso",
            &[("Authorization", &basic("dave:pw")), ("Range", "bytes=0-9")],
        )
        .status
            == 206
    });
    let carol = request(
        server.addr,
        "GET",
        "/big.iso",
        &[("Authorization", &basic("carol:s3cret word"))],
    );
    assert_eq!(carol.status, 401, "a reload forgets remembered checks");
    // A file that cannot be parsed leaves the users as they were.
    std::fs::write(&users, "dave:$apr1$x$y\n").unwrap();
    server.signal("HUP");
    common::eventually("the failed reload is logged", || {
        server.log().contains("users stay as they were")
    });
    let dave = request(
        server.addr,
        "GET",
        "/big.iso",
        &[("Authorization", &basic("dave:pw")), ("Range", "bytes=0-9")],
    );
    assert_eq!(dave.status, 206);
}

/// A bad `--auth-file` is one line and exit code 2, naming the file and the line.
#[test]
fn a_bad_auth_file_stops_the_start_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "f.bin", 10, 7);
    let users = dir.path().join("users");
    std::fs::write(&users, "# ok\nerin:$apr1$abc$def\n").unwrap();
    let out = Command::new(common::BIN)
        .arg("--file")
        .arg(&path)
        .arg("--auth-file")
        .arg(&users)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("line 2: only bcrypt entries") && stderr.contains("users"),
        "{stderr}"
    );
}

/// Issue 20 (review): guesses sent all at once do not get past the lockout while they wait for
/// their bcrypt check: a client's checks run one at a time and each looks at the lockout first.
#[test]
fn concurrent_guesses_do_not_get_past_the_lockout() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "f.bin", 1000, 8);
    let users = dir.path().join("users");
    run(Command::new("htpasswd")
        .args(["-B", "-C", "6", "-c", "-b"])
        .arg(&users)
        .args(["bob", "right"]));
    let mut cmd = Command::new(common::BIN);
    cmd.arg("--file")
        .arg(&path)
        .args(["--bind", "127.0.0.1", "--port", "0", "--auth-file"])
        .arg(&users)
        .env("RUST_LOG", "info,rangeserve::handler::gates=debug");
    let server = Server::spawn(cmd);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let guesses: Vec<_> = (0..30)
            .map(|i| {
                let server = &server;
                scope.spawn(move || {
                    get_from(
                        server,
                        [127, 0, 0, 1],
                        "/",
                        &basic(&format!("bob:guess{i}")),
                    )
                })
            })
            .collect();
        guesses.into_iter().map(|g| g.join().unwrap()).collect()
    });
    assert!(
        statuses.iter().all(|&s| s == 401 || s == 429),
        "{statuses:?}"
    );
    let checks = server.log().matches("a bcrypt check for 'bob'").count();
    println!("{checks} bcrypt checks for 30 concurrent guesses: {statuses:?}");
    assert!(checks <= 12, "{checks} guesses were checked");
    assert_eq!(
        get_from(&server, [127, 0, 0, 1], "/", &basic("bob:right")),
        429
    );
}
