//! The kept file handles (`--open-files`) against the real binary: while a connection stays open
//! the server keeps the file open between requests, and every kind of change is still seen
//! exactly as a fresh open would see it: rename-replace, in-place write, a rewrite whose mtime
//! was set back, truncate, permission change, delete and recreate. With no connection left, no
//! file is held open.

mod common;

use std::fs;
use std::net::TcpStream;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::{Server, file_handles, random_bytes, run, sha256_hex};

fn assert_serves(server: &Server, path: &str, data: &[u8], what: &str) -> String {
    let reply = server.get(path, &[]);
    assert_eq!(reply.status, 200, "{what}");
    assert_eq!(sha256_hex(&reply.body), sha256_hex(data), "{what}");
    reply.header("etag").unwrap().to_string()
}

/// A keep-alive connection that has been served once: from then on the server counts it (a bare
/// connect could still be in the accept queue when the first request ends). Kept open while held.
fn served_keep_alive(server: &Server) -> TcpStream {
    let mut idle = TcpStream::connect(server.addr).unwrap();
    idle.set_read_timeout(Some(common::PATIENCE)).unwrap();
    std::io::Write::write_all(&mut idle, b"GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut seen = Vec::new();
    while !seen.ends_with(b"not found\n") {
        let mut buf = [0u8; 512];
        let n = std::io::Read::read(&mut idle, &mut buf).unwrap();
        assert!(n > 0, "the keep-alive connection closed");
        seen.extend_from_slice(&buf[..n]);
    }
    idle
}

/// Requests `url` until the server keeps its handle: a version changed less than 2 s ago is
/// not kept (the racy window), so each change below is made under a kept handle.
fn kept_once_settled(server: &Server, file: &Path, url: &str, data: &[u8], what: &str) {
    // One handle, kept between requests (the hasher may still hold a second one for a moment
    // under a loaded run; without the kept handle the count would settle at 0).
    common::eventually(
        &format!("the handle is kept between requests: {what}"),
        || {
            assert_serves(server, url, data, what);
            file_handles(server.pid(), file) == 1
        },
    );
}

/// Runs every change against a server serving `file` at `url`, with a keep-alive connection
/// held open so the kept handle survives between requests.
fn every_change_is_seen(server: &Server, file: &Path, url: &str) {
    let _idle = served_keep_alive(server);
    let first = random_bytes(300_000, 1);
    let tag1 = assert_serves(server, url, &first, "first");
    kept_once_settled(server, file, url, &first, "again, from the kept handle");

    // Rename-replace.
    let second = random_bytes(300_000, 2);
    let staged = file.with_extension("staged");
    fs::write(&staged, &second).unwrap();
    fs::rename(&staged, file).unwrap();
    let tag2 = assert_serves(server, url, &second, "after a rename-replace");
    assert_ne!(tag1, tag2);
    kept_once_settled(server, file, url, &second, "the replacement");

    // In place, same size.
    let mut third = second.clone();
    third[1000..2000].fill(0xAB);
    fs::OpenOptions::new()
        .write(true)
        .open(file)
        .unwrap()
        .write_all_at(&third[1000..2000], 1000)
        .unwrap();
    let tag3 = assert_serves(server, url, &third, "after an in-place write");
    assert_ne!(tag2, tag3);
    kept_once_settled(server, file, url, &third, "the written version");

    // In place, then the mtime set back: only the ctime tells.
    let mut fourth = third.clone();
    fourth[5] ^= 0xFF;
    let reference = file.with_extension("ref");
    fs::write(&reference, b"").unwrap();
    run(Command::new("touch").arg("-r").arg(file).arg(&reference));
    fs::OpenOptions::new()
        .write(true)
        .open(file)
        .unwrap()
        .write_all_at(&fourth[5..6], 5)
        .unwrap();
    run(Command::new("touch").arg("-r").arg(&reference).arg(file));
    assert_serves(
        server,
        url,
        &fourth,
        "after a rewrite with the mtime restored",
    );
    kept_once_settled(server, file, url, &fourth, "the rewritten version");

    // Truncate.
    fs::OpenOptions::new()
        .write(true)
        .open(file)
        .unwrap()
        .set_len(1000)
        .unwrap();
    assert_serves(server, url, &fourth[..1000], "after a truncate");
    kept_once_settled(server, file, url, &fourth[..1000], "the truncated version");

    // Permission change (the server runs unprivileged).
    fs::set_permissions(file, fs::Permissions::from_mode(0o000)).unwrap();
    assert_eq!(server.get(url, &[]).status, 403, "made unreadable");
    fs::set_permissions(file, fs::Permissions::from_mode(0o644)).unwrap();
    kept_once_settled(server, file, url, &fourth[..1000], "readable again");

    // Delete, then recreate.
    fs::remove_file(file).unwrap();
    assert_eq!(server.get(url, &[]).status, 404, "deleted");
    // (The hasher may still be reading an earlier version for a moment.)
    common::eventually("a deleted file is not held", || {
        file_handles(server.pid(), file) == 0
    });
    let fifth = random_bytes(5000, 5);
    fs::write(file, &fifth).unwrap();
    fs::set_permissions(file, fs::Permissions::from_mode(0o644)).unwrap();
    assert_serves(server, url, &fifth, "recreated");
}

fn unprivileged(args: &[&str], target: &Path) -> Server {
    let mut cmd = common::rangeserve_unprivileged();
    cmd.args(args)
        .arg(target)
        .args(["--bind", "127.0.0.1", "--port", "0", "--idle-timeout", "60"]);
    Server::spawn(cmd)
}

fn shared_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

#[test]
fn a_named_file_sees_every_change_through_its_kept_handle() {
    let dir = shared_dir();
    let file = dir.path().join("f.bin");
    fs::write(&file, random_bytes(300_000, 1)).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let server = unprivileged(&["--file"], &file);
    every_change_is_seen(&server, &file, "/f.bin");
}

#[test]
fn a_file_below_a_dir_sees_every_change_through_its_kept_handle() {
    let dir = shared_dir();
    fs::create_dir(dir.path().join("sub")).unwrap();
    fs::set_permissions(dir.path().join("sub"), fs::Permissions::from_mode(0o777)).unwrap();
    let file = dir.path().join("sub/f.bin");
    fs::write(&file, random_bytes(300_000, 1)).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let server = unprivileged(&["--dir"], dir.path());
    every_change_is_seen(&server, &file, "/sub/f.bin");
}

#[test]
fn an_idle_server_holds_no_file_and_open_files_0_keeps_none() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.bin");
    fs::write(&file, b"data").unwrap();
    let server = Server::start_dir(dir.path(), &["--no-digest"]);
    {
        let _idle = served_keep_alive(&server);
        kept_once_settled(&server, &file, "/f.bin", b"data", "a settled file");
    }
    common::eventually("the last connection closes the kept handles", || {
        file_handles(server.pid(), &file) == 0
    });
    let none = Server::start_dir(dir.path(), &["--no-digest", "--open-files", "0"]);
    let _idle = TcpStream::connect(none.addr).unwrap();
    assert_eq!(none.get("/f.bin", &[]).body, b"data");
    assert_eq!(
        file_handles(none.pid(), &file),
        0,
        "--open-files 0 keeps nothing"
    );
}

/// Git's "racy git" rule (issue 20): a version whose ctime or mtime is within 2 s of the moment
/// it is looked at may still be changed by a write in the same timestamp tick without its stamp
/// changing (kernels before 6.13, FAT, NFS, SMB), so it is neither hashed (no digest, no
/// `Repr-Digest`, nothing stored) nor kept open until it has settled. Seen here after a
/// same-size rewrite with the mtime set back by `touch -d`.
#[test]
fn a_version_changed_within_two_seconds_is_not_hashed_or_kept_until_it_settles() {
    let dir = shared_dir();
    let file = dir.path().join("f.bin");
    let first = random_bytes(100_000, 7);
    fs::write(&file, &first).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let server = unprivileged(&["--dir"], dir.path());
    let _idle = served_keep_alive(&server);
    common::eventually("the settled version is hashed and kept", || {
        let reply = server.get("/f.bin", &[]);
        reply.header("repr-digest").is_some() && file_handles(server.pid(), &file) == 1
    });
    // Rewrite the same bytes' length in place, then set the mtime back to what it was.
    let mut second = first.clone();
    second[..10].fill(0xEE);
    let changed = std::time::Instant::now();
    let mtime = run(Command::new("stat").args(["-c", "%y"]).arg(&file)).stdout;
    fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .write_all_at(&second[..10], 0)
        .unwrap();
    run(Command::new("touch")
        .arg("-d")
        .arg(String::from_utf8_lossy(&mtime).trim())
        .arg(&file));
    let fresh = server.get("/f.bin", &[]);
    assert_eq!(sha256_hex(&fresh.body), sha256_hex(&second));
    if changed.elapsed() < std::time::Duration::from_millis(1500) {
        let tag = fresh.header("etag").unwrap();
        assert!(tag.starts_with("W/"), "weak while racy: {tag}");
        let resumed = server.get("/f.bin", &[("Range", "bytes=0-9"), ("If-Range", tag)]);
        assert_eq!(resumed.status, 200, "If-Range never matches a weak tag");
        assert_eq!(fresh.header("repr-digest"), None, "not hashed while racy");
        assert_eq!(
            file_handles(server.pid(), &file),
            0,
            "not kept while racy (the kept handle of the old version was dropped)"
        );
    }
    let want = common::independent_repr_digest(&file);
    common::eventually("hashed and kept once settled", || {
        let reply = server.get("/f.bin", &[]);
        reply.header("repr-digest") == Some(want.as_str()) && file_handles(server.pid(), &file) == 1
    });
    assert!(
        changed.elapsed() >= std::time::Duration::from_secs(2),
        "not before 2 s"
    );
}
