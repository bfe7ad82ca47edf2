//! What the server runs with, checked: the opened root, the limits, the secrets, the TLS
//! source. Made by `startup::configure` from the command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::HeaderValue;

use crate::net::tls::KeyFiles;
use crate::tree::root::Root;

/// Where the HTTPS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// `--tls-cert` and `--tls-key`.
    Files(KeyFiles),
    /// `--tls-self-signed`: made and kept under the state directory.
    SelfSigned,
}

/// What the server runs with, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// What is served.
    pub root: Arc<Root>,
    /// Where digests are kept, and whether the user chose it (then it must work).
    pub state_dir: Option<(PathBuf, bool)>,
    /// `--cache-control` for files and archives.
    pub cache_control: Option<HeaderValue>,
    pub addr: SocketAddr,
    pub chunk_size: usize,
    pub max_ranges: usize,
    pub shutdown_timeout: Duration,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub send_timeout: Duration,
    pub max_connections: usize,
    pub max_header_bytes: usize,
    /// HTTPS, when asked for.
    pub tls: Option<TlsSource>,
    /// `--max-streams`: HTTP/2 streams per connection.
    pub max_streams: u32,
    /// `--qr`: a QR code in the banner.
    pub qr: bool,
    /// `--metrics`: where the metrics listener binds.
    pub metrics: Option<SocketAddr>,
    /// The rate limits.
    pub limits: crate::share::throttle::Limits,
    /// `--auth`: when not empty, every request needs one of these.
    pub auth: Vec<crate::share::auth::Credential>,
    /// `--auth-file`, and the users read from it at start.
    pub auth_file: Option<(std::path::PathBuf, Vec<crate::share::auth::Credential>)>,
    /// `--secret-path`: the token everything is served under.
    pub secret: Option<String>,
    /// `--signed-links`: the key links are checked with.
    pub link_key: Option<Vec<u8>>,
    /// `--max-connections-per-client`.
    pub max_per_client: Option<usize>,
    /// Hash each version for `Repr-Digest` and the sidecar (`--no-digest` turns it off).
    pub digest: bool,
    pub workers: usize,
    /// `--public-url`, without a trailing `/`.
    pub public_url: Option<String>,
    /// `--mirror`s, without trailing `/`.
    pub mirrors: Vec<String>,
    /// `--offer-metalink`.
    pub offer_metalink: bool,
    /// `--tracker`s, in order.
    pub trackers: Vec<String>,
    /// `--on-complete`: the command run when a download completes.
    pub on_complete: Option<String>,
}

/// Checks a tracker URL (`--tracker`): `http://`, `https://` or `udp://`, no spaces or controls.
pub fn parse_tracker_url(text: &str) -> Result<String, String> {
    let known = ["http://", "https://", "udp://"];
    if !known.iter().any(|scheme| text.starts_with(scheme)) {
        return Err("expected a tracker URL beginning with http://, https:// or udp://".into());
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the URL may not have spaces or control characters".into());
    }
    Ok(text.to_string())
}

/// Checks a base URL (`--public-url`, `--mirror`): `http://` or `https://`, a host, no query,
/// fragment, space or control character; returned without a trailing `/`.
pub fn parse_base_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or("expected a URL beginning with http:// or https://")?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err("the URL has no host".into());
    }
    if text
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '"' | '<' | '>'))
    {
        return Err("the URL may not have a query, a fragment, spaces or quotes".into());
    }
    Ok(text.trim_end_matches('/').to_string())
}

impl Config {
    /// `https` when the server speaks TLS, else `http`: the one place URLs get their scheme.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}
