//! Issue 20, "Trust": what a hostile request or a hostile file name must not be able to do —
//! forge a log line, drive the operator's terminal. (Other items of the issue are tested where
//! their feature is: `body.rs`, `text.rs`, `ops/banner.rs`, `tests/live_view.rs`, ….)

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{Server, eventually, link};

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
    // The banner's lines after `listening on` are read as they come.
    eventually("the banner's largest file", || {
        server.banner().contains("Largest file:")
    });
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

/// The member names of a tar archive (bsdtar reads it from stdin).
fn tar_names(bytes: &[u8]) -> Vec<String> {
    use std::io::Write;
    let mut tar = std::process::Command::new("tar")
        .arg("-tf")
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tar.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = tar.wait_with_output().unwrap();
    assert!(out.status.success(), "tar -t failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Issue 20: a path through a symlink that leads outside the root is not served, even when a
/// second symlink out there leads back in (`dir-out -> /outside`, `/outside/root -> DIR`).
#[test]
fn a_path_that_passes_outside_through_symlinks_is_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    fs::create_dir(&root).unwrap();
    fs::create_dir(&outside).unwrap();
    fs::write(root.join("x"), b"inside\n").unwrap();
    std::os::unix::fs::symlink(&outside, root.join("dir-out")).unwrap();
    std::os::unix::fs::symlink(&root, outside.join("root")).unwrap();
    // An absolute link that stays inside is still followed.
    std::os::unix::fs::symlink(root.join("x"), root.join("abs-inside")).unwrap();
    let server = Server::start_dir(&root, &[]);
    assert_eq!(server.get("/x", &[]).body, b"inside\n");
    assert_eq!(server.get("/abs-inside", &[]).body, b"inside\n");
    assert_eq!(server.get("/dir-out/root/x", &[]).status, 404);
    assert_eq!(server.get("/dir-out/root/", &[]).status, 404);
    let listing = String::from_utf8(server.get("/?format=json", &[]).body).unwrap();
    assert!(!listing.contains("dir-out"), "{listing}");
    assert!(listing.contains("abs-inside"), "{listing}");
}

/// Issue 20: where a symlink leads is what the hidden rule and a folder link's scope look at:
/// `shared/x -> ../private` is not served, listed or archived through a link for `shared/`
/// (it is, without the link), and `shared/g -> ../.git` never is (no `--hidden`).
#[test]
fn a_symlink_to_a_hidden_name_or_out_of_a_links_folder_is_not_served_listed_or_archived() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("share");
    for sub in ["shared", "private", ".git"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    fs::write(root.join("shared/ok.txt"), b"ok\n").unwrap();
    fs::write(root.join("private/secret.txt"), b"secret\n").unwrap();
    fs::write(root.join(".git/config"), b"[core]\n").unwrap();
    std::os::unix::fs::symlink("../private", root.join("shared/x")).unwrap();
    std::os::unix::fs::symlink("../.git", root.join("shared/g")).unwrap();
    std::os::unix::fs::symlink("../.git/config", root.join("shared/c")).unwrap();
    std::os::unix::fs::symlink("ok.txt", root.join("shared/same")).unwrap();
    let key = dir.path().join("link.key");
    fs::write(&key, [7u8; 32]).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let key = key.to_str().unwrap();

    // Without a link: the private folder is served through x, the hidden one never.
    let open = Server::start_dir(&root, &[]);
    assert_eq!(open.get("/shared/x/secret.txt", &[]).body, b"secret\n");
    for hidden in ["/shared/g/config", "/shared/c", "/shared/g/"] {
        assert_eq!(open.get(hidden, &[]).status, 404, "{hidden}");
    }
    let listing = String::from_utf8(open.get("/shared/?format=json", &[]).body).unwrap();
    assert!(
        listing.contains("\"x\"") && listing.contains("\"same\""),
        "{listing}"
    );
    assert!(
        !listing.contains("\"g\"") && !listing.contains("\"c\""),
        "{listing}"
    );
    let tar = tar_names(&open.get("/shared/shared.tar", &[]).body);
    assert!(tar.iter().any(|n| n == "shared/x/secret.txt"), "{tar:?}");
    assert!(!tar.iter().any(|n| n.contains("config")), "{tar:?}");

    // Through a link for shared/: nothing out of shared/.
    let server = Server::start_dir(&root, &["--signed-links", "--link-key", key]);
    let base = format!("http://{}", server.addr);
    let urls = link(&[
        "--link-key",
        key,
        "--dir",
        root.to_str().unwrap(),
        "--base-url",
        &base,
        root.join("shared").to_str().unwrap(),
    ]);
    let prefix = urls[0][base.len()..].to_string();
    assert!(prefix.ends_with("/shared/"), "{prefix}");
    assert_eq!(server.get(&format!("{prefix}ok.txt"), &[]).body, b"ok\n");
    assert_eq!(server.get(&format!("{prefix}same"), &[]).body, b"ok\n");
    for refused in ["x/secret.txt", "x/", "g/config", "c"] {
        let reply = server.get(&format!("{prefix}{refused}"), &[]);
        assert_eq!(reply.status, 404, "{refused}");
    }
    let listing =
        String::from_utf8(server.get(&format!("{prefix}?format=json"), &[]).body).unwrap();
    assert!(listing.contains("\"same\""), "{listing}");
    assert!(
        !listing.contains("\"x\"") && !listing.contains("\"g\""),
        "{listing}"
    );
    let tar = tar_names(&server.get(&format!("{prefix}shared.tar"), &[]).body);
    assert!(tar.iter().any(|n| n == "shared/ok.txt"), "{tar:?}");
    assert!(
        !tar.iter()
            .any(|n| n.contains("secret") || n.contains("config")),
        "{tar:?}"
    );
}

/// The member names of a zip archive, as Python's zipfile reads them.
fn zip_names(bytes: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.zip");
    fs::write(&path, bytes).unwrap();
    let out = common::run(
        std::process::Command::new("python3")
            .arg("-c")
            .arg("import sys, zipfile; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))")
            .arg(&path),
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Issue 20: names legal on Linux that an extractor elsewhere reads as a way out of the target
/// folder (`..\..\evil`) or a drive (`C:x`) are mapped in tar and zip alike; the listing keeps
/// the real names.
#[test]
fn archive_member_names_have_no_backslash_or_drive_and_the_listing_keeps_the_real_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("share");
    fs::create_dir(&root).unwrap();
    // (`a\..\..\evil` goes one folder above the target on Windows; `..\` first would be a
    // hidden name, archived only with --hidden, and mapped the same way.)
    for name in [r"a\..\..\evil", "C:x", "a%5Cb", "12:30 talk.txt"] {
        fs::write(root.join(name), name.as_bytes()).unwrap();
    }
    let server = Server::start_dir(&root, &[]);
    let want = [
        "share/12:30 talk.txt",
        "share/C%3Ax",
        "share/a%255Cb",
        "share/a%5C..%5C..%5Cevil",
    ];
    let tar = tar_names(&server.get("/share.tar", &[]).body);
    let files: Vec<&String> = tar.iter().filter(|n| !n.ends_with('/')).collect();
    assert_eq!(files, want, "{tar:?}");
    eventually("the zip is ready (it needs every CRC-32)", || {
        server.get("/share.zip", &[]).status == 200
    });
    let zip = zip_names(&server.get("/share.zip", &[]).body);
    let files: Vec<&String> = zip.iter().filter(|n| !n.ends_with('/')).collect();
    assert_eq!(files, want, "{zip:?}");
    for name in tar.iter().chain(&zip) {
        assert!(!name.contains('\\') && !name.starts_with('/'), "{name}");
        assert!(!name.split('/').any(|s| s == ".."), "{name}");
    }
    let listing: serde_json::Value =
        serde_json::from_slice(&server.get("/?format=json", &[]).body).unwrap();
    let names: Vec<&str> = listing["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&r"a\..\..\evil") && names.contains(&"C:x"),
        "{names:?}"
    );
}

/// Issue 20: a `--secret-path` token and a signed link's token are as good as passwords: the
/// access log (text and JSON) shows a stand-in instead.
#[test]
fn secret_paths_and_link_tokens_are_not_logged() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("share");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("a.txt"), b"a\n").unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    for format in ["text", "json"] {
        let server = Server::start_dir(
            &root,
            &[
                "--secret-path",
                "--state-dir",
                state,
                "--log-format",
                format,
            ],
        );
        let secret = fs::read_to_string(dir.path().join("state/secret-path")).unwrap();
        let secret = secret.trim();
        assert_eq!(server.get(&format!("/{secret}/a.txt"), &[]).body, b"a\n");
        // Misses that carry it elsewhere than first (a base URL with a doubled slash).
        assert_eq!(server.get(&format!("//{secret}/b.txt"), &[]).status, 404);
        eventually("the access lines", || server.log().contains("b.txt"));
        let log = server.log();
        assert!(
            !log.contains(secret),
            "{format}: the secret is logged:\n{log}"
        );
        assert!(log.contains("/<secret>/a.txt"), "{format}:\n{log}");
    }
    let key = dir.path().join("link.key");
    fs::write(&key, [b'k'; 40]).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let key = key.to_str().unwrap();
    let server = Server::start_dir(&root, &["--signed-links", "--link-key", key]);
    let base = format!("http://{}", server.addr);
    let urls = link(&[
        "--link-key",
        key,
        "--dir",
        root.to_str().unwrap(),
        "--base-url",
        &base,
        root.join("a.txt").to_str().unwrap(),
    ]);
    let path = &urls[0][base.len()..];
    let token = path.split('/').nth(1).unwrap();
    assert_eq!(server.get(path, &[]).body, b"a\n");
    let _ = server.get(&format!("//{token}/b.txt"), &[]);
    let _ = server.get(&format!("/{token}/../{token}/c.txt"), &[]);
    eventually("the access lines", || server.log().contains("c.txt"));
    let log = server.log();
    assert!(!log.contains(token), "the link is logged:\n{log}");
    assert!(log.contains("/<link>/a.txt"), "{log}");
}

/// Issue 20: a kept secret or a given key that others can read, or of the wrong length, is
/// refused at start-up with one line and exit code 2 (as ssh refuses a private key).
#[test]
fn key_files_readable_by_others_or_of_the_wrong_length_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("share");
    fs::create_dir(&root).unwrap();
    let state = dir.path().join("state");
    fs::create_dir(&state).unwrap();
    let refused = |args: &[&str], why: &str| {
        let out = std::process::Command::new(common::BIN)
            .arg("--dir")
            .arg(&root)
            .args(["--bind", "127.0.0.1", "--port", "0"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("rangeserve: "))
            .collect();
        assert_eq!(errors.len(), 1, "one line: {stderr}");
        assert!(errors[0].contains(why), "{args:?}: {stderr}");
    };
    let state_arg = state.to_str().unwrap();
    let secret = state.join("secret-path");
    fs::write(&secret, "0123456789abcdef0123456789abcdef\n").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).unwrap();
    refused(&["--secret-path", "--state-dir", state_arg], "chmod 600");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(&secret, "0123456789abcdef\n").unwrap();
    refused(
        &["--secret-path", "--state-dir", state_arg],
        "32 hex digits",
    );

    let key = dir.path().join("link.key");
    fs::write(&key, [b'k'; 40]).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o640)).unwrap();
    let key_arg = key.to_str().unwrap();
    refused(&["--signed-links", "--link-key", key_arg], "chmod 600");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(&key, b"short key\n").unwrap();
    refused(&["--signed-links", "--link-key", key_arg], "at least 32");

    // The self-signed certificate's key, kept under the state directory.
    let tls_state = dir.path().join("tls-state");
    let server = Server::start_dir(
        &root,
        &[
            "--tls-self-signed",
            "--state-dir",
            tls_state.to_str().unwrap(),
        ],
    );
    drop(server);
    let kept = fs::read_dir(&tls_state)
        .unwrap()
        .flatten()
        .flat_map(|e| {
            if e.path().is_dir() {
                fs::read_dir(e.path())
                    .unwrap()
                    .flatten()
                    .map(|f| f.path())
                    .collect()
            } else {
                vec![e.path()]
            }
        })
        .find(|p| p.to_string_lossy().ends_with("key.pem"))
        .expect("the kept key");
    fs::set_permissions(&kept, fs::Permissions::from_mode(0o644)).unwrap();
    refused(
        &[
            "--tls-self-signed",
            "--state-dir",
            tls_state.to_str().unwrap(),
        ],
        "chmod 600",
    );
}
