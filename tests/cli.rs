//! The command line: start-up errors are one clear line and exit code 2; flags and their
//! environment variables; `--help` and `--version`; IPv6.

mod common;

use std::net::TcpListener;
use std::process::Command;

use common::{BIN, Server, get, random_file, run, sha256_hex};

fn fails_with(args: &[&str], message: &str) {
    let output = Command::new(BIN)
        .args(args)
        .env_remove("RANGESERVE_FILE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains(message),
        "{args:?}: expected {message:?} in {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn a_missing_file_is_exit_2_with_the_path_and_reason() {
    fails_with(
        &["--file", "/no/such/love.rmvb"],
        "rangeserve: cannot serve '/no/such/love.rmvb': no such file",
    );
}

#[test]
fn a_directory_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    fails_with(
        &["--file", path],
        &format!("cannot serve '{path}': is a directory, not a regular file"),
    );
}

#[test]
fn a_fifo_is_exit_2_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    run(Command::new("mkfifo").arg(&fifo));
    fails_with(&["--file", fifo.to_str().unwrap()], "not a regular file");
}

#[test]
fn a_port_in_use_is_exit_2_with_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "f", 10, 1);
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let path = path.to_str().unwrap();
    fails_with(
        &["--file", path, "--bind", "127.0.0.1", "--port", &port],
        &format!("cannot listen on 127.0.0.1:{port}: address already in use"),
    );
}

#[test]
fn bad_command_lines_are_exit_2() {
    fails_with(&[], "--file");
    fails_with(&["--file", "x", "--port", "http"], "invalid value");
    fails_with(&["--file", "x", "--bind", "example.org"], "invalid value");
    fails_with(&["--file", "x", "--chunk-size", "0"], "invalid value");
    fails_with(&["--file", "x", "--frobnicate"], "unexpected argument");
}

#[test]
fn help_shows_an_example_and_version_works() {
    let help = run(Command::new(BIN).arg("--help"));
    let help = String::from_utf8_lossy(&help.stdout);
    for needle in [
        "--file",
        "--port",
        "--bind",
        "RANGESERVE_FILE",
        "rangeserve --file love.rmvb --port 8000",
        "wget -c",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
    let version = run(Command::new(BIN).arg("--version"));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("rangeserve {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn every_flag_reads_its_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "env.bin", 5000, 2);
    let mut cmd = Command::new(BIN);
    cmd.env("RANGESERVE_FILE", &path)
        .env("RANGESERVE_PORT", "0")
        .env("RANGESERVE_BIND", "127.0.0.1")
        .env("RANGESERVE_CHUNK_SIZE", "100")
        .env("RANGESERVE_MAX_RANGES", "1");
    let server = Server::spawn(cmd);
    let reply = get(server.addr, &[("Range", "bytes=0-1,3-4")]);
    assert_eq!(
        reply.status, 200,
        "RANGESERVE_MAX_RANGES=1 turns two ranges into the whole file"
    );
    assert_eq!(sha256_hex(&reply.body), sha256_hex(&data));
}

#[test]
fn the_banner_gives_the_url_and_ready_to_paste_client_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "my film.mp4", 10, 3);
    let mut child = Command::new(BIN)
        .arg("--file")
        .arg(&path)
        .args(["--bind", "127.0.0.1", "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    while !banner.contains("aria2c") {
        let read = std::io::BufRead::read_line(&mut stdout, &mut banner).unwrap();
        assert!(read > 0, "banner ended early: {banner}");
    }
    let _ = child.kill();
    let _ = child.wait();
    let port = banner
        .split("listening on http://127.0.0.1:")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/my%20film.mp4");
    for line in [
        format!("wget -c '{url}'"),
        format!("curl -C - -O '{url}'"),
        format!("aria2c -x 8 '{url}'"),
    ] {
        assert!(banner.contains(&line), "banner lacks {line}:\n{banner}");
    }
}

#[test]
fn it_serves_on_ipv6_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "six.bin", 3000, 4);
    let mut cmd = Command::new(BIN);
    cmd.arg("--file")
        .arg(&path)
        .args(["--bind", "::1", "--port", "0"]);
    let server = Server::spawn(cmd);
    assert!(server.addr.is_ipv6());
    let reply = get(server.addr, &[("Range", "bytes=-100")]);
    assert_eq!(reply.status, 206);
    assert_eq!(reply.body, &data[2900..]);
}

#[test]
fn an_unreadable_file_is_exit_2_with_permission_denied() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "secret.bin", 10, 5);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads anything: the server runs as nobody when we are root.
    let mut cmd = common::rangeserve_unprivileged();
    let output = cmd.arg("--file").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot serve '{}': permission denied",
            path.display()
        )),
        "{stderr}"
    );
}

#[test]
fn sigint_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "f.bin", 10, 6);
    let mut server = Server::start(&path, &[]);
    assert_eq!(get(server.addr, &[]).status, 200);
    server.signal("INT");
    let status = server.wait_exit(common::PATIENCE).expect("exits on SIGINT");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn completions_are_valid_shell_and_the_man_page_renders() {
    let bash = run(Command::new(BIN).args(["completions", "bash"]));
    let script = String::from_utf8(bash.stdout).unwrap();
    assert!(script.contains("--tls-self-signed") && script.contains("--dir"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rangeserve.bash");
    std::fs::write(&path, &script).unwrap();
    let checked = run(Command::new("bash").arg("-n").arg(&path));
    assert!(checked.status.success());
    for shell in ["zsh", "fish"] {
        let out = run(Command::new(BIN).args(["completions", shell]));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("max-streams"),
            "{shell}"
        );
    }
    let man = run(Command::new(BIN).arg("man"));
    let page = dir.path().join("rangeserve.1");
    std::fs::write(&page, &man.stdout).unwrap();
    let rendered = run(Command::new("groff").args(["-man", "-Tutf8"]).arg(&page));
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        text.contains("rangeserve") && text.contains("--tls-cert"),
        "{text}"
    );
    // And serving still works the plain way (no subcommand).
    let bad = Command::new(BIN)
        .args(["--port", "1", "man"])
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "server flags with a subcommand are a usage error"
    );
}
