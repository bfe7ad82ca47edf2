//! Shared by the integration tests: start the real binary on a free loopback port (and kill it on
//! drop), make random test files, talk raw HTTP/1.1 over a socket, hash bytes.
#![allow(dead_code)] // each test crate uses a different part of this module

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub mod h2;

/// How long any single wait in a test may take before the test fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub const BIN: &str = env!("CARGO_BIN_EXE_rangeserve");

/// A running `rangeserve` child process.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// `http` or `https`, as the banner's `listening on` line says.
    pub scheme: &'static str,
    /// Everything the server printed on stdout so far (the banner).
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
    log_path: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl Server {
    /// Starts `rangeserve --dir DIR --bind 127.0.0.1 --port 0 EXTRA...` (see [`Server::start`]).
    pub fn start_dir(dir: &Path, extra: &[&str]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.arg("--dir")
            .arg(dir)
            .args(["--bind", "127.0.0.1", "--port", "0"])
            .args(extra);
        Server::spawn(cmd)
    }

    /// Starts `rangeserve --file FILE --bind 127.0.0.1 --port 0 EXTRA...` and waits for the
    /// banner's `listening on` line (printed once the port accepts).
    pub fn start(file: &Path, extra: &[&str]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.arg("--file")
            .arg(file)
            .args(["--bind", "127.0.0.1", "--port", "0"])
            .args(extra);
        Server::spawn(cmd)
    }

    /// Spawns a prepared `rangeserve` command and waits until it serves (see [`Server::start`]).
    pub fn spawn(mut cmd: Command) -> Server {
        let log_dir = tempfile::tempdir().unwrap();
        let log_path = log_dir.path().join("stderr.log");
        // Each server keeps its digests in a state directory of its own unless the test names
        // one (never the user's ~/.local/state).
        let named = cmd.get_args().any(|a| a == "--state-dir")
            || cmd.get_envs().any(|(k, _)| k == "RANGESERVE_STATE_DIR");
        if !named {
            // Usable by a server started as nobody too (`rangeserve_unprivileged`).
            use std::os::unix::fs::PermissionsExt;
            let state = log_dir.path().join("state");
            fs::create_dir(&state).unwrap();
            fs::set_permissions(&state, fs::Permissions::from_mode(0o777)).unwrap();
            fs::set_permissions(log_dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
            cmd.env("RANGESERVE_STATE_DIR", state);
        }
        if !cmd.get_envs().any(|(k, _)| k == "RUST_LOG") {
            cmd.env("RUST_LOG", "info");
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log_path).unwrap())
            .spawn()
            .expect("spawn rangeserve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let printed = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let out = std::sync::Arc::clone(&printed);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                {
                    let mut out = out.lock().unwrap();
                    out.push_str(&line);
                    out.push('\n');
                }
                if let Some(rest) = line.strip_prefix("listening on ") {
                    let _ = tx.send(rest.trim().to_string());
                }
            }
        });
        let (scheme, addr): (&'static str, SocketAddr) = match rx.recv_timeout(PATIENCE) {
            Ok(url) => match url.split_once("://") {
                Some(("https", addr)) => ("https", addr.parse().unwrap()),
                Some(("http", addr)) => ("http", addr.parse().unwrap()),
                _ => panic!("a listening line without a URL: {url}"),
            },
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "no banner from rangeserve; stderr:\n{}",
                    fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
        };
        // The banner is printed after the socket is bound and listening, so the port accepts from
        // here on. No probe connection: it would linger in the server's descriptor counts.
        Server {
            child,
            addr,
            scheme,
            stdout: printed,
            log_path,
            _log_dir: log_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }

    /// What the server printed on stdout so far (the banner, then the digest lines).
    /// One GET of `path` with these fields, on a connection of its own.
    pub fn get(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        request(self.addr, "GET", path, fields)
    }

    pub fn banner(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server wrote to stderr so far (the access log among it).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends a signal with the `kill` command (no libc in the tests).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits (bounded by `limit`) for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), so a failure can be reproduced.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `len` random bytes to `dir/name` and returns the path and the bytes.
pub fn random_file(dir: &Path, name: &str, len: usize, seed: u64) -> (PathBuf, Vec<u8>) {
    let path = dir.join(name);
    let data = random_bytes(len, seed);
    fs::write(&path, &data).unwrap();
    (path, data)
}

pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn sha256_file(path: &Path) -> String {
    sha256_hex(&fs::read(path).unwrap())
}

/// A response as read off the socket.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Everything after the header block until the server closed the connection.
    pub body: Vec<u8>,
}

impl Reply {
    /// The value of the only field line named `name` (case-insensitive); panics if repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut found = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let first = found.next().map(|(_, v)| v.as_str());
        assert!(found.next().is_none(), "{name} sent more than once");
        first
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .map(|v| v.parse().expect("numeric Content-Length"))
    }

    /// Asserts the framing is exact: Content-Length present and equal to the bytes that came.
    pub fn assert_exact_length(&self) {
        assert_eq!(
            self.content_length(),
            Some(self.body.len() as u64),
            "Content-Length vs body"
        );
    }
}

/// Sends `raw` on a new connection and reads until the server closes it.
pub fn send_raw(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(raw).unwrap();
    let mut out = Vec::new();
    stream
        .read_to_end(&mut out)
        .expect("the server should close the connection");
    out
}

/// Parses one response (status line, fields, then the rest as body).
pub fn parse_reply(raw: &[u8]) -> Reply {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete header block");
    let head = std::str::from_utf8(&raw[..end]).expect("ASCII header block");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect(status_line);
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').expect("name: value");
            (n.to_string(), v.trim().to_string())
        })
        .collect();
    Reply {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

/// One request with `Connection: close` (and `Host: ADDR` unless `fields` has a `Host`).
pub fn request(addr: SocketAddr, method: &str, path: &str, fields: &[(&str, &str)]) -> Reply {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !fields
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        raw.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in fields {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("\r\n");
    parse_reply(&send_raw(addr, raw.as_bytes()))
}

pub fn get(addr: SocketAddr, fields: &[(&str, &str)]) -> Reply {
    request(addr, "GET", "/", fields)
}

/// Splits a multipart/byteranges body into (Content-Type, Content-Range, data) per part.
pub fn parse_multipart(body: &[u8], boundary: &str) -> Vec<(String, String, Vec<u8>)> {
    let delimiter = format!("--{boundary}");
    let find = |from: usize, needle: &[u8]| {
        body[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let mut pos = find(0, delimiter.as_bytes()).expect("first delimiter");
    let mut parts = Vec::new();
    loop {
        pos += delimiter.len();
        if body[pos..].starts_with(b"--") {
            assert_eq!(&body[pos..], b"--\r\n", "the close delimiter ends the body");
            return parts;
        }
        let head_end = find(pos, b"\r\n\r\n").expect("part header end");
        let head = std::str::from_utf8(&body[pos + 2..head_end]).unwrap();
        let field = |name: &str| {
            head.split("\r\n")
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
                .unwrap_or_else(|| panic!("part without {name}"))
        };
        let (content_type, content_range) = (field("Content-Type:"), field("Content-Range:"));
        let next =
            find(head_end + 4, format!("\r\n{delimiter}").as_bytes()).expect("next delimiter");
        parts.push((
            content_type,
            content_range,
            body[head_end + 4..next].to_vec(),
        ));
        pos = next + 2;
    }
}

/// Runs a command, failing the test with its output when it does not succeed.
pub fn run(cmd: &mut Command) -> std::process::Output {
    let output = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?}: {e} (is it installed? .ci/run installs it)")
    });
    assert!(
        output.status.success(),
        "{cmd:?} failed: {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The targets of a process's open descriptors. (Tests that count descriptors start the server
/// with `--no-digest`: the hashing thread holds a handle of its own while it hashes, and it
/// stands back while large responses stream, so it may still be hashing.) (`socket:[…]`, file paths, …).
pub fn descriptor_targets(pid: u32) -> Vec<String> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .map(|t| t.to_string_lossy().into_owned())
        .collect()
}

pub fn descriptors(pid: u32) -> usize {
    descriptor_targets(pid).len()
}

/// Descriptors open on `path` (the served file's handles).
pub fn file_handles(pid: u32, path: &Path) -> usize {
    let path = path.to_string_lossy();
    descriptor_targets(pid)
        .iter()
        .filter(|t| t.starts_with(&*path))
        .count()
}

/// Opens a GET and reads its header block; returns the stream, the status, the promised length
/// and the body bytes that came with the header.
pub fn begin(server: &Server, path: &str, range: Option<&str>) -> (TcpStream, u16, u64, Vec<u8>) {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let range = range.map(|r| format!("Range: {r}\r\n")).unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{range}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed before the header block ended");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
    };
    let reply = parse_reply(&buf);
    let length = reply.content_length().unwrap_or(0);
    (stream, reply.status, length, buf[end + 4..].to_vec())
}

/// Polls `done` every 20 ms until it holds, failing the test with `what` after [`PATIENCE`].
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `sha-256=:BASE64:` for a file, computed by coreutils (`sha256sum`, then `base64`).
pub fn independent_repr_digest(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path));
    let hex = String::from_utf8(out.stdout).unwrap();
    let raw: Vec<u8> = (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let mut base64 = Command::new("base64")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    base64.stdin.take().unwrap().write_all(&raw).unwrap();
    let encoded = base64.wait_with_output().unwrap();
    format!(
        "sha-256=:{}:",
        String::from_utf8(encoded.stdout).unwrap().trim()
    )
}

/// A `rangeserve` command that runs without root's power to read anything: through
/// `setpriv` as nobody when the tests run as root, else as the current user. (The file and its
/// folder must be readable by nobody for the server to start.)
pub fn rangeserve_unprivileged() -> Command {
    let uid = run(Command::new("id").arg("-u")).stdout;
    if String::from_utf8_lossy(&uid).trim() == "0" {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", BIN]);
        cmd
    } else {
        Command::new(BIN)
    }
}

/// A TCP connection to `to` from the local address `from` (any of 127.0.0.0/8 on loopback).
pub fn connect_from(from: std::net::IpAddr, to: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::new(from, 0).into()).unwrap();
    socket.connect(&to.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// A loopback port free now (for a server that must know another's port before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The ETag of `path` once it is strong: a file changed less than 2 s ago has a weak one (two
/// writes in one timestamp tick may share it), which `If-Range` never matches.
pub fn settled_etag(server: &Server, path: &str) -> String {
    let mut tag = String::new();
    eventually(&format!("a strong ETag for {path}"), || {
        tag = request(server.addr, "HEAD", path, &[])
            .header("etag")
            .unwrap_or("W/")
            .to_string();
        !tag.starts_with("W/")
    });
    tag
}

/// Polls `path` until it answers 200 and returns its body (a Metalink or a torrent is 503
/// until every piece is known).
pub fn ready(server: &Server, path: &str) -> Vec<u8> {
    let mut body = Vec::new();
    eventually(&format!("{path} is ready"), || {
        let reply = server.get(path, &[]);
        body = reply.body;
        reply.status == 200
    });
    body
}

/// `rangeserve link` with these arguments: the URLs it prints.
pub fn link(args: &[&str]) -> Vec<String> {
    let out = run(Command::new(BIN).arg("link").args(args));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The DOM headless Chromium builds for `url` in a phone-sized window (390×844), with a profile
/// of its own.
pub fn phone_dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = run(Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--window-size=390,844",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
