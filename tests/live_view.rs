//! The live view against the real binary under a pseudo-terminal (tmux): a slow download
//! shows its file and a growing percentage, the line goes away when it ends and a summary line
//! stays in the log; `aria2c -x 4` is one line, not four. And not on a terminal,
//! `--progress-interval 1` logs progress lines.
//!
//! The slow client reads through a small receive buffer in small steps: with a large buffer
//! (curl --limit-rate) the kernel would take megabytes at once and the server's count would
//! sit still for seconds.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, PATIENCE, Server, eventually, free_port, random_file, run};

/// A tmux server of the test's own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        let socket = format!("rangeserve-test-{}-{}", std::process::id(), rand_suffix());
        let status = Command::new("tmux")
            .args(["-L", &socket, "new-session", "-d", "-x", "160", "-y", "50"])
            .arg(command)
            .env("TERM", "xterm")
            .status()
            .unwrap();
        assert!(status.success(), "tmux could not start");
        Tmux { socket }
    }

    fn screen(&self) -> String {
        let out = run(Command::new("tmux").args(["-L", &self.socket, "capture-pane", "-p"]));
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "{what}; the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
}

/// A GET through a 16 KiB receive buffer.
fn slow_reader(addr: SocketAddr, path: &str) -> std::net::TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stream: std::net::TcpStream = socket.into();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream
}

/// Reads about `rate` bytes per second for `time`.
fn trickle(stream: &mut std::net::TcpStream, rate: usize, time: Duration) -> usize {
    let step = Duration::from_millis(20);
    let per_step = rate / 50;
    let started = Instant::now();
    let mut got = 0;
    let mut buf = vec![0u8; per_step];
    while started.elapsed() < time {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the server closed early");
        got += n;
        std::thread::sleep(step);
    }
    got
}

/// The real binary serving `path` on a free port, its stderr a tmux pane, once it listens.
fn serve_in_tmux(path: &std::path::Path, dir: &std::path::Path) -> (Tmux, u16) {
    serve_in_tmux_with(path, dir, "--no-digest")
}

fn serve_in_tmux_with(path: &std::path::Path, dir: &std::path::Path, extra: &str) -> (Tmux, u16) {
    let port = free_port();
    let tmux = Tmux::start(&format!(
        "{BIN} --file '{}' --bind 127.0.0.1 --port {port} {extra} --state-dir '{}'; sleep 60",
        path.display(),
        dir.join("state").display()
    ));
    tmux.wait_for("the banner", |s| s.contains("listening on"));
    (tmux, port)
}

/// The percentage on the status line of `path`, if it is on the screen.
fn percent(screen: &str, path: &str) -> Option<f64> {
    let line = screen.lines().find(|l| l.contains(&format!("{path} [")))?;
    let before = line.split('%').next()?;
    before.split_whitespace().last()?.parse().ok()
}

#[test]
fn a_slow_download_shows_a_growing_percentage_then_a_summary_line() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "big.bin", 8 << 20, 1);
    let (tmux, port) = serve_in_tmux(&path, dir.path());
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut stream = slow_reader(addr, "/big.bin");
    let mut got = trickle(&mut stream, 800_000, Duration::from_millis(1500));
    let first = tmux.wait_for("a status line for the file", |s| {
        percent(s, "/big.bin").is_some()
    });
    let p1 = percent(&first, "/big.bin").unwrap();
    assert!(first.contains("1 transfer(s), 1 client(s)"), "{first}");
    got += trickle(&mut stream, 800_000, Duration::from_millis(1500));
    let second = tmux.wait_for("a larger percentage", |s| {
        percent(s, "/big.bin").is_some_and(|p| p > p1)
    });
    assert!(second.contains("127.0.0.1 /big.bin ["), "{second}");
    // Now fast to the end.
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(got + rest.len() > data.len(), "header and body");
    let done = tmux.wait_for("the summary line, and the status line gone", |s| {
        s.contains("done: 127.0.0.1 /big.bin") && percent(s, "/big.bin").is_none()
    });
    assert!(
        !done.contains("transfer(s),"),
        "no total line once nothing runs:\n{done}"
    );
    assert!(done.contains("(100%)"), "{done}");
}

/// Issue 20: with `--file`, the banner's digest lines are printed when the start-up hash ends —
/// usually in the middle of a transfer. Written past the view, they left the cursor where the
/// next redraw erased the wrong lines, and the status line stayed on the screen, frozen, after
/// the transfer had ended. Here the transfer starts before the hash does (the file's mtime is
/// set 1.9 s ahead: the racy window keeps it unhashed until 2 s after that), the hash ends
/// while it runs, and afterwards the screen holds the digest lines once and no status line.
#[test]
fn the_digest_lines_printed_mid_transfer_leave_no_stale_status_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    // Sparse: 96 MiB to hash (about 10 s while a large response streams), nothing written.
    std::fs::File::create(&path)
        .unwrap()
        .set_len(96 << 20)
        .unwrap();
    let ahead = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as f64
        / 1000.0
        + 1.9;
    run(Command::new("touch")
        .arg("-d")
        .arg(format!("@{ahead:.3}"))
        .arg(&path));
    let (tmux, port) = serve_in_tmux_with(&path, dir.path(), "");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut stream = slow_reader(addr, "/big.bin");
    let mut screen = String::new();
    let deadline = Instant::now() + PATIENCE;
    while percent(&screen, "/big.bin").is_none() {
        assert!(Instant::now() < deadline, "no status line:\n{screen}");
        trickle(&mut stream, 800_000, Duration::from_millis(100));
        screen = tmux.screen();
    }
    assert!(
        !screen.contains("sha256 "),
        "the hash ended before the transfer began (the test needs it the other way):\n{screen}"
    );
    while !tmux.screen().contains("Prove a resumed download whole") {
        assert!(
            Instant::now() < deadline,
            "no digest lines:\n{}",
            tmux.screen()
        );
        trickle(&mut stream, 800_000, Duration::from_millis(200));
    }
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    let done = tmux.wait_for("the summary line, and the status line gone", |s| {
        s.contains("done: 127.0.0.1 /big.bin") && !s.contains("transfer(s),")
    });
    assert_eq!(
        done.lines().filter(|l| l.contains("/big.bin [")).count(),
        0,
        "a stale status line:\n{done}"
    );
    assert_eq!(
        done.lines().filter(|l| l.starts_with("sha256 ")).count(),
        1,
        "the digest line, once:\n{done}"
    );
    assert!(done.contains("Prove a resumed download whole:"), "{done}");
}

#[test]
fn aria2c_with_four_connections_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "movie.bin", 16 << 20, 2);
    let (tmux, port) = serve_in_tmux(&path, dir.path());
    let dl = tempfile::tempdir().unwrap();
    let mut aria = Command::new("aria2c")
        .args([
            "-q",
            "-x",
            "4",
            "-s",
            "4",
            "--min-split-size=1M",
            "--max-overall-download-limit=3M",
        ])
        .arg(format!("--dir={}", dl.path().display()))
        .arg(format!("http://127.0.0.1:{port}/movie.bin"))
        .spawn()
        .unwrap();
    let screen = tmux.wait_for("four connections on one line", |s| {
        s.lines()
            .any(|l| l.contains("/movie.bin [") && l.contains("×4"))
    });
    let rows = screen
        .lines()
        .filter(|l| l.contains("/movie.bin ["))
        .count();
    assert_eq!(rows, 1, "one line for one client and one file:\n{screen}");
    assert!(screen.contains("4 transfer(s), 1 client(s)"), "{screen}");
    let _ = aria.kill();
    let _ = aria.wait();
}

#[test]
fn without_a_terminal_progress_lines_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "big.bin", 8 << 20, 3);
    let server = Server::start(&path, &["--progress-interval", "1", "--no-digest"]);
    let mut stream = slow_reader(server.addr, "/big.bin");
    let started = Instant::now();
    let mut lines = 0;
    while started.elapsed() < PATIENCE && lines < 2 {
        trickle(&mut stream, 800_000, Duration::from_millis(500));
        lines = server
            .log()
            .lines()
            .filter(|l| l.contains("progress: 127.0.0.1 /big.bin") && l.contains("of 8.0 MiB"))
            .count();
    }
    assert!(lines >= 2, "progress lines every second:\n{}", server.log());
    drop(stream);
    eventually("the summary", || {
        server.log().contains("done: 127.0.0.1 /big.bin")
    });
}
