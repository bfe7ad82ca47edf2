//! Verified resume (RFC 9530 `Repr-Digest` and the `.sha256` sidecar) against the real binary:
//! the header equals an independent `sha256sum` on 200, 206 and HEAD; the sidecar verifies a
//! real `wget -c` resume with the real `sha256sum -c`, and fails a resume spliced from a changed
//! file; an old digest is never paired with a new version's bytes.

mod common;

use std::fs;
use std::process::Command;
use std::time::Instant;

use common::{
    PATIENCE, Reply, Server, get, independent_repr_digest, random_file, request, run, sha256_hex,
};

/// Polls the sidecar until it answers 200 with the digest of `data`; returns its text.
fn wait_for_sidecar(server: &Server, path: &str, data: &[u8]) -> String {
    let want = sha256_hex(data);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let reply = request(server.addr, "GET", path, &[]);
        let text = String::from_utf8_lossy(&reply.body).to_string();
        if reply.status == 200 && text.starts_with(&want) {
            return text;
        }
        assert!(
            reply.status == 200 || reply.status == 503,
            "sidecar answered {}",
            reply.status
        );
        assert!(
            Instant::now() < deadline,
            "the sidecar never gave {want}: {} {text}",
            reply.status
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn repr_digest(reply: &Reply) -> Option<&str> {
    reply.header("repr-digest")
}

#[test]
fn repr_digest_equals_an_independent_sha256_on_200_206_and_head() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "love.rmvb", 3 * 1024 * 1024 + 7, 31);
    let server = Server::start(&path, &[]);
    wait_for_sidecar(&server, "/love.rmvb.sha256", &data);
    let want = independent_repr_digest(&path);
    let full = get(server.addr, &[]);
    assert_eq!((full.status, repr_digest(&full)), (200, Some(&*want)));
    let single = get(server.addr, &[("Range", "bytes=100-199")]);
    assert_eq!(
        (single.status, repr_digest(&single)),
        (206, Some(&*want)),
        "the whole file's digest on a 206"
    );
    let multi = get(server.addr, &[("Range", "bytes=0-0,-1")]);
    assert_eq!((multi.status, repr_digest(&multi)), (206, Some(&*want)));
    let head = request(server.addr, "HEAD", "/", &[]);
    assert_eq!((head.status, repr_digest(&head)), (200, Some(&*want)));
    let etag = full.header("etag").unwrap();
    let not_modified = get(server.addr, &[("If-None-Match", etag)]);
    assert_eq!(not_modified.status, 304);
}

#[test]
fn want_repr_digest_weight_zero_turns_it_off() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f.bin", 100_000, 32);
    let server = Server::start(&path, &[]);
    wait_for_sidecar(&server, "/f.bin.sha256", &data);
    assert!(repr_digest(&get(server.addr, &[("Want-Repr-Digest", "sha-256=0")])).is_none());
    assert!(repr_digest(&get(server.addr, &[("Want-Repr-Digest", "sha-256=5")])).is_some());
    assert!(repr_digest(&get(server.addr, &[("Want-Repr-Digest", "sha-512=9")])).is_some());
}

#[test]
fn the_sidecar_proves_a_real_wget_resume_with_sha256sum() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "love.rmvb", 4 * 1024 * 1024 + 99, 33);
    let server = Server::start(&path, &[]);
    let line = wait_for_sidecar(&server, "/love.rmvb.sha256", &data);
    assert_eq!(line, format!("{}  love.rmvb\n", sha256_hex(&data)));
    let downloads = tempfile::tempdir().unwrap();
    fs::write(downloads.path().join("love.rmvb"), &data[..1_234_567]).unwrap();
    let url = server.url("/love.rmvb");
    let recipe = format!("wget -q -c '{url}' && wget -q -O - '{url}.sha256' | sha256sum -c");
    let out = run(Command::new("bash")
        .arg("-c")
        .arg(&recipe)
        .current_dir(downloads.path()));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "love.rmvb: OK");
}

#[test]
fn a_resume_spliced_from_a_changed_file_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let len = 2 * 1024 * 1024;
    let (path, old) = random_file(dir.path(), "love.rmvb", len, 34);
    let server = Server::start(&path, &[]);
    let downloads = tempfile::tempdir().unwrap();
    fs::write(downloads.path().join("love.rmvb"), &old[..len / 2]).unwrap();
    // The file is replaced (same length) between the first attempt and the resume.
    let (new_path, new) = random_file(dir.path(), "love.new", len, 35);
    fs::rename(&new_path, &path).unwrap();
    wait_for_sidecar(&server, "/love.rmvb.sha256", &new);
    let url = server.url("/love.rmvb");
    run(Command::new("wget")
        .args(["-q", "-c", &url])
        .current_dir(downloads.path()));
    let spliced = fs::read(downloads.path().join("love.rmvb")).unwrap();
    assert_eq!(spliced.len(), len);
    assert_ne!(
        sha256_hex(&spliced),
        sha256_hex(&new),
        "wget -c sends no validator: it splices"
    );
    let check = Command::new("bash")
        .arg("-c")
        .arg(format!("wget -q -O - '{url}.sha256' | sha256sum -c"))
        .current_dir(downloads.path())
        .output()
        .unwrap();
    assert!(!check.status.success(), "the check must catch the splice");
    assert!(String::from_utf8_lossy(&check.stdout).contains("love.rmvb: FAILED"));
}

#[test]
fn after_a_replacement_the_old_digest_is_never_paired_with_new_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let len = 8 * 1024 * 1024;
    let (path, old) = random_file(dir.path(), "v.bin", len, 36);
    let server = Server::start(&path, &[]);
    wait_for_sidecar(&server, "/v.bin.sha256", &old);
    let (new_path, new) = random_file(dir.path(), "v.new", len, 37);
    fs::rename(&new_path, &path).unwrap();
    // Until the new digest is ready, responses carry none; then they carry the new one. Each
    // digest sent must be the digest of the very bytes it came with.
    let new_digest = independent_repr_digest(&path);
    let deadline = Instant::now() + PATIENCE;
    let mut without = 0;
    loop {
        let reply = get(server.addr, &[]);
        assert_eq!(sha256_hex(&reply.body), sha256_hex(&new));
        match repr_digest(&reply) {
            Some(value) => {
                assert_eq!(
                    value, new_digest,
                    "a digest sent with the new bytes is theirs"
                );
                break;
            }
            None => without += 1,
        }
        assert!(Instant::now() < deadline, "the new digest never appeared");
    }
    println!("{without} responses went without a digest while the new version was hashed");
    assert_eq!(
        wait_for_sidecar(&server, "/v.bin.sha256", &new),
        format!("{}  v.bin\n", sha256_hex(&new))
    );
}

#[test]
fn while_hashing_the_sidecar_is_503_with_retry_after_and_the_file_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.img");
    // A sparse 4 GiB file: instant to make, seconds to hash.
    fs::File::create(&path).unwrap().set_len(4 << 30).unwrap();
    let server = Server::start(&path, &[]);
    let pending = request(server.addr, "GET", "/huge.img.sha256", &[]);
    assert_eq!(pending.status, 503);
    let retry_after: u64 = pending.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    let ranged = get(server.addr, &[("Range", "bytes=-4096")]);
    assert_eq!(
        (ranged.status, &ranged.body),
        (206, &vec![0u8; 4096]),
        "serving does not wait for the hash"
    );
    assert!(
        repr_digest(&ranged).is_none(),
        "no digest before it is known"
    );
}

#[test]
fn no_digest_turns_off_the_header_and_the_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "f.bin", 1000, 38);
    let server = Server::start(&path, &["--no-digest"]);
    assert_eq!(
        request(server.addr, "GET", "/f.bin.sha256", &[]).status,
        404
    );
    assert!(repr_digest(&get(server.addr, &[])).is_none());
}
