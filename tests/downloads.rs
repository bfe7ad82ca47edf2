//! Issue 24: downloads counted by the bytes a client holds — through `aria2c -x 8`, an
//! interrupted `wget -c` and a restart, two clients on two addresses — with `--downloads N`
//! links (410 once used), the `--on-complete` hook (exact environment; failing, slow and
//! hostile names change nothing), and the `/downloads` page (Chromium at phone width; its JSON
//! agrees with the access log).

mod common;

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use common::{BIN, Server, eventually, random_file, ready, request, run, sha256_file, sha256_hex};

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
    key: PathBuf,
    hooks: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("srv");
    let (state, hooks) = (dir.path().join("state"), dir.path().join("hooks"));
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&hooks).unwrap();
    let key = dir.path().join("link.key");
    fs::write(&key, "a key for this test, thirty-two bytes or more\n").unwrap();
    fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    Setup {
        _dir: dir,
        root,
        state,
        key,
        hooks,
    }
}

/// A file whose mtime is an hour old (so it is hashed at once: no racy window).
fn old_file(dir: &Path, name: &str, len: usize, seed: u64) -> Vec<u8> {
    let (path, data) = random_file(dir, name, len, seed);
    let file = fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    data
}

const HOOK: &str = r#"env | grep '^RANGESERVE_' | sort > "$HOOK_DIR/run.$$""#;

/// `rangeserve --dir ROOT --signed-links` with the setup's key, state and hook, a metrics
/// listener on `metrics`, on `port` (0: any).
fn start(s: &Setup, port: u16, metrics: u16, hook: &str, extra: &[&str]) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.arg("--dir")
        .arg(&s.root)
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--signed-links", "--link-key"])
        .arg(&s.key)
        .arg("--state-dir")
        .arg(&s.state)
        .args(["--metrics", &format!("127.0.0.1:{metrics}")])
        .args(["--on-complete", hook])
        .args(extra)
        .env("HOOK_DIR", &s.hooks);
    Server::spawn(cmd)
}

/// Stops a server as a restart does (SIGTERM: in-flight responses end, their bytes are kept).
fn restart(server: &mut Server) {
    server.signal("TERM");
    assert!(
        server.wait_exit(common::PATIENCE).is_some(),
        "the server stops"
    );
}

fn link(s: &Setup, server: &Server, file: &str, downloads: &str) -> String {
    let base = format!("http://{}", server.addr);
    let urls = common::link(&[
        "--link-key",
        s.key.to_str().unwrap(),
        "--dir",
        s.root.to_str().unwrap(),
        "--state-dir",
        s.state.to_str().unwrap(),
        "--base-url",
        &base,
        "--downloads",
        downloads,
        s.root.join(file).to_str().unwrap(),
    ]);
    urls[0].clone()
}

/// What `rangeserve links` prints for the setup's state directory.
fn links(s: &Setup) -> String {
    let out = run(Command::new(BIN)
        .args(["links", "--state-dir"])
        .arg(&s.state));
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn hook_runs(s: &Setup) -> Vec<String> {
    let mut runs: Vec<String> = fs::read_dir(&s.hooks)
        .unwrap()
        .map(|e| fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    runs.sort();
    runs
}

fn downloads_json(metrics: u16) -> serde_json::Value {
    let addr: SocketAddr = format!("127.0.0.1:{metrics}").parse().unwrap();
    let reply = request(addr, "GET", "/downloads?format=json", &[]);
    assert_eq!(reply.status, 200);
    serde_json::from_slice(&reply.body).unwrap()
}

/// `curl` from the address `from`, with extra arguments; its HTTP status.
fn curl_from(from: &str, url: &str, args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "--interface", from, "-w", "%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn aria2c_x8_through_a_one_download_link_counts_once_and_the_link_is_then_used() {
    let s = setup();
    let data = old_file(&s.root, "film.bin", 6 << 20, 1);
    let metrics = common::free_port();
    let server = start(&s, 0, metrics, HOOK, &[]);
    let url = link(&s, &server, "film.bin", "1");
    let path = &url[format!("http://{}", server.addr).len()..];
    // Its digest first, so the hook can report it.
    ready(&server, &format!("{path}.sha256"));
    let dl = tempfile::tempdir().unwrap();
    let out = Command::new("aria2c")
        .args([
            "-q",
            "-x",
            "8",
            "-s",
            "8",
            "-k",
            "1M",
            "--allow-overwrite=true",
        ])
        .arg(format!("--dir={}", dl.path().display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(sha256_file(&dl.path().join("film.bin")), sha256_hex(&data));
    let ranges = server.log().matches("range=bytes=").count();
    assert!(ranges >= 4, "aria2c used ranges: {}", server.log());

    eventually("the hook ran", || !hook_runs(&s).is_empty());
    let runs = hook_runs(&s);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let links = links(&s);
    let id = links
        .lines()
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert!(
        links.contains("1/1") && links.contains("/film.bin"),
        "{links}"
    );
    let env: Vec<&str> = runs[0].lines().collect();
    let seconds = env
        .iter()
        .find_map(|l| l.strip_prefix("RANGESERVE_SECONDS="))
        .unwrap();
    assert!(seconds.parse::<f64>().unwrap() >= 0.0);
    assert_eq!(
        env,
        [
            "RANGESERVE_BYTES=6291456".to_string(),
            "RANGESERVE_CLIENT=127.0.0.1".to_string(),
            format!("RANGESERVE_LINK={id}"),
            "RANGESERVE_PATH=film.bin".to_string(),
            format!("RANGESERVE_SECONDS={seconds}"),
            format!("RANGESERVE_SHA256={}", sha256_hex(&data)),
        ]
    );
    let json = downloads_json(metrics);
    assert_eq!(json["files"][0]["path"], "film.bin");
    assert_eq!(json["files"][0]["since_start"], 1);

    // The link is used: another client gets 410 (HEAD too); the client that holds its copy may
    // fetch again, and is not counted again.
    assert_eq!(curl_from("127.0.0.2", &url, &["-o", "/dev/null"]), "410");
    assert_eq!(
        curl_from("127.0.0.2", &url, &["-I", "-o", "/dev/null"]),
        "410"
    );
    assert_eq!(curl_from("127.0.0.1", &url, &["-o", "/dev/null"]), "200");
    assert_eq!(downloads_json(metrics)["completed_since_start"], 1);
    assert_eq!(hook_runs(&s).len(), 1);
    let log = server.log();
    assert!(log.contains("complete=true"), "{log}");
    assert!(
        !log.contains(path.split('/').nth(1).unwrap()),
        "the token is not logged"
    );
    println!(
        "aria2c -x 8: {ranges} ranges, 1 download counted, hook: {}",
        runs[0].replace('\n', " ")
    );
}

#[test]
fn an_interrupted_wget_resumed_across_a_restart_counts_once() {
    let s = setup();
    let data = old_file(&s.root, "iso.bin", 3 << 20, 2);
    let (port, metrics) = (common::free_port(), common::free_port());
    let mut server = start(&s, port, metrics, HOOK, &["--limit-rate", "1M"]);
    let url = link(&s, &server, "iso.bin", "1");
    let dl = tempfile::tempdir().unwrap();
    let wget = |limit: Option<&str>| {
        let mut cmd = Command::new("timeout");
        cmd.args([limit.unwrap_or("60"), "wget", "-q", "-c", "-O"])
            .arg(dl.path().join("iso.bin"))
            .arg(&url);
        cmd.status().unwrap()
    };
    let size = || fs::metadata(dl.path().join("iso.bin")).map_or(0, |m| m.len());
    // Interrupted twice (killed after about a second each, at 1 MB/s), a restart in between.
    wget(Some("1"));
    let first = size();
    assert!(first > 0 && first < data.len() as u64, "{first}");
    restart(&mut server);
    server = start(&s, port, metrics, HOOK, &["--limit-rate", "1M"]);
    wget(Some("1"));
    let second = size();
    assert!(second > first && second < data.len() as u64, "{second}");
    restart(&mut server);
    server = start(&s, port, metrics, HOOK, &[]);
    assert!(wget(None).success());
    assert_eq!(sha256_file(&dl.path().join("iso.bin")), sha256_hex(&data));
    eventually("the hook ran", || !hook_runs(&s).is_empty());
    assert_eq!(downloads_json(metrics)["files"][0]["total"], 1);
    assert!(links(&s).contains("1/1"));
    // A restart neither forgets nor counts it again.
    restart(&mut server);
    let server = start(&s, port, metrics, HOOK, &[]);
    assert_eq!(downloads_json(metrics)["files"][0]["total"], 1);
    assert_eq!(curl_from("127.0.0.2", &url, &["-o", "/dev/null"]), "410");
    assert_eq!(hook_runs(&s).len(), 1);
    println!("wget -c: {first} then {second} bytes before the restarts; counted once");
    drop(server);
}

#[test]
fn two_downloads_for_two_clients_and_partial_or_head_fetches_are_not_counted() {
    let s = setup();
    let data = old_file(&s.root, "pack.bin", 2 << 20, 3);
    let metrics = common::free_port();
    let server = start(&s, 0, metrics, HOOK, &[]);
    let url = link(&s, &server, "pack.bin", "2");
    let dl = tempfile::tempdir().unwrap();
    let out = |name: &str| dl.path().join(name).to_str().unwrap().to_string();
    assert_eq!(curl_from("127.0.0.1", &url, &["-o", &out("a")]), "200");
    assert_eq!(sha256_file(Path::new(&out("a"))), sha256_hex(&data));
    // 127.0.0.2 fetches the first MiB only, 127.0.0.3 asks with HEAD: neither counts.
    assert_eq!(
        curl_from("127.0.0.2", &url, &["-r", "0-1048575", "-o", &out("b")]),
        "206"
    );
    assert_eq!(
        curl_from("127.0.0.3", &url, &["-I", "-o", "/dev/null"]),
        "200"
    );
    assert_eq!(downloads_json(metrics)["completed_since_start"], 1);
    // 127.0.0.2 resumes to the end: two clients hold it, the link is used.
    assert_eq!(
        curl_from("127.0.0.2", &url, &["-C", "-", "-o", &out("b")]),
        "206"
    );
    assert_eq!(sha256_file(Path::new(&out("b"))), sha256_hex(&data));
    assert_eq!(downloads_json(metrics)["completed_since_start"], 2);
    assert_eq!(curl_from("127.0.0.3", &url, &["-o", "/dev/null"]), "410");
    eventually("two hook runs", || hook_runs(&s).len() == 2);
    let clients: Vec<bool> = ["127.0.0.1", "127.0.0.2"]
        .iter()
        .map(|c| {
            hook_runs(&s)
                .iter()
                .any(|r| r.contains(&format!("RANGESERVE_CLIENT={c}\n")))
        })
        .collect();
    assert_eq!(clients, [true, true]);
}

#[test]
fn failing_slow_and_hostile_hooks_change_nothing_for_clients() {
    let s = setup();
    let hostile = "$(touch pwned)\nx;`touch pwned2`.bin";
    let data = old_file(&s.root, hostile, 100_000, 4);
    old_file(&s.root, "plain.bin", 100_000, 5);
    let metrics = common::free_port();
    let cwd = tempfile::tempdir().unwrap();
    let hook = r#"printf '%s' "$RANGESERVE_PATH" > "$HOOK_DIR/run.$$"; sleep 10; exit 3"#;
    let mut cmd = Command::new(BIN);
    cmd.current_dir(cwd.path())
        .arg("--dir")
        .arg(&s.root)
        .args(["--bind", "127.0.0.1", "--port", "0", "--state-dir"])
        .arg(&s.state)
        .args([
            "--metrics",
            &format!("127.0.0.1:{metrics}"),
            "--on-complete",
            hook,
        ])
        .env("HOOK_DIR", &s.hooks);
    let server = Server::spawn(cmd);
    let started = Instant::now();
    // Eight downloads (two files, four times each from four addresses): more than the hooks
    // that run at once, and every one answered at once.
    for from in ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        for name in [
            "%24%28touch%20pwned%29%0Ax%3B%60touch%20pwned2%60.bin",
            "plain.bin",
        ] {
            let out = Command::new("curl")
                .args(["-s", "--interface", from, "-o", "-"])
                .arg(server.url(&format!("/{name}")))
                .output()
                .unwrap();
            assert_eq!(out.stdout.len(), 100_000);
            if name.starts_with("%24") {
                assert_eq!(sha256_hex(&out.stdout), sha256_hex(&data));
            }
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "slow hooks held no response: {:?}",
        started.elapsed()
    );
    assert_eq!(downloads_json(metrics)["completed_since_start"], 8);
    eventually("four hooks started", || hook_runs(&s).len() >= 4);
    assert!(
        hook_runs(&s).iter().any(|r| r == hostile),
        "{:?}",
        hook_runs(&s)
    );
    assert!(!cwd.path().join("pwned").exists() && !cwd.path().join("pwned2").exists());
    assert!(!s.root.join("pwned").exists());
}

#[test]
fn the_downloads_page_shows_counts_and_a_transfer_in_progress_at_phone_width() {
    let s = setup();
    old_file(&s.root, "small.bin", 50_000, 6);
    old_file(&s.root, "slow.bin", 20 << 20, 7);
    let metrics = common::free_port();
    let mut cmd = Command::new(BIN);
    cmd.arg("--dir")
        .arg(&s.root)
        .args(["--bind", "127.0.0.1", "--port", "0", "--state-dir"])
        .arg(&s.state)
        .args([
            "--metrics",
            &format!("127.0.0.1:{metrics}"),
            "--limit-rate",
            "1M",
        ]);
    let server = Server::spawn(cmd);
    // Three clients: three downloads (one client fetching again would not count again).
    for from in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        assert_eq!(
            curl_from(from, &server.url("/small.bin"), &["-o", "/dev/null"]),
            "200"
        );
    }
    assert_eq!(
        curl_from("127.0.0.3", &server.url("/small.bin"), &["-o", "/dev/null"]),
        "200"
    );
    // A slow download in progress (killed at the end of the test).
    let mut slow = Command::new("curl")
        .args(["-s", "-o", "/dev/null"])
        .arg(server.url("/slow.bin"))
        .spawn()
        .unwrap();
    eventually("the transfer is listed", || {
        downloads_json(metrics)["transfers"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    });
    let dom = common::phone_dom(&format!("http://127.0.0.1:{metrics}/downloads"));
    let _ = slow.kill();
    let _ = slow.wait();
    assert!(
        dom.contains("<td>small.bin</td><td class=\"n\">3</td>"),
        "{dom}"
    );
    assert!(
        dom.contains("slow.bin") && dom.contains("<progress"),
        "{dom}"
    );
    assert!(dom.contains("name=\"viewport\""), "{dom}");
    // The JSON's count is the access log's: responses that made a copy whole.
    let json = downloads_json(metrics);
    let log = server.log();
    let mut completed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"GET /small.bin\"") && l.contains("complete=true"))
        .filter_map(|l| {
            l.split(" INFO rangeserve::access: ")
                .nth(1)?
                .split(':')
                .next()
        })
        .collect();
    completed.sort();
    completed.dedup();
    let completed = completed.len();
    assert_eq!(json["files"][0]["since_start"], completed as u64, "{log}");
}

#[test]
fn clients_at_once_or_asking_for_several_ranges_cannot_pass_the_limit() {
    let s = setup();
    let data = old_file(&s.root, "one.bin", 3 << 20, 8);
    old_file(&s.root, "parts.bin", 100_000, 9);
    let metrics = common::free_port();
    let server = start(&s, 0, metrics, HOOK, &["--limit-rate", "1M"]);
    // Several ranges in one request through a limited link: the whole file, counted.
    let parts = link(&s, &server, "parts.bin", "1");
    let dl = tempfile::tempdir().unwrap();
    let out = |name: &str| dl.path().join(name).to_str().unwrap().to_string();
    assert_eq!(
        curl_from("127.0.0.4", &parts, &["-r", "0-499,501-", "-o", &out("p")]),
        "200"
    );
    assert_eq!(fs::metadata(out("p")).unwrap().len(), 100_000);
    assert_eq!(
        curl_from(
            "127.0.0.5",
            &parts,
            &["-r", "500-500,0-0", "-o", "/dev/null"]
        ),
        "410"
    );

    // Three clients at once at 1 MB/s: one completes; the others are cut when it does.
    let url = link(&s, &server, "one.bin", "1");
    let clients: Vec<_> = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
        .iter()
        .map(|from| {
            let (url, file) = (url.clone(), out(from));
            let from = from.to_string();
            std::thread::spawn(move || {
                let _ = Command::new("curl")
                    .args(["-s", "--interface", &from, "-o", &file])
                    .arg(&url)
                    .status();
                fs::read(&file).unwrap_or_default()
            })
        })
        .collect();
    let got: Vec<Vec<u8>> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let whole = got
        .iter()
        .filter(|g| sha256_hex(g) == sha256_hex(&data))
        .count();
    let lengths: Vec<usize> = got.iter().map(Vec::len).collect();
    assert_eq!(whole, 1, "exactly one complete copy: {lengths:?}");
    eventually("the hook ran", || hook_runs(&s).len() == 2);
    let links = links(&s);
    assert_eq!(links.matches("1/1").count(), 2, "{links}");
    println!("three clients at once through a one-download link: bytes {lengths:?}");
}

#[test]
fn a_hook_that_floods_stderr_is_read_through_a_small_window() {
    let s = setup();
    old_file(&s.root, "f.bin", 1000, 10);
    let metrics = common::free_port();
    let hook = r#"head -c 200000000 /dev/zero >&2; echo ran > "$HOOK_DIR/run.$$""#;
    let server = start(&s, 0, metrics, hook, &[]);
    let before = status_kib(server.pid(), "VmRSS:");
    let url = link(&s, &server, "f.bin", "1");
    assert_eq!(curl_from("127.0.0.1", &url, &["-o", "/dev/null"]), "200");
    eventually("the hook ran to its end", || hook_runs(&s).len() == 1);
    eventually("its end is logged", || {
        server.log().contains("--on-complete for f.bin")
    });
    let peak = status_kib(server.pid(), "VmHWM:");
    println!("RSS before {before} KiB, peak after a 200 MB stderr hook {peak} KiB");
    assert!(
        peak < before + 50 * 1024,
        "stderr held: {before} → {peak} KiB"
    );
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
