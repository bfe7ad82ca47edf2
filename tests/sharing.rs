//! `--secret-path` and `--signed-links` against the real binary with real clients: misses look
//! like any miss, links survive a restart in the middle of a `wget -c` resume, a file link
//! also opens its sidecar, expired links are 410 (but a download begun before the expiry
//! finishes), altered ones 403, and one path's link never opens another.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, eventually, link, random_file, request, run, sha256_file, sha256_hex};

fn start(file: &Path, state: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["--state-dir", state.to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start(file, &args)
}

/// The URL path the banner offers for the file (the first address's line).
fn banner_url(server: &Server, name: &str) -> String {
    let find = || {
        server
            .banner()
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("http://") && l.ends_with(name))
            .map(str::to_string)
    };
    eventually("the banner's file URL", || find().is_some());
    let line = find().unwrap_or_default();
    line.split_once(&server.addr.to_string())
        .unwrap()
        .1
        .to_string()
}

/// `timeout 1 wget --limit-rate=1m` into `out`, leaving a partial file.
fn interrupted_wget(url: &str, out: &Path) -> u64 {
    let _ = Command::new("timeout")
        .args(["1", "wget", "-q", "--limit-rate=1m", "-O"])
        .arg(out)
        .arg(url)
        .output()
        .unwrap();
    std::fs::metadata(out).map_or(0, |m| m.len())
}

#[test]
fn a_secret_path_serves_only_below_its_token_and_survives_a_restart_mid_resume() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (path, data) = random_file(dir.path(), "big.iso", 5 << 20, 1);
    let server = start(&path, &state, &["--secret-path"]);
    let url_path = banner_url(&server, "/big.iso");
    let token = url_path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(token.len(), 32, "{url_path}");
    assert_eq!(url_path, format!("/{token}/big.iso"));

    let ok = request(server.addr, "GET", &url_path, &[("Range", "bytes=0-9")]);
    assert_eq!(ok.status, 206);
    // Every other path is a miss exactly like a miss under the token.
    let miss = request(server.addr, "GET", &format!("/{token}/nothing"), &[]);
    for other in [
        "/big.iso",
        "/",
        "/nothing",
        &format!("/{}/big.iso", &token[..31]),
        &format!("/x{token}/big.iso"),
    ] {
        let reply = request(server.addr, "GET", other, &[]);
        assert_eq!((reply.status, &reply.body), (404, &miss.body), "{other}");
        for field in ["content-type", "content-length", "cache-control"] {
            assert_eq!(reply.header(field), miss.header(field), "{other} {field}");
        }
    }
    let bare = request(server.addr, "GET", &format!("/{token}"), &[]);
    assert_eq!(
        (bare.status, bare.header("location")),
        (301, Some(&*format!("/{token}/")))
    );

    // A wget -c that outlives the server: interrupted, server restarted, resumed at the same URL.
    let dl = tempfile::tempdir().unwrap();
    let out = dl.path().join("big.iso");
    let got = interrupted_wget(&server.url(&url_path), &out);
    assert!(got > 0 && got < data.len() as u64);
    drop(server);
    let again = start(&path, &state, &["--secret-path"]);
    assert_eq!(
        banner_url(&again, "/big.iso"),
        url_path,
        "the same token after a restart"
    );
    let resumed = run(Command::new("wget")
        .args(["-q", "-c", "-O"])
        .arg(&out)
        .arg(again.url(&url_path)));
    assert!(resumed.status.success());
    assert_eq!(sha256_file(&out), sha256_hex(&data));
    eventually("the resume in the log", || {
        again.log().contains(&format!("range=bytes={got}- 206"))
    });
    drop(again);

    // curl -C - -O and aria2c -x 4 through the same URL.
    std::fs::write(dl.path().join("big.iso"), &data[..3_000_000]).unwrap();
    let again = start(&path, &state, &["--secret-path"]);
    let curl = run(Command::new("curl")
        .args(["-sS", "--fail", "-C", "-", "-O"])
        .arg(again.url(&url_path))
        .current_dir(dl.path()));
    assert!(curl.status.success());
    assert_eq!(sha256_file(&out), sha256_hex(&data));
    std::fs::remove_file(&out).unwrap();
    let aria = run(Command::new("aria2c")
        .args(["-q", "-x", "4", "-s", "4", "--min-split-size=1M"])
        .arg(format!("--dir={}", dl.path().display()))
        .arg(again.url(&url_path)));
    assert!(aria.status.success());
    assert_eq!(sha256_file(&out), sha256_hex(&data));
    drop(again);

    let renewed = start(&path, &state, &["--secret-path", "--new-secret"]);
    assert_ne!(banner_url(&renewed, "/big.iso"), url_path);
    assert_eq!(
        request(renewed.addr, "GET", &url_path, &[]).status,
        404,
        "the old token is gone"
    );
}

#[test]
fn listings_under_a_secret_path_link_below_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("share");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    random_file(&root.join("sub"), "a.bin", 1000, 2);
    let state = dir.path().join("state");
    let server = Server::start_dir(
        &root,
        &["--secret-path", "--state-dir", state.to_str().unwrap()],
    );
    let token = std::fs::read_to_string(state.join("secret-path"))
        .unwrap()
        .trim()
        .to_string();
    let listing = request(server.addr, "GET", &format!("/{token}/sub/"), &[]);
    assert_eq!(listing.status, 200);
    let html = String::from_utf8_lossy(&listing.body);
    assert!(html.contains(&format!("href=\"/{token}/\"")), "{html}");
    assert!(html.contains(&format!("href=\"/{token}/sub/\"")), "{html}");
    let json = request(
        server.addr,
        "GET",
        &format!("/{token}/sub/?format=json"),
        &[],
    );
    let value: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(value["entries"][0]["url"], format!("/{token}/sub/a.bin"));
    let redirect = request(server.addr, "GET", &format!("/{token}/sub"), &[]);
    assert_eq!(
        redirect.header("location"),
        Some(&*format!("/{token}/sub/"))
    );
}

#[test]
fn signed_links_open_their_file_and_sidecar_and_survive_a_restart_mid_resume() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (path, data) = random_file(dir.path(), "film.mkv", 5 << 20, 3);
    random_file(dir.path(), "other.mkv", 1000, 4);
    let server = start(&path, &state, &["--signed-links"]);
    let base = format!("http://{}", server.addr);
    let state_arg = state.to_str().unwrap();
    let urls = link(&[
        "--state-dir",
        state_arg,
        "--base-url",
        &base,
        path.to_str().unwrap(),
    ]);
    assert_eq!(urls.len(), 1);
    let url = &urls[0];
    assert!(
        url.ends_with("/film.mkv"),
        "the last segment stays the name: {url}"
    );
    let url_path = &url[base.len()..];

    // Unsigned, altered, or another path's: 403 and no bytes.
    for bad in [
        "/film.mkv".to_string(),
        url_path.replacen(".", ",", 1),
        url_path.replace("film.mkv", "other.mkv"),
    ] {
        let reply = request(server.addr, "GET", &bad, &[]);
        assert_eq!(reply.status, 403, "{bad}");
        assert_eq!(reply.body, b"this link is not valid\n");
    }

    // curl -C - -O and aria2c save under the file's name.
    let dl = tempfile::tempdir().unwrap();
    std::fs::write(dl.path().join("film.mkv"), &data[..1_000_000]).unwrap();
    let curl = run(Command::new("curl")
        .args(["-sS", "--fail", "-C", "-", "-O"])
        .arg(url)
        .current_dir(dl.path()));
    assert!(curl.status.success());
    assert_eq!(sha256_file(&dl.path().join("film.mkv")), sha256_hex(&data));
    // The sidecar through the same link: the verification recipe works (once the file, written
    // just now, has settled and been hashed).
    common::eventually("the sidecar is ready", || {
        request(server.addr, "GET", &format!("{url_path}.sha256"), &[]).status == 200
    });
    let check = Command::new("sh")
        .arg("-c")
        .arg(format!("wget -q -O - '{url}.sha256' | sha256sum -c"))
        .current_dir(dl.path())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    std::fs::remove_file(dl.path().join("film.mkv")).unwrap();
    let aria = run(Command::new("aria2c")
        .args(["-q", "-x", "4", "-s", "4", "--min-split-size=1M"])
        .arg(format!("--dir={}", dl.path().display()))
        .arg(url));
    assert!(aria.status.success());
    assert_eq!(sha256_file(&dl.path().join("film.mkv")), sha256_hex(&data));

    // A wget -c across a restart of the server, with the same link.
    let out: PathBuf = dl.path().join("again.mkv");
    let got = interrupted_wget(url, &out);
    assert!(got > 0 && got < data.len() as u64);
    drop(server);
    let again = start(&path, &state, &["--signed-links"]);
    let resumed = run(Command::new("wget")
        .args(["-q", "-c", "-O"])
        .arg(&out)
        .arg(url.replace(&base, &format!("http://{}", again.addr))));
    assert!(resumed.status.success());
    assert_eq!(sha256_file(&out), sha256_hex(&data));
}

#[test]
fn an_expired_link_is_410_but_a_download_begun_before_the_expiry_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (path, data) = random_file(dir.path(), "film.mkv", 3 << 20, 5);
    // 3 MiB at 1 MiB/s: the download outlives a 2 s link.
    let server = start(
        &path,
        &state,
        &["--signed-links", "--limit-rate", "1M", "--no-digest"],
    );
    let base = format!("http://{}", server.addr);
    let urls = link(&[
        "--state-dir",
        state.to_str().unwrap(),
        "--base-url",
        &base,
        "--expires",
        "2s",
        path.to_str().unwrap(),
    ]);
    let url = urls[0].clone();
    let out = dir.path().join("out");
    let download = run(Command::new("curl")
        .args(["-sS", "--fail", "-o"])
        .arg(&out)
        .arg(&url));
    assert!(download.status.success(), "not cut at the expiry");
    assert_eq!(sha256_file(&out), sha256_hex(&data));
    // After it: refused, a resume too.
    let url_path = url[base.len()..].to_string();
    eventually("the link expires", || {
        request(server.addr, "GET", &url_path, &[]).status == 410
    });
    let resume = request(server.addr, "GET", &url_path, &[("Range", "bytes=100-")]);
    assert_eq!(resume.status, 410);
    assert_eq!(resume.body, b"this link has expired\n");
}

#[test]
fn a_directory_link_opens_its_listing_and_everything_below_it_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("share");
    std::fs::create_dir_all(root.join("season 1/extras")).unwrap();
    std::fs::create_dir_all(root.join("season 2")).unwrap();
    let (_, a) = random_file(&root.join("season 1"), "ep1.mkv", 2000, 6);
    random_file(&root.join("season 1/extras"), "x.txt", 100, 7);
    random_file(&root.join("season 2"), "ep1.mkv", 2000, 8);
    let state = dir.path().join("state");
    let key = dir.path().join("shared.key");
    std::fs::write(&key, "a key shared by replicas, 32 bytes or more\n").unwrap();
    // Private, as a key must be (the server refuses one others can read).
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = Server::start_dir(
        &root,
        &[
            "--signed-links",
            "--link-key",
            key.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
    );
    let base = format!("http://{}", server.addr);
    let urls = link(&[
        "--link-key",
        key.to_str().unwrap(),
        "--dir",
        root.to_str().unwrap(),
        "--base-url",
        &base,
        root.join("season 1").to_str().unwrap(),
    ]);
    let url = &urls[0];
    assert!(url.ends_with("/season%201/"), "{url}");
    let prefix = &url[base.len()..];
    assert_eq!(
        request(server.addr, "GET", prefix, &[]).status,
        200,
        "the listing"
    );
    let ep = request(server.addr, "GET", &format!("{prefix}ep1.mkv"), &[]);
    assert_eq!((ep.status, sha256_hex(&ep.body)), (200, sha256_hex(&a)));
    assert_eq!(
        request(server.addr, "GET", &format!("{prefix}extras/x.txt"), &[]).status,
        200
    );
    let token = prefix.split('/').nth(1).unwrap();
    assert_eq!(
        request(
            server.addr,
            "GET",
            &format!("/{token}/season%202/ep1.mkv"),
            &[]
        )
        .status,
        403
    );
    assert_eq!(
        request(server.addr, "GET", "/season%201/ep1.mkv", &[]).status,
        403
    );
}

#[test]
fn connections_past_the_per_client_limit_get_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "big.bin", 8 << 20, 9);
    let server = Server::start(&path, &["--max-connections-per-client", "2"]);
    // Two downloads that read nothing more than their header: both in flight.
    let (first, s1, _, _) = common::begin(&server, "/big.bin", None);
    let (_second, s2, _, _) = common::begin(&server, "/big.bin", None);
    assert_eq!((s1, s2), (200, 200));
    let third = request(server.addr, "GET", "/big.bin", &[]);
    assert_eq!(third.status, 503);
    assert_eq!(third.header("retry-after"), Some("5"));
    assert!(
        third.body.starts_with(b"too many connections"),
        "no file bytes"
    );
    drop(first);
    eventually("a slot frees when a connection ends", || {
        request(server.addr, "GET", "/big.bin", &[("Range", "bytes=0-9")]).status == 206
    });
}
