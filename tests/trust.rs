//! Issue 20, "Trust": what a hostile request or a hostile file name must not be able to do —
//! forge a log line, drive the operator's terminal. (Other items of the issue are tested where
//! their feature is: `body.rs`, `text.rs`, `ops/banner.rs`, `tests/live_view.rs`, ….)

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{Server, eventually};

/// A path under a folder the server cannot search is logged (the 403's reason) decoded: a
/// `%0d%0a` in it used to end the line there and write a forged access line after it.
#[test]
fn a_request_path_cannot_forge_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(dir.path().join("a.txt"), b"a\n").unwrap();
    let locked = dir.path().join("locked");
    fs::create_dir(&locked).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).unwrap();
    let mut cmd = common::rangeserve_unprivileged();
    cmd.arg("--dir")
        .arg(dir.path())
        .args(["--bind", "127.0.0.1", "--port", "0"]);
    let server = Server::spawn(cmd);
    if server.get("/locked/", &[]).status != 403 {
        return; // not root: the server runs as us and can search its own folder
    }
    let forged = "/locked/x%0d%0a2026-01-01T00:00:00.000000Z%20%20INFO%20rangeserve::access:%20\
                  203.0.113.9:4444%20%22GET%20/a.txt%22%20range=-%20200%20sent=2/2%201.0ms%20ok\
                  %1b%5b2J%c2%9b2J";
    assert_eq!(server.get(forged, &[]).status, 403);
    eventually("the 403 is logged", || {
        server.log().contains("cannot open '/locked/x")
    });
    let log = server.log();
    assert!(
        !log.lines().any(|l| l.starts_with("2026-01-01")),
        "a forged line:\n{log}"
    );
    assert!(
        log.contains(
            r"/locked/x\r\n2026-01-01T00:00:00.000000Z  INFO rangeserve::access: 203.0.113.9:4444"
        ),
        "the path is logged with its line break escaped:\n{log}"
    );
    assert!(log.contains(r"ok\x1b[2J\u{9b}2J'"), "{log}");
    assert!(
        !log.contains('\u{1b}') && !log.contains('\u{9b}'),
        "{log:?}"
    );
}

/// A file named with terminal escapes is written escaped in the banner's `Largest file:` and
/// in the hashing log lines.
#[test]
fn a_file_name_cannot_drive_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let name = "\u{1b}[2J\u{1b}[31mEVIL\nline";
    // Sparse: large enough for the hashing log lines (64 MiB and up), nothing written.
    fs::File::create(dir.path().join(name))
        .unwrap()
        .set_len(70 << 20)
        .unwrap();
    let server = Server::start_dir(dir.path(), &[]);
    let banner = server.banner();
    assert!(
        banner.contains(r"Largest file: \x1b[2J\x1b[31mEVIL\nline (70.0 MiB)"),
        "{banner}"
    );
    eventually("the file is hashed", || {
        server.get("/SHA256SUMS", &[]).status == 200
    });
    let log = server.log();
    assert!(
        log.contains(r"hashing \x1b[2J\x1b[31mEVIL\nline (70 MiB)"),
        "{log}"
    );
    assert!(
        !banner.contains('\u{1b}') && !log.contains('\u{1b}'),
        "{log:?}"
    );
}
