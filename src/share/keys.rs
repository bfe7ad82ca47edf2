//! The secrets kept under the state directory: the `--secret-path` token and the link-signing
//! key. Each is made from the kernel's random bytes on first use, written through a temporary
//! file (mode 0600) and a rename, and read back on every start, so that a link stays the same
//! across restarts (a resume in progress keeps working).

use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// 16 random bytes as 32 lower-case hex digits (128 bits).
pub fn random_hex(bytes: usize) -> io::Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(crate::http::format::hex(&buf))
}

/// The secret in `path` (trimmed), made with `make` if the file does not exist or `fresh`.
pub fn load_or_create(
    path: &Path,
    fresh: bool,
    make: impl FnOnce() -> io::Result<String>,
) -> io::Result<String> {
    if !fresh {
        match std::fs::read_to_string(path) {
            Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let secret = make()?;
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
        let first = load_or_create(&path, false, || random_hex(16)).unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(
            load_or_create(&path, false, || random_hex(16)).unwrap(),
            first
        );
        let fresh = load_or_create(&path, true, || random_hex(16)).unwrap();
        assert_ne!(fresh, first);
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
