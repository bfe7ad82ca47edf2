//! Real download clients against the real binary: resumes with `curl -C -`, `wget -c` (after a
//! partial file and after a real interruption) and segmented `aria2c -x 8`; every result is
//! compared with the original by SHA-256.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{Server, random_file, run, sha256_file, sha256_hex};

/// Not a multiple of any chunk size, so the last read is a short one.
const LEN: usize = 5 * 1024 * 1024 + 12_345;

fn file_len(path: &Path) -> usize {
    fs::metadata(path).map(|m| m.len() as usize).unwrap_or(0)
}

#[test]
fn curl_resumes_a_partial_download_with_c_dash() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "love.rmvb", LEN, 1);
    let server = Server::start(&path, &[]);
    let url = server.url("/love.rmvb");
    let part = dir.path().join("part");
    run(Command::new("curl")
        .args(["-sS", "-f", "-r", "0-1000000", "-o"])
        .arg(&part)
        .arg(&url));
    assert_eq!(file_len(&part), 1_000_001);
    run(Command::new("curl")
        .args(["-sS", "-f", "-C", "-", "-o"])
        .arg(&part)
        .arg(&url));
    assert_eq!(sha256_file(&part), sha256_hex(&data));
    assert!(
        server.log().contains("range=bytes=1000001- 206"),
        "curl resumed with a range:\n{}",
        server.log()
    );
}

#[test]
fn wget_continues_a_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "love.rmvb", LEN, 2);
    let server = Server::start(&path, &[]);
    let part = dir.path().join("part");
    fs::write(&part, &data[..777_777]).unwrap();
    run(Command::new("wget")
        .args(["-q", "-c", "-O"])
        .arg(&part)
        .arg(server.url("/love.rmvb")));
    assert_eq!(sha256_file(&part), sha256_hex(&data));
    assert!(
        server.log().contains("range=bytes=777777- 206"),
        "{}",
        server.log()
    );
    // Continuing a complete file is a 416 that wget understands as "already fully retrieved".
    run(Command::new("wget")
        .args(["-q", "-c", "-O"])
        .arg(&part)
        .arg(server.url("/love.rmvb")));
    assert_eq!(sha256_file(&part), sha256_hex(&data));
}

#[test]
fn wget_resumes_after_a_real_interruption() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "love.rmvb", LEN, 3);
    let server = Server::start(&path, &[]);
    let downloads = tempfile::tempdir().unwrap();
    let part = downloads.path().join("love.rmvb");
    let url = server.url("/love.rmvb");
    // Killed after 2 s at 1 MB/s: a few MiB of 5 arrive, then the connection dies mid-body.
    let status = Command::new("timeout")
        .args(["2", "wget", "-q", "--limit-rate=1m", "-O"])
        .arg(&part)
        .arg(&url)
        .status()
        .unwrap();
    assert!(
        !status.success(),
        "the first wget was meant to be interrupted: {status}, {} bytes",
        file_len(&part)
    );
    let got = file_len(&part);
    assert!(got > 0 && got < LEN, "interrupted after {got} bytes");
    assert_eq!(
        sha256_file(&part),
        sha256_hex(&data[..got]),
        "the prefix is the original's"
    );
    run(Command::new("wget")
        .args(["-q", "-c", "-O"])
        .arg(&part)
        .arg(&url));
    assert_eq!(sha256_file(&part), sha256_hex(&data));
    println!(
        "wget interrupted at {got} of {LEN} bytes, resumed; sha256 {}",
        sha256_hex(&data)
    );
}

#[test]
fn aria2c_downloads_in_eight_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "big file.bin", 16 * 1024 * 1024 + 777, 4);
    let server = Server::start(&path, &[]);
    let out = dir.path().join("out");
    run(Command::new("aria2c")
        .args([
            "-q",
            "-x",
            "8",
            "-s",
            "8",
            "--min-split-size=1M",
            "--file-allocation=none",
        ])
        .args(["--allow-overwrite=true", "--auto-file-renaming=false", "-d"])
        .arg(&out)
        .args(["-o", "got.bin"])
        .arg(server.url("/big%20file.bin")));
    assert_eq!(sha256_file(&out.join("got.bin")), sha256_hex(&data));
    let ranged = server.log().lines().filter(|l| l.contains(" 206 ")).count();
    assert!(
        ranged >= 2,
        "aria2c used {ranged} ranged requests:\n{}",
        server.log()
    );
}

#[test]
fn curl_with_if_range_gets_the_new_file_whole_after_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f.bin", 300_000, 5);
    let server = Server::start(&path, &[]);
    let url = server.url("/");
    let head = run(Command::new("curl").args(["-sS", "-I"]).arg(&url));
    let head = String::from_utf8_lossy(&head.stdout).to_string();
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .unwrap()
        .trim()
        .to_string();
    let part = dir.path().join("part");
    fs::write(&part, &data[..1000]).unwrap();
    // The file changes before the resume: a new version arrives by rename.
    let (new_path, new_data) = random_file(dir.path(), "f.new", 300_000, 6);
    fs::rename(&new_path, &path).unwrap();
    let out = dir.path().join("fresh");
    run(Command::new("curl")
        .args([
            "-sS",
            "-f",
            "-H",
            &format!("If-Range: {etag}"),
            "-r",
            "1000-",
            "-o",
        ])
        .arg(&out)
        .arg(&url));
    assert_eq!(
        sha256_file(&out),
        sha256_hex(&new_data),
        "a stale If-Range gets the whole new file"
    );
}
