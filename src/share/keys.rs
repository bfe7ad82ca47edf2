//! The secrets kept under the state directory: the `--secret-path` token and the link-signing
//! key. Each is made from the kernel's random bytes on first use, written through a temporary
//! file (mode 0600) and a rename, and read back on every start, so that a link stays the same
//! across restarts (a resume in progress keeps working).
//!
//! A key file that exists is used only if nobody but its owner can read it (as ssh insists of a
//! private key) and it has the form it was made with: else the server refuses to start, with one
//! line saying which file and what to do.

use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// `bytes` random bytes as lower-case hex digits (16 bytes: 128 bits, 32 digits).
pub fn random_hex(bytes: usize) -> io::Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(crate::http::format::hex(&buf))
}

/// 32 random bytes from the kernel.
pub fn random_key() -> io::Result<[u8; 32]> {
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    Ok(key)
}

/// The bytes of a private file: refused when its group or others may read or write it.
pub fn read_private(path: &Path) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::MetadataExt as _;
    let mut file = std::fs::File::open(path)?;
    let mode = file.metadata()?.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(io::Error::other(format!(
            "a secret others can read (mode {mode:04o}); make it private: chmod 600 '{}'",
            path.display()
        )));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Whether `text` is `bytes` random bytes as [`random_hex`] writes them.
pub fn is_hex_of(text: &str, bytes: usize) -> bool {
    text.len() == 2 * bytes && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The secret of `bytes` random bytes in `path` (trimmed), made if the file does not exist or
/// `fresh`. An existing file must be private ([`read_private`]) and hold exactly that: a secret
/// of another length (hand-edited, truncated) is refused, not used.
pub fn load_or_create(path: &Path, fresh: bool, bytes: usize) -> io::Result<String> {
    if !fresh {
        match read_private(path) {
            Ok(raw) => {
                let text = String::from_utf8_lossy(&raw);
                let text = text.trim();
                if is_hex_of(text, bytes) {
                    return Ok(text.to_string());
                }
                {
                    // Empty included: a kept secret that was emptied is not silently replaced
                    // (links made with it would stop working); --new-secret makes a new one.
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "not a secret of {} hex digits; remove it (or give --new-secret) to make a new one",
                            2 * bytes
                        ),
                    ));
                }
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let secret = random_hex(bytes)?;
    let mut tmp = path.to_path_buf();
    tmp.as_mut_os_string().push(".tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(format!("{secret}\n").as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_made_once_kept_and_renewed_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/secret-path");
        let first = load_or_create(&path, false, 16).unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(load_or_create(&path, false, 16).unwrap(), first);
        let fresh = load_or_create(&path, true, 16).unwrap();
        assert_ne!(fresh, first);
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_secret_readable_by_others_or_of_the_wrong_length_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret-path");
        let kept = load_or_create(&path, false, 16).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create(&path, false, 16).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(load_or_create(&path, false, 16).unwrap(), kept);
        std::fs::write(&path, &kept[..20]).unwrap();
        let err = load_or_create(&path, false, 16).unwrap_err();
        assert!(err.to_string().contains("32 hex digits"), "{err}");
        std::fs::write(&path, "zz".repeat(16)).unwrap();
        assert!(load_or_create(&path, false, 16).is_err(), "not hex");
    }
}
