//! Errors: the start-up failures a user can act on (each names the path or address and the
//! reason), and the one map from a file error at request time to an HTTP status.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use hyper::StatusCode;

/// Why the server could not start. Printed as one line on stderr; the process exits with 2.
#[derive(Debug)]
pub enum StartupError {
    /// The file to serve is missing, unreadable or not a regular file.
    File { path: PathBuf, source: io::Error },
    /// The directory to serve is missing, not a directory, or unreadable.
    Dir { path: PathBuf, source: io::Error },
    /// Two `--file`s share a name (each is served at `/<its name>`).
    DuplicateName { first: PathBuf, second: PathBuf },
    /// The command line is inconsistent (what clap cannot say by itself).
    Usage(&'static str),
    /// `--state-dir` cannot be created or its digest store cannot be opened.
    StateDir { path: PathBuf, source: io::Error },
    /// The listening socket could not be bound (port in use, address not on this host, ...).
    Bind { addr: SocketAddr, source: io::Error },
    /// The TLS certificate or key cannot be used (names the file and the reason).
    Tls(TlsError),
    /// The self-signed certificate could not be made or kept.
    SelfSigned { path: PathBuf, source: io::Error },
    /// The async runtime could not be built.
    Runtime(io::Error),
    /// A key file given on the command line (`--link-key`) cannot be used.
    Key { path: PathBuf, source: io::Error },
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::File { path, source } => {
                write!(f, "cannot serve '{}': {}", path.display(), describe(source))
            }
            StartupError::Dir { path, source } => {
                write!(
                    f,
                    "cannot serve directory '{}': {}",
                    path.display(),
                    describe(source)
                )
            }
            StartupError::DuplicateName { first, second } => write!(
                f,
                "two files named '{}' ('{}' and '{}'): each file is served at /<its name>",
                second.file_name().unwrap_or_default().to_string_lossy(),
                first.display(),
                second.display()
            ),
            StartupError::Usage(message) => write!(f, "{message}"),
            StartupError::StateDir { path, source } => write!(
                f,
                "cannot keep state in '{}': {}",
                path.display(),
                describe(source)
            ),
            StartupError::Bind { addr, source } => {
                write!(f, "cannot listen on {addr}: {}", describe(source))
            }
            StartupError::Tls(err) => write!(f, "{err}"),
            StartupError::SelfSigned { path, source } => write!(
                f,
                "cannot keep the self-signed certificate in '{}': {}",
                path.display(),
                describe(source)
            ),
            StartupError::Runtime(source) => write!(f, "cannot start the runtime: {source}"),
            StartupError::Key { path, source } => {
                write!(
                    f,
                    "cannot use the key '{}': {}",
                    path.display(),
                    describe(source)
                )
            }
        }
    }
}

impl std::error::Error for StartupError {}

/// Why a certificate or key cannot be used. Printed as `cannot use TLS <what> '<path>': <why>`.
#[derive(Debug)]
pub struct TlsError {
    pub what: &'static str,
    pub path: PathBuf,
    pub reason: String,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot use TLS {} '{}': {}",
            self.what,
            self.path.display(),
            self.reason
        )
    }
}

impl std::error::Error for TlsError {}

/// A short human reason for an I/O error, without the "(os error N)" noise where we know better.
pub fn describe(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => "no such file".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        io::ErrorKind::IsADirectory => "is a directory, not a regular file".to_string(),
        io::ErrorKind::NotADirectory => "not a directory".to_string(),
        io::ErrorKind::AddrInUse => {
            "address already in use (is another server on that port?)".to_string()
        }
        io::ErrorKind::AddrNotAvailable => "address not available on this host".to_string(),
        _ => err.to_string(),
    }
}

/// Whether `err` says the process (`EMFILE`) or the system (`ENFILE`) has no descriptor left.
pub fn out_of_descriptors(err: &io::Error) -> bool {
    // EMFILE and ENFILE on Linux.
    matches!(err.raw_os_error(), Some(24 | 23))
}

/// The status for a file that could not be opened at request time: gone or not a regular file
/// → 404, unreadable → 403, no descriptor left → 503 (try again shortly: it is the server's
/// moment, not the file's fault), anything else → 500.
pub fn status_for(err: &io::Error) -> StatusCode {
    if out_of_descriptors(err) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match err.kind() {
        io::ErrorKind::NotFound
        | io::ErrorKind::IsADirectory
        | io::ErrorKind::NotADirectory
        | io::ErrorKind::InvalidInput => StatusCode::NOT_FOUND,
        io::ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_errors_map_to_statuses() {
        for raw in [24, 23] {
            let err = io::Error::from_raw_os_error(raw);
            assert!(out_of_descriptors(&err));
            assert_eq!(status_for(&err), StatusCode::SERVICE_UNAVAILABLE);
        }
        assert_eq!(
            status_for(&io::ErrorKind::NotFound.into()),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status_for(&io::ErrorKind::IsADirectory.into()),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status_for(&io::ErrorKind::PermissionDenied.into()),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status_for(&io::Error::other("disk on fire")),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn startup_errors_name_the_path_and_the_reason() {
        let err = StartupError::File {
            path: "/x/y.bin".into(),
            source: io::ErrorKind::NotFound.into(),
        };
        assert_eq!(err.to_string(), "cannot serve '/x/y.bin': no such file");
        let err = StartupError::Bind {
            addr: "127.0.0.1:80".parse().unwrap(),
            source: io::ErrorKind::AddrInUse.into(),
        };
        assert!(
            err.to_string()
                .starts_with("cannot listen on 127.0.0.1:80: address already in use")
        );
    }
}
