//! HTTPS and HTTP/2 against the real binary with real clients: curl (HTTP/1.1, `--http2`,
//! `--http2-prior-knowledge` on a plain port), wget and aria2c resuming through TLS, openssl
//! s_client for the protocol versions and the certificate a new client sees, hostile sockets
//! (a half-sent ClientHello, plain HTTP to the TLS port), certificate reload on SIGHUP during a
//! download, `--tls-self-signed`, and bad certificate files on the command line. Every
//! certificate is made here, by a CA made here (rcgen).

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{PATIENCE, Server, eventually, random_file, run, sha256_file};

/// A CA and a leaf certificate for `localhost` and `127.0.0.1` signed by it, as PEM files.
struct Pki {
    dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn leaf(issuer: &rcgen::Issuer<'_, rcgen::KeyPair>, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, issuer)
            .unwrap();
    let (cert_path, key_path) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    fs::write(&cert_path, cert.pem()).unwrap();
    fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

fn ca() -> (rcgen::Issuer<'static, rcgen::KeyPair>, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "rangeserve test CA");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    (rcgen::Issuer::new(params, key), cert.pem())
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let (issuer, ca_pem) = ca();
    let ca = dir.path().join("ca.pem");
    fs::write(&ca, ca_pem).unwrap();
    let (cert, key) = leaf(&issuer, dir.path(), "server");
    Pki { dir, ca, cert, key }
}

fn tls_args(pki: &Pki) -> Vec<String> {
    vec![
        "--tls-cert".into(),
        pki.cert.display().to_string(),
        "--tls-key".into(),
        pki.key.display().to_string(),
    ]
}

fn start_tls(file: &Path, pki: &Pki, extra: &[&str]) -> Server {
    let mut args = tls_args(pki);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(file, &args);
    assert_eq!(server.scheme, "https");
    server
}

/// `curl -sS --fail --cacert CA EXTRA URL -o OUT -w '%{http_version}'`: the HTTP version used.
fn curl_to(ca: &Path, extra: &[&str], url: &str, out: &Path) -> String {
    let output = run(Command::new("curl")
        .args(["-sS", "--fail", "--cacert"])
        .arg(ca)
        .args(extra)
        .arg(url)
        .arg("-o")
        .arg(out)
        .args(["-w", "%{http_version}"]));
    assert!(
        output.status.success(),
        "curl {extra:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

#[test]
fn curl_downloads_exact_bytes_over_https_with_http_1_1_and_http_2() {
    let pki = pki();
    let (path, data) = random_file(pki.dir.path(), "film.mkv", 3_000_017, 1);
    let server = start_tls(&path, &pki, &[]);
    let out = pki.dir.path().join("out");
    let url = server.url("/film.mkv");
    assert_eq!(curl_to(&pki.ca, &["--http1.1"], &url, &out), "1.1");
    assert_eq!(sha256_file(&out), common::sha256_hex(&data));
    assert_eq!(curl_to(&pki.ca, &["--http2"], &url, &out), "2");
    assert_eq!(sha256_file(&out), common::sha256_hex(&data));
    // A resume over HTTP/2: the first million bytes are there, curl asks for the rest.
    fs::write(&out, &data[..1_000_000]).unwrap();
    assert_eq!(curl_to(&pki.ca, &["--http2", "-C", "-"], &url, &out), "2");
    assert_eq!(sha256_file(&out), common::sha256_hex(&data));
    eventually("the resumed range in the log", || {
        server
            .log()
            .contains("\"GET /film.mkv\" range=bytes=1000000- 206 sent=2000017/2000017")
    });
}

#[test]
fn curl_with_prior_knowledge_gets_http_2_on_a_plain_port() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "a.bin", 700_001, 2);
    let server = Server::start(&path, &[]);
    let out = dir.path().join("out");
    let output = run(Command::new("curl")
        .args(["-sS", "--fail", "--http2-prior-knowledge", "-r", "100-"])
        .arg(server.url("/a.bin"))
        .arg("-o")
        .arg(&out)
        .args(["-w", "%{http_version} %{http_code}"]));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "2 206");
    assert_eq!(sha256_file(&out), common::sha256_hex(&data[100..]));
    // And plain HTTP/1.1 on the same port as before.
    let output = run(Command::new("curl")
        .args(["-sS", "--fail"])
        .arg(server.url("/a.bin"))
        .arg("-o")
        .arg(&out)
        .args(["-w", "%{http_version}"]));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "1.1");
    assert_eq!(sha256_file(&out), common::sha256_hex(&data));
}

#[test]
fn wget_resumes_an_interrupted_download_through_tls() {
    let pki = pki();
    let (path, data) = random_file(pki.dir.path(), "big.iso", 6_000_000, 3);
    let server = start_tls(&path, &pki, &[]);
    let dl = tempfile::tempdir().unwrap();
    let out = dl.path().join("big.iso");
    let ca = format!("--ca-certificate={}", pki.ca.display());
    // Interrupted: a slow wget killed after a second.
    let first = Command::new("timeout")
        .args(["1", "wget", "-q", "--limit-rate=1m", &ca, "-O"])
        .arg(&out)
        .arg(server.url("/big.iso"))
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(124), "wget should have been cut");
    let got = fs::metadata(&out).unwrap().len();
    assert!(got > 0 && got < data.len() as u64, "a partial file: {got}");
    let second = run(Command::new("wget")
        .args(["-q", "-c", &ca, "-O"])
        .arg(&out)
        .arg(server.url("/big.iso")));
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(sha256_file(&out), common::sha256_hex(&data));
    eventually("a 206 for the rest in the log", || {
        server.log().contains(&format!(
            "\"GET /big.iso\" range=bytes={got}- 206 sent={rest}/{rest}",
            rest = data.len() as u64 - got
        ))
    });
}

#[test]
fn aria2c_fetches_in_eight_ranged_connections_through_tls() {
    let pki = pki();
    let (path, data) = random_file(pki.dir.path(), "movie.bin", 16 << 20, 4);
    let server = start_tls(&path, &pki, &[]);
    let dl = tempfile::tempdir().unwrap();
    let output = run(Command::new("aria2c")
        .args([
            "-q",
            "-x",
            "8",
            "-s",
            "8",
            "--min-split-size=1M",
            "--allow-overwrite=true",
        ])
        .arg(format!("--ca-certificate={}", pki.ca.display()))
        .arg(format!("--dir={}", dl.path().display()))
        .arg(server.url("/movie.bin")));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        sha256_file(&dl.path().join("movie.bin")),
        common::sha256_hex(&data)
    );
    let log = server.log();
    let ranged = log.lines().filter(|l| l.contains(" 206 sent=")).count();
    assert!(ranged >= 2, "aria2c should have split the download:\n{log}");
}

/// A sparse 1 GiB file with random 64 KiB blocks every 64 MiB, so a misplaced byte changes the
/// hash (zeros alone would not tell).
fn sparse_gib(dir: &Path) -> (PathBuf, String) {
    let path = dir.join("huge.img");
    let mut file = fs::File::create(&path).unwrap();
    file.set_len(1 << 30).unwrap();
    use std::io::{Seek, SeekFrom};
    for i in 0..16u64 {
        file.seek(SeekFrom::Start(i * (64 << 20) + i * 4099))
            .unwrap();
        file.write_all(&common::random_bytes(64 << 10, i + 100))
            .unwrap();
    }
    drop(file);
    let hash = sha256_file(&path);
    (path, hash)
}

#[test]
fn a_gibibyte_over_http_2_arrives_whole() {
    let pki = pki();
    let (path, hash) = sparse_gib(pki.dir.path());
    let server = start_tls(&path, &pki, &["--no-digest"]);
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "curl -sS --fail --http2 --cacert '{}' '{}' | sha256sum",
            pki.ca.display(),
            server.url("/huge.img")
        ))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).split(' ').next(),
        Some(&*hash)
    );
}

/// `openssl s_client` with `-tls1_N`: the protocol it negotiated, or `None` if the handshake
/// failed. Read from the `New, TLSv1.x, Cipher is …` line, which s_client prints as soon as the
/// handshake ends (its exit status and its session block depend on how its closing races the
/// server's session tickets); a failed handshake prints `New, (NONE), Cipher is (NONE)`.
fn s_client(server: &Server, version_flag: &str, ca: &Path) -> Option<String> {
    let output = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &server.addr.to_string(),
            version_flag,
            "-CAfile",
        ])
        .arg(ca)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let new = out.lines().find(|l| l.starts_with("New, "))?;
    let protocol = new.trim_start_matches("New, ").split(',').next()?.trim();
    protocol.starts_with("TLSv").then(|| protocol.to_string())
}

#[test]
fn only_tls_1_2_and_1_3_are_spoken() {
    let pki = pki();
    let (path, _) = random_file(pki.dir.path(), "x.bin", 1000, 5);
    let server = start_tls(&path, &pki, &[]);
    assert_eq!(s_client(&server, "-tls1_1", &pki.ca), None);
    assert_eq!(
        s_client(&server, "-tls1_2", &pki.ca).as_deref(),
        Some("TLSv1.2")
    );
    assert_eq!(
        s_client(&server, "-tls1_3", &pki.ca).as_deref(),
        Some("TLSv1.3")
    );
}

/// The SHA-256 fingerprint of the certificate a new client is shown.
fn presented_fingerprint(server: &Server) -> String {
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256",
            server.addr
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .split_once('=')
        .map(|(_, fp)| fp.to_string())
        .unwrap_or_default()
}

fn file_fingerprint(cert: &Path) -> String {
    let output = run(Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert));
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim().split_once('=').unwrap().1.to_string()
}

#[test]
fn a_half_sent_client_hello_is_dropped_after_the_header_timeout_while_others_are_served() {
    let pki = pki();
    let (path, data) = random_file(pki.dir.path(), "x.bin", 100_000, 6);
    let server = start_tls(
        &path,
        &pki,
        &["--header-timeout", "1", "--idle-timeout", "60"],
    );
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.set_read_timeout(Some(PATIENCE)).unwrap();
    // A TLS record header promising 512 bytes of handshake, and the first few of them.
    slow.write_all(&[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ])
    .unwrap();
    let started = Instant::now();
    let out = pki.dir.path().join("out");
    curl_to(&pki.ca, &[], &server.url("/x.bin"), &out);
    assert_eq!(sha256_file(&out), common::sha256_hex(&data));
    let mut rest = Vec::new();
    let read = slow.read_to_end(&mut rest);
    assert!(
        read.is_ok() || started.elapsed() < PATIENCE,
        "the half handshake should be closed, not left hanging"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed before the header timeout: {:?}",
        started.elapsed()
    );
}

#[test]
fn plain_http_and_garbage_sent_to_the_tls_port_are_closed_promptly() {
    let pki = pki();
    let (path, _) = random_file(pki.dir.path(), "x.bin", 1000, 7);
    let server = start_tls(&path, &pki, &[]);
    for garbage in [
        &b"GET /x.bin HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &b"\x00\x01\x02\x03 not a client hello at all \xff\xfe"[..],
    ] {
        let reply = common::send_raw(server.addr, garbage);
        assert!(!reply.starts_with(b"HTTP/"), "no HTTP answer in the clear");
        assert!(
            !reply.windows(5).any(|w| w == b"x.bin"),
            "nothing of the file"
        );
    }
    // The server is still fine.
    let out = pki.dir.path().join("out");
    curl_to(&pki.ca, &[], &server.url("/x.bin"), &out);
}

/// A TLS server reading copies of the pair (`live.pem`, `live.key`), which the test then changes.
fn start_with_live_files(path: &Path, pki: &Pki) -> (Server, PathBuf, PathBuf) {
    let live_cert = pki.dir.path().join("live.pem");
    let live_key = pki.dir.path().join("live.key");
    fs::copy(&pki.cert, &live_cert).unwrap();
    fs::copy(&pki.key, &live_key).unwrap();
    let server = Server::start(
        path,
        &[
            "--tls-cert",
            live_cert.to_str().unwrap(),
            "--tls-key",
            live_key.to_str().unwrap(),
        ],
    );
    (server, live_cert, live_key)
}

#[test]
fn sighup_swaps_the_certificate_while_a_download_in_flight_completes() {
    let pki = pki();
    let (path, data) = random_file(pki.dir.path(), "long.bin", 8 << 20, 8);
    // The server reads the files it was given; they are swapped in place below.
    let (server, live_cert, live_key) = start_with_live_files(&path, &pki);
    let old = file_fingerprint(&pki.cert);
    assert_eq!(presented_fingerprint(&server), old);

    // A download that takes a few seconds, begun with the old certificate.
    let out = pki.dir.path().join("out");
    let mut download = Command::new("curl")
        .args(["-sS", "--fail", "--limit-rate", "2M", "--cacert"])
        .arg(&pki.ca)
        .arg(server.url("/long.bin"))
        .arg("-o")
        .arg(&out)
        .spawn()
        .unwrap();
    eventually("the download is under way", || {
        fs::metadata(&out).is_ok_and(|m| m.len() > 0)
    });

    // A broken key first: the reload fails and the old certificate stays.
    fs::write(
        &live_key,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    server.signal("HUP");
    eventually("the failed reload is logged", || {
        server.log().contains("keeping the certificate in use")
    });
    assert_eq!(presented_fingerprint(&server), old);

    // Then a new pair from the same CA.
    let (issuer, _) = ca();
    let (new_cert, new_key) = leaf(&issuer, pki.dir.path(), "next");
    fs::copy(&new_cert, &live_cert).unwrap();
    fs::copy(&new_key, &live_key).unwrap();
    server.signal("HUP");
    let new = file_fingerprint(&new_cert);
    assert_ne!(new, old);
    eventually("new clients see the new certificate", || {
        presented_fingerprint(&server) == new
    });
    assert!(
        download.wait().unwrap().success(),
        "the download in flight was disturbed"
    );
    assert_eq!(sha256_file(&out), common::sha256_hex(&data));
    assert!(server.log().contains("reloaded the TLS certificate"));
}

/// The banner line that starts (after indentation) with `prefix` (waiting for it: the test
/// reads stdout line by line as it comes).
fn banner_line(server: &Server, prefix: &str) -> String {
    let find = || {
        server
            .banner()
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(str::to_string)
    };
    eventually(&format!("a {prefix} line in the banner"), || {
        find().is_some()
    });
    find().unwrap_or_default()
}

#[test]
fn a_self_signed_certificate_is_pinned_verbatim_by_the_banner_and_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (path, data) = random_file(dir.path(), "share.bin", 2_000_003, 9);
    let args = ["--tls-self-signed", "--state-dir", state.to_str().unwrap()];
    let mut server = Server::start(&path, &args);
    assert_eq!(server.scheme, "https");
    let fingerprint = banner_line(&server, "SHA-256 fingerprint");
    assert_eq!(
        fingerprint.strip_prefix("SHA-256 fingerprint ").unwrap(),
        presented_fingerprint(&server)
    );
    let key = state.join("tls/self-signed-key.pem");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Each client line of the banner, pasted as it is.
    for client in [
        "curl --pinnedpubkey",
        "wget --ca-certificate",
        "aria2c --ca-certificate",
    ] {
        let dl = tempfile::tempdir().unwrap();
        let line = banner_line(&server, client);
        let output = Command::new("sh")
            .arg("-c")
            .arg(&line)
            .current_dir(dl.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        assert_eq!(
            sha256_file(&dl.path().join("share.bin")),
            common::sha256_hex(&data),
            "{line}"
        );
    }
    // A pin of another key is refused: the pinned line does check.
    let pinned = banner_line(&server, "curl --pinnedpubkey");
    let at = pinned.find("sha256//").unwrap() + "sha256//".len();
    let wrong = format!(
        "{}{}{}",
        &pinned[..at],
        "A".repeat(43) + "=",
        &pinned[at + 44..]
    );
    let dl = tempfile::tempdir().unwrap();
    let refused = Command::new("sh")
        .arg("-c")
        .arg(&wrong)
        .current_dir(dl.path())
        .output()
        .unwrap();
    assert!(!refused.status.success(), "a wrong pin must fail");

    server.signal("TERM");
    server.wait_exit(PATIENCE).expect("exits on SIGTERM");
    let again = Server::start(&path, &args);
    assert_eq!(banner_line(&again, "SHA-256 fingerprint"), fingerprint);
    let pin = |line: &str| line.split('\'').nth(1).unwrap_or_default().to_string();
    assert_eq!(
        pin(&banner_line(&again, "curl --pinnedpubkey")),
        pin(&pinned)
    );
    assert_eq!(
        presented_fingerprint(&again),
        fingerprint.strip_prefix("SHA-256 fingerprint ").unwrap()
    );
}

#[test]
fn unusable_certificate_files_are_one_line_and_exit_2() {
    let pki = pki();
    let (path, _) = random_file(pki.dir.path(), "x.bin", 10, 10);
    let (issuer, _) = ca();
    let (_, other_key) = leaf(&issuer, pki.dir.path(), "other");
    let garbage = pki.dir.path().join("garbage.pem");
    fs::write(&garbage, "hello\n").unwrap();
    let missing = pki.dir.path().join("missing.pem");
    let cases: [(&Path, &Path, &Path, &str); 5] = [
        (&missing, &pki.key, &missing, "no such file"),
        (&pki.cert, &missing, &missing, "no such file"),
        (&garbage, &pki.key, &garbage, "no PEM certificate"),
        (&pki.cert, &garbage, &garbage, "no PEM private key"),
        (
            &pki.cert,
            &other_key,
            &other_key,
            "not the key of the certificate",
        ),
    ];
    for (cert, key, named, reason) in cases {
        let output = Command::new(common::BIN)
            .arg("--file")
            .arg(&path)
            .args([
                "--no-digest",
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--tls-cert",
            ])
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{cert:?} {key:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("rangeserve:"))
            .collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(
            lines[0].contains(&named.display().to_string()) && lines[0].contains(reason),
            "{reason}: {stderr}"
        );
    }
}

#[test]
fn a_changed_certificate_file_is_picked_up_without_a_signal() {
    let pki = pki();
    let (path, _) = random_file(pki.dir.path(), "x.bin", 1000, 11);
    let (server, live_cert, live_key) = start_with_live_files(&path, &pki);
    assert_eq!(presented_fingerprint(&server), file_fingerprint(&pki.cert));
    // The way certbot and friends replace them: new files renamed over the old.
    let (issuer, _) = ca();
    let (new_cert, new_key) = leaf(&issuer, pki.dir.path(), "renewed");
    fs::copy(&new_key, pki.dir.path().join("k.tmp")).unwrap();
    fs::copy(&new_cert, pki.dir.path().join("c.tmp")).unwrap();
    fs::rename(pki.dir.path().join("k.tmp"), &live_key).unwrap();
    fs::rename(pki.dir.path().join("c.tmp"), &live_cert).unwrap();
    let new = file_fingerprint(&new_cert);
    eventually("new clients see the renewed certificate", || {
        presented_fingerprint(&server) == new
    });
}

#[test]
fn a_client_that_offers_no_alpn_gets_http_1_1() {
    let pki = pki();
    let (path, _) = random_file(pki.dir.path(), "x.bin", 1000, 12);
    let server = start_tls(&path, &pki, &[]);
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'GET /x.bin HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' \
             | openssl s_client -quiet -connect {} -CAfile '{}' 2>/dev/null",
            server.addr,
            pki.ca.display()
        ))
        .output()
        .unwrap();
    let reply = String::from_utf8_lossy(&output.stdout);
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.contains("content-length: 1000\r\n"), "{reply}");
}
