//! Issue 25, run as a service: `--config FILE` (precedence flag > environment > file > default;
//! a bad file is one line naming file, line and key, exit 2), socket activation with
//! `systemd-socket-activate` (a client that connected before the server existed is served) and
//! with a socket held across restarts (no connection refused), and sd_notify's READY/STOPPING.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{BIN, PATIENCE, Server, random_file, sha256_hex};

#[test]
fn settings_come_from_the_flag_then_the_environment_then_the_file_then_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f.bin", 10_000, 1);
    let ports: Vec<u16> = (0..3).map(|_| common::free_port()).collect();
    let config = dir.path().join("rangeserve.toml");
    std::fs::write(
        &config,
        format!(
            "# a comment\nfile = [{:?}]\nbind = \"127.0.0.1\"\nport = {}\ncache-control = \"max-age=7\"\nno-progress = true\n",
            path.to_str().unwrap(),
            ports[0]
        ),
    )
    .unwrap();
    let start = |env_port: Option<u16>, flag_port: Option<u16>| {
        let mut cmd = Command::new(BIN);
        cmd.env("RANGESERVE_CONFIG", &config);
        if let Some(port) = env_port {
            cmd.env("RANGESERVE_PORT", port.to_string());
        }
        if let Some(port) = flag_port {
            cmd.args(["--port", &port.to_string()]);
        }
        Server::spawn(cmd)
    };
    let file_only = start(None, None);
    assert_eq!(file_only.addr.port(), ports[0], "the file's port");
    let reply = file_only.get("/f.bin", &[]);
    assert_eq!(sha256_hex(&reply.body), sha256_hex(&data));
    assert_eq!(reply.header("cache-control"), Some("max-age=7"));
    drop(file_only);
    let env = start(Some(ports[1]), None);
    assert_eq!(env.addr.port(), ports[1], "the environment over the file");
    drop(env);
    let flag = start(Some(ports[1]), Some(ports[2]));
    assert_eq!(flag.addr.port(), ports[2], "the flag over both");
    // Unset everywhere: the default (no Cache-Control).
    std::fs::write(
        &config,
        format!(
            "file = [{:?}]\nbind = \"127.0.0.1\"\nport = 0\n",
            path.to_str().unwrap()
        ),
    )
    .unwrap();
    let default = start(None, None);
    assert_eq!(default.get("/f.bin", &[]).header("cache-control"), None);
}

#[test]
fn a_bad_config_file_stops_the_start_with_one_line_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    for (text, want) in [
        (
            "dir = \"/tmp\"\n\nlimit-rate-total = \"fast\"\n",
            ":3: limit-rate-total: invalid value 'fast'",
        ),
        ("dir = \"/tmp\"\nprot = 8000\n", ":2: prot: no such setting"),
        (
            "dir = \"/tmp\"\nhidden = \"yes\"\n",
            ":2: hidden: is a switch",
        ),
        ("dir = [\n", ": not TOML"),
    ] {
        std::fs::write(&config, text).unwrap();
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        let named = format!("rangeserve: {}", config.display());
        assert!(
            stderr.starts_with(&named) && stderr.contains(want),
            "{text:?}: {stderr}"
        );
    }
    let out = Command::new(BIN)
        .args(["--config", "/nonexistent/rangeserve.toml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr.trim_end(),
        "rangeserve: /nonexistent/rangeserve.toml: cannot read it: no such file"
    );
    // The example lists every setting, commented out, and starts a server once one is set.
    let example = Command::new(BIN).arg("config-example").output().unwrap();
    let example = String::from_utf8(example.stdout).unwrap();
    assert!(example.contains("\n#limit-rate-total = "), "{example}");
    let data = dir.path().join("served");
    std::fs::create_dir(&data).unwrap();
    let file = example
        .replace(
            "#dir = \"DIR\"  # no default",
            &format!("dir = {:?}", data.to_str().unwrap()),
        )
        .replace("#bind = \"0.0.0.0\"", "bind = \"127.0.0.1\"")
        .replace("#port = 8000", "port = 0");
    std::fs::write(&config, file).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("--config").arg(&config);
    let server = Server::spawn(cmd);
    assert_eq!(server.get("/", &[]).status, 200);
}

/// `systemd-socket-activate` holds the port and starts the server on the first connection, which
/// it then serves: it connected before the server existed.
#[test]
fn systemd_socket_activate_starts_the_server_and_the_first_client_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "first.bin", 300_000, 2);
    let port = common::free_port();
    let state = dir.path().join("state");
    let log = dir.path().join("log");
    let mut holder = Command::new("systemd-socket-activate")
        .args(["-l", &format!("127.0.0.1:{port}"), BIN, "--file"])
        .arg(&path)
        .args(["--port", "1", "--state-dir", state.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/first.bin");
    let deadline = Instant::now() + PATIENCE;
    let body = loop {
        // Until systemd-socket-activate listens; the server itself starts on this connection.
        let out = Command::new("curl").args(["-sf", &url]).output().unwrap();
        if out.status.success() {
            break out.stdout;
        }
        assert!(Instant::now() < deadline, "never served");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(sha256_hex(&body), sha256_hex(&data));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(&format!(
            "socket activation: serving on the 1 passed socket(s) (127.0.0.1:{port}); --bind and --port are not used"
        )),
        "{text}"
    );
    let _ = holder.kill();
    let _ = holder.wait();
}

/// What systemd does for a `.socket` unit: one process holds the listening socket and starts
/// the server with it as fd 3 (`LISTEN_FDS=1`, `LISTEN_PID` its pid), told of readiness over
/// `NOTIFY_SOCKET`; on "restart" the server gets SIGTERM and a new one is started on the same
/// socket. Prints `port N`, then `ready K` and `stopping K` for each server.
const HOLDER: &str = r#"
import os, signal, socket, subprocess, sys, tempfile, time
binary, args = sys.argv[1], sys.argv[2:]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0)); s.listen(512)
os.dup2(s.fileno(), 3); os.set_inheritable(3, True)
print("port", s.getsockname()[1], flush=True)
notify_path = os.path.join(tempfile.mkdtemp(), "notify")
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); notify.bind(notify_path)
notify.settimeout(30)
env = dict(os.environ, LISTEN_FDS="1", NOTIFY_SOCKET=notify_path)
cmd = ["sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh", binary] + args
def wait_for(word):
    while True:
        if word in notify.recv(4096).decode():
            return
for k in range(1, 4):
    p = subprocess.Popen(cmd, pass_fds=(3,), env=env, stdout=subprocess.DEVNULL)
    wait_for("READY=1"); print("ready", k, flush=True)
    if sys.stdin.readline().strip() != "restart":
        p.send_signal(signal.SIGTERM); p.wait(); break
    p.send_signal(signal.SIGTERM)
    wait_for("STOPPING=1"); print("stopping", k, flush=True)
    p.wait()
"#;

#[test]
fn restarts_under_a_held_socket_refuse_no_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "r.bin", 200_000, 3);
    let state = dir.path().join("state");
    let mut holder = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(HOLDER)
        .arg(BIN)
        .arg("--file")
        .arg(&path)
        .args(["--state-dir", state.to_str().unwrap(), "--no-progress"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut control = holder.stdin.take().unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    let mut next = || lines.next().unwrap().unwrap();
    let port: u16 = next().strip_prefix("port ").unwrap().parse().unwrap();
    assert_eq!(next(), "ready 1");
    // Clients in a loop (bounded: 2,000 requests or 60 s) through two restarts.
    let done = Arc::new(AtomicBool::new(false));
    let stop = Arc::clone(&done);
    let count = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&count);
    let want = sha256_hex(&data);
    let url = format!("http://127.0.0.1:{port}/r.bin");
    let clients = std::thread::spawn(move || {
        let (mut attempted, mut failed) = (0u32, Vec::new());
        let started = Instant::now();
        while !stop.load(Ordering::SeqCst)
            && attempted < 2000
            && started.elapsed() < Duration::from_secs(60)
        {
            attempted += 1;
            counted.store(attempted, Ordering::SeqCst);
            let out = Command::new("curl").args(["-s", &url]).output().unwrap();
            if !out.status.success() || sha256_hex(&out.stdout) != want {
                failed.push(format!("{:?} ({} bytes)", out.status, out.stdout.len()));
            }
        }
        (attempted, failed)
    });
    // Each restart once clients have been served for a while, and clients go on after the last.
    let served_at_least = |n: u32| {
        let deadline = Instant::now() + PATIENCE;
        while count.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "clients stalled");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    for k in 1..=2 {
        served_at_least(20 * k);
        writeln!(control, "restart").unwrap();
        assert_eq!(next(), format!("stopping {k}"), "STOPPING=1 sent");
        assert_eq!(next(), format!("ready {}", k + 1), "READY=1 sent");
    }
    served_at_least(60);
    done.store(true, Ordering::SeqCst);
    let (attempted, failed) = clients.join().unwrap();
    writeln!(control, "end").unwrap();
    let _ = holder.wait();
    println!(
        "{attempted} connections attempted during two restarts, {} refused or wrong",
        failed.len()
    );
    assert!(failed.is_empty(), "{failed:?}");
    assert!(attempted > 0);
}

#[test]
fn a_passed_socket_that_does_not_listen_is_refused_at_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "f.bin", 1000, 4);
    // Bound but not listening (what `Accept=yes` or a mistake passes), as fd 3.
    let script = r#"
import os, socket, subprocess, sys
s = socket.socket(); s.bind(("127.0.0.1", 0))
os.dup2(s.fileno(), 3); os.set_inheritable(3, True)
r = subprocess.run(["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', "sh"] + sys.argv[1:],
                   pass_fds=(3,), capture_output=True, timeout=30)
sys.stdout.write("%d %s" % (r.returncode, r.stderr.decode()))
"#;
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(BIN)
        .arg("--file")
        .arg(&path)
        .args(["--state-dir", dir.path().join("state").to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("2 "), "{text}");
    assert!(
        text.contains("passed socket 1 (fd 3) is not listening"),
        "{text}"
    );
}
