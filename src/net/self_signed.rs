//! `--tls-self-signed`: a certificate for this machine's names (`localhost`, the host name, the
//! bound address and every interface address), made with rcgen on first use and kept under the
//! state directory with its key (mode 0600), so that a restart presents the same certificate
//! and a client that pinned it keeps working. When the machine gains a name the kept
//! certificate does not cover, a new certificate is issued for the old names and the new ones
//! with the same key: the pinned public key stays valid.
//!
//! [`names`] is pure (what the certificate should cover); [`ensure`] does the file work.

use std::collections::BTreeSet;
use std::io::{self, Write as _};
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use crate::net::tls::KeyFiles;

/// The names a self-signed certificate covers, sorted and without repeats: `localhost`, the
/// host name (when it is a usable DNS name), the bound address unless it is unspecified, and the
/// interface addresses (link-local IPv6 ones are left out: they need a zone, which no URL in
/// a certificate can carry).
pub fn names(bind: IpAddr, host_name: Option<&str>, interfaces: &[IpAddr]) -> Vec<String> {
    let mut names = BTreeSet::new();
    names.insert("localhost".to_string());
    if let Some(host) = host_name.filter(|h| is_dns_name(h)) {
        names.insert(host.to_ascii_lowercase());
    }
    let addresses = std::iter::once(bind)
        .chain(interfaces.iter().copied())
        .filter(|ip| !ip.is_unspecified() && !is_link_local_v6(ip));
    for ip in addresses {
        names.insert(ip.to_string());
    }
    names.into_iter().collect()
}

fn is_link_local_v6(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

/// A host name usable as a DNS SAN: dot-separated labels of letters, digits and hyphens.
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// This machine's names as [`names`] wants them: the host name and the interface addresses.
pub fn machine_names(bind: IpAddr) -> Vec<String> {
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let interfaces: Vec<IpAddr> = match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces.iter().map(|i| i.ip()).collect(),
        Err(err) => {
            tracing::warn!("cannot list this machine's addresses: {err}");
            Vec::new()
        }
    };
    names(bind, Some(&host), &interfaces)
}

const CERT_FILE: &str = "self-signed-cert.pem";
const KEY_FILE: &str = "self-signed-key.pem";
/// The names the kept certificate was issued for, one per line.
const NAMES_FILE: &str = "self-signed-names";

/// Makes (or reuses) the certificate for `wanted` under `dir` (created, mode 0700); returns the
/// files to load, and whether a new certificate was written.
pub fn ensure(dir: &Path, wanted: &[String]) -> io::Result<(KeyFiles, bool)> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let files = KeyFiles {
        cert: dir.join(CERT_FILE),
        key: dir.join(KEY_FILE),
    };
    let key = match crate::share::keys::read_private(&files.key) {
        Ok(pem) => rcgen::KeyPair::from_pem(&String::from_utf8_lossy(&pem)).map_err(|err| {
            io::Error::other(format!(
                "{} is not a usable key ({err}); remove it to make a new one",
                files.key.display()
            ))
        })?,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            let key = rcgen::KeyPair::generate().map_err(io::Error::other)?;
            write_new(&files.key, key.serialize_pem().as_bytes(), 0o600)?;
            // A new key: whatever certificate is there belongs to another.
            let _ = std::fs::remove_file(dir.join(NAMES_FILE));
            key
        }
        Err(err) => return Err(err),
    };
    let covered: BTreeSet<String> = std::fs::read_to_string(dir.join(NAMES_FILE))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    if files.cert.exists() && wanted.iter().all(|name| covered.contains(name)) {
        return Ok((files, false));
    }
    let all: Vec<String> = covered
        .iter()
        .cloned()
        .chain(wanted.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut params = rcgen::CertificateParams::new(all.clone()).map_err(io::Error::other)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "rangeserve self-signed");
    let cert = params.self_signed(&key).map_err(io::Error::other)?;
    write_new(&files.cert, cert.pem().as_bytes(), 0o644)?;
    write_new(
        &dir.join(NAMES_FILE),
        format!("{}\n", all.join("\n")).as_bytes(),
        0o644,
    )?;
    Ok((files, true))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a reader (or a crash)
/// never sees half a file.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut tmp = PathBuf::from(path);
    tmp.as_mut_os_string().push(".tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::tls;

    #[test]
    fn names_cover_localhost_the_host_and_the_addresses() {
        let ips: Vec<IpAddr> = ["127.0.0.1", "10.1.2.3", "::1", "fe80::1", "fd00::5"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let got = names("0.0.0.0".parse().unwrap(), Some("Build-Box"), &ips);
        assert_eq!(
            got,
            [
                "10.1.2.3",
                "127.0.0.1",
                "::1",
                "build-box",
                "fd00::5",
                "localhost"
            ]
        );
        let bound = names("192.0.2.7".parse().unwrap(), Some("bad_name!"), &[]);
        assert_eq!(bound, ["192.0.2.7", "localhost"]);
    }

    #[test]
    fn dns_names_are_checked() {
        for good in ["a", "host-1", "a.b.example"] {
            assert!(is_dns_name(good), "{good}");
        }
        for bad in ["", "-a", "a-", "a..b", "a_b", "(none)", &"x".repeat(64)] {
            assert!(!is_dns_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_certificate_is_kept_and_reissued_with_the_same_key_for_new_names() {
        let dir = tempfile::tempdir().unwrap();
        let tls_dir = dir.path().join("tls");
        let provider = tls::provider();
        let (files, made) = ensure(&tls_dir, &["localhost".into()]).unwrap();
        assert!(made);
        let first = files.load(&provider).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let (files, made) = ensure(&tls_dir, &["localhost".into()]).unwrap();
        assert!(!made, "the kept certificate is reused");
        assert_eq!(files.load(&provider).unwrap().cert, first.cert);

        let (files, made) = ensure(&tls_dir, &["localhost".into(), "10.9.9.9".into()]).unwrap();
        assert!(made, "a new name means a new certificate");
        let second = files.load(&provider).unwrap();
        assert_ne!(second.cert, first.cert);
        assert_eq!(
            second.key.public_key(),
            first.key.public_key(),
            "same key, same pin"
        );
    }
}
