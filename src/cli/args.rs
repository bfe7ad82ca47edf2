//! The command line as clap parses it (an environment variable behind every flag), with the
//! defaults and the checks clap can make by itself. Values only: nothing here opens a file.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use clap::builder::TypedValueParser as _;
use hyper::header::HeaderValue;

use crate::body::DEFAULT_CHUNK_SIZE;
use crate::tree::handles::DEFAULT_OPEN_FILES;

/// Default for `--max-ranges`: more range-specs than this in one request → the whole file.
pub const DEFAULT_MAX_RANGES: usize = 100;
/// Default for `--max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Default for `--max-header-bytes`: ample for any real client, small enough that a stalled
/// connection holds little (hyper uses the same bound for its write buffer).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// Default for `--max-streams` (the value RFC 9113 §6.5.2 recommends as the least to allow).
pub const DEFAULT_MAX_STREAMS: u32 = 100;

const EXAMPLES: &str = "\
Examples:
  rangeserve --dir season1/ --port 8000
  # a whole folder, resumably, then every file proven whole:
  wget -c -r -np -nH -R 'index.html*' http://HOST:8000/
  find . -name SHA256SUMS -execdir sha256sum -c {} +

  rangeserve --dir season1/ --port 8443 --tls-self-signed
  # HTTPS (and HTTP/2) with a certificate made for this machine and kept for the next start;
  # the banner prints its fingerprint and client lines that check it

  rangeserve --file love.rmvb --port 8000
  # then, on any machine that can reach this one (resumes where it stopped):
  wget -c http://HOST:8000/love.rmvb
  curl -C - -O http://HOST:8000/love.rmvb
  aria2c -x 8 http://HOST:8000/love.rmvb";

/// Serve files or a folder over HTTP so that interrupted downloads resume exactly where they
/// stopped.
#[derive(Debug, Parser)]
#[command(version, about, after_help = EXAMPLES,
          subcommand_negates_reqs = true, args_conflicts_with_subcommands = true,
          group(clap::ArgGroup::new("served").required(true).multiple(true).args(["file", "dir"])))]
pub struct Args {
    /// Instead of serving: print a completion script or the man page.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Read settings from this TOML file (keys: the long flag names; `rangeserve config-example`
    /// prints them all). A flag or its environment variable overrides the file.
    #[arg(long, env = "RANGESERVE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// A file to serve at `/<its file name>` (and at `/` when it is the only one). Repeat for
    /// more files; then `/` lists them.
    #[arg(long, env = "RANGESERVE_FILE", value_name = "PATH")]
    pub file: Vec<PathBuf>,

    /// A directory to serve, with everything below it, at `/`: files, listings (HTML, or JSON
    /// with `Accept: application/json` or `?format=json`), `SHA256SUMS` per directory.
    #[arg(long, env = "RANGESERVE_DIR", value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// With --dir: also list and serve names beginning with `.` (default: 404).
    #[arg(long, env = "RANGESERVE_HIDDEN")]
    pub hidden: bool,

    /// With --dir: also follow symlinks whose target lies outside DIR (default: only those that
    /// stay inside are followed; others are neither listed nor served).
    #[arg(long, env = "RANGESERVE_FOLLOW_SYMLINKS")]
    pub follow_symlinks: bool,

    /// `Cache-Control` value for files and archives (default: none sent), e.g.
    /// `public, max-age=3600` behind a CDN. Listings, sidecars and manifests always get
    /// `no-cache` (they change when the tree does).
    #[arg(long, env = "RANGESERVE_CACHE_CONTROL", value_name = "VALUE",
          value_parser = parse_header_value)]
    pub cache_control: Option<HeaderValue>,

    /// Most files kept open between requests (0: open every file anew each request). A kept
    /// handle is reused only while the file's stamp (inode, size, mtime, ctime) is unchanged.
    #[arg(long, env = "RANGESERVE_OPEN_FILES", value_name = "N", default_value_t = DEFAULT_OPEN_FILES,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000).map(|n| n as usize))]
    pub open_files: usize,

    /// Where digests are kept across restarts (default: $XDG_STATE_HOME/rangeserve, else
    /// ~/.local/state/rangeserve).
    #[arg(long, env = "RANGESERVE_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// TCP port to listen on (0 picks a free one; the banner says which).
    #[arg(long, env = "RANGESERVE_PORT", default_value_t = 8000)]
    pub port: u16,

    /// Address to listen on: IPv4 or IPv6 (`::` for all IPv6 interfaces).
    #[arg(long, env = "RANGESERVE_BIND", value_name = "ADDR", default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    pub bind: IpAddr,

    /// Largest file read and body frame, in bytes. Reads start at 8 KiB and grow toward this once a
    /// client has taken 1 MiB, so a client that reads nothing holds one small buffer.
    #[arg(long, env = "RANGESERVE_CHUNK_SIZE", value_name = "BYTES", default_value_t = DEFAULT_CHUNK_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=(16 << 20)).map(|n| n as usize))]
    pub chunk_size: usize,

    /// Most range-specs honoured in one Range header; more → the whole file (200).
    #[arg(long, env = "RANGESERVE_MAX_RANGES", value_name = "N", default_value_t = DEFAULT_MAX_RANGES,
          value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize))]
    pub max_ranges: usize,

    /// Seconds in-flight responses may take to finish after SIGINT/SIGTERM before the exit.
    #[arg(
        long,
        env = "RANGESERVE_SHUTDOWN_TIMEOUT",
        value_name = "SECS",
        default_value_t = 30
    )]
    pub shutdown_timeout: u64,

    /// Seconds a client may take to send a request header (slowloris guard); also bounds how long
    /// hyper waits for the next request on a keep-alive connection.
    #[arg(long, env = "RANGESERVE_HEADER_TIMEOUT", value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,

    /// Seconds a connection may stay silent (nothing read or written, no response blocked)
    /// before it is closed: idle keep-alive connections and clients that never speak.
    #[arg(long, env = "RANGESERVE_IDLE_TIMEOUT", value_name = "SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,

    /// Seconds a client may read nothing mid-response before it is disconnected (its file handle
    /// and buffer are freed).
    #[arg(long, env = "RANGESERVE_SEND_TIMEOUT", value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub send_timeout: u64,

    /// Most connections served at once; further connections wait in the listen backlog until one
    /// closes (no 503: a waiting download client is served as soon as there is room).
    #[arg(long, env = "RANGESERVE_MAX_CONNECTIONS", value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize))]
    pub max_connections: usize,

    /// Worker threads serving connections (default: one per CPU).
    #[arg(long, env = "RANGESERVE_WORKERS", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1024).map(|n| n as usize))]
    pub workers: Option<usize>,

    /// Do not hash files: no `Repr-Digest` header, no `/<name>.sha256` sidecars, no
    /// `SHA256SUMS` (for files on storage too slow to read twice).
    #[arg(long, env = "RANGESERVE_NO_DIGEST")]
    pub no_digest: bool,

    /// The base URL clients reach this server at, e.g. `https://files.example.org` (or with a
    /// path prefix, behind a proxy): absolute URLs in Metalink documents, torrents and links
    /// are made from it. Default: the request's `Host`.
    #[arg(long, env = "RANGESERVE_PUBLIC_URL", value_name = "URL", value_parser = crate::cli::config::parse_base_url)]
    pub public_url: Option<String>,

    /// Another server that serves the same tree at BASE_URL (a replica): its URLs go into
    /// every Metalink and into `Link: rel=duplicate` on file responses. Repeatable.
    #[arg(long, env = "RANGESERVE_MIRROR", value_name = "BASE_URL", value_parser = crate::cli::config::parse_base_url, value_delimiter = ' ')]
    pub mirror: Vec<String>,

    /// Answer a GET without `Range` whose `Accept` names `application/metalink4+xml` (as
    /// aria2c's does) with the file's Metalink instead of the file, so a plain `aria2c URL`
    /// checks every piece and uses every mirror.
    #[arg(long, env = "RANGESERVE_OFFER_METALINK")]
    pub offer_metalink: bool,

    /// A tracker announced in every `.torrent` (`announce`, and `announce-list` for more than
    /// one). Repeatable. Without it, torrents have none: peers find each other by DHT, and this
    /// server is the web seed that is always there.
    #[arg(long, env = "RANGESERVE_TRACKER", value_name = "URL", value_parser = crate::cli::config::parse_tracker_url, value_delimiter = ' ')]
    pub tracker: Vec<String>,

    /// PEM certificate chain (end-entity first) for HTTPS; needs --tls-key. The port then speaks
    /// TLS 1.2 and 1.3 only, offering HTTP/2 and HTTP/1.1. SIGHUP, or a change of either file,
    /// reloads both (new handshakes get the new certificate; connections in flight keep theirs).
    #[arg(
        long,
        env = "RANGESERVE_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key (PKCS#8, PKCS#1 or SEC1; RSA, ECDSA or Ed25519) of --tls-cert.
    #[arg(
        long,
        env = "RANGESERVE_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// HTTPS with a certificate made for this machine's names, kept (key mode 0600) under the
    /// state directory so a restart presents the same one; the banner prints its fingerprint
    /// and commands that check it.
    #[arg(long, env = "RANGESERVE_TLS_SELF_SIGNED", conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_self_signed: bool,

    /// Log lines as plain text, or one JSON object per line (access lines with their fields).
    #[arg(long, env = "RANGESERVE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Serve Prometheus metrics at http://ADDR/metrics (and /healthz) on a listener of their
    /// own, e.g. `127.0.0.1:9100`; never on the public port.
    #[arg(long, env = "RANGESERVE_METRICS", value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,

    /// Require HTTP Basic credentials for every path: `USER:PASSWORD`, or `USER:sha256:HEX` (the
    /// password's SHA-256, so it need not be on the command line). Repeat for more users.
    #[arg(long, env = "RANGESERVE_AUTH", value_name = "USER:PASSWORD", value_parser = crate::share::auth::parse_credential)]
    pub auth: Vec<crate::share::auth::Credential>,

    /// Require HTTP Basic credentials from an Apache htpasswd file of bcrypt entries
    /// (`htpasswd -B -c FILE USER`), read at start and again on SIGHUP. With `--auth`, both
    /// sets of users are allowed.
    #[arg(long, env = "RANGESERVE_AUTH_FILE", value_name = "FILE")]
    pub auth_file: Option<PathBuf>,

    /// Serve everything under `/<random 128-bit token>/` only (every other path is a miss). The
    /// token is kept under the state directory and reused on restart, so links keep working.
    #[arg(long, env = "RANGESERVE_SECRET_PATH", conflicts_with = "signed_links")]
    pub secret_path: bool,

    /// With --secret-path: make a fresh token (the old links stop working).
    #[arg(long, env = "RANGESERVE_NEW_SECRET", requires = "secret_path")]
    pub new_secret: bool,

    /// Serve only expiring links made by `rangeserve link` (signed with the key under the
    /// state directory, or --link-key): expired → 410, altered → 403.
    #[arg(long, env = "RANGESERVE_SIGNED_LINKS")]
    pub signed_links: bool,

    /// The link-signing key file (share one between replicas); default: made under the state
    /// directory on first use.
    #[arg(long, env = "RANGESERVE_LINK_KEY", value_name = "FILE")]
    pub link_key: Option<PathBuf>,

    /// Most connections open at once from one client address; the ones past it get 503 with
    /// `Retry-After` (like nginx's limit_conn). Default: no limit.
    #[arg(long, env = "RANGESERVE_MAX_CONNECTIONS_PER_CLIENT", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize))]
    pub max_connections_per_client: Option<usize>,

    /// Most bytes per second for each response (`500k`, `2M`, `1.5G`; k = 1024).
    #[arg(long, env = "RANGESERVE_LIMIT_RATE", value_name = "RATE", value_parser = crate::share::rate::parse_rate)]
    pub limit_rate: Option<u64>,

    /// With --limit-rate: the first SIZE bytes of each response go at full speed.
    #[arg(long, env = "RANGESERVE_LIMIT_RATE_AFTER", value_name = "SIZE", value_parser = crate::share::rate::parse_size,
          default_value = "0")]
    pub limit_rate_after: u64,

    /// Most bytes per second for all responses to one client address together (`aria2c -x 16`
    /// gets what one `wget` gets), shared fairly between its downloads.
    #[arg(long, env = "RANGESERVE_LIMIT_RATE_PER_CLIENT", value_name = "RATE", value_parser = crate::share::rate::parse_rate)]
    pub limit_rate_per_client: Option<u64>,

    /// Most bytes per second for the whole server, shared fairly (max-min) between downloads.
    #[arg(long, env = "RANGESERVE_LIMIT_RATE_TOTAL", value_name = "RATE", value_parser = crate::share::rate::parse_rate)]
    pub limit_rate_total: Option<u64>,

    /// No live view of transfers on the terminal.
    #[arg(long, env = "RANGESERVE_NO_PROGRESS")]
    pub no_progress: bool,

    /// When stderr is not a terminal (a service, a pipe): every SECS, one log line per transfer
    /// that has run longer than that (0: none).
    #[arg(
        long,
        env = "RANGESERVE_PROGRESS_INTERVAL",
        value_name = "SECS",
        default_value_t = 30
    )]
    pub progress_interval: u64,

    /// Also print, in the banner, a QR code of the first URL another machine can use.
    #[arg(long, env = "RANGESERVE_QR")]
    pub qr: bool,

    /// When a download completes (a client holds every byte of a file or archive, however many
    /// connections and resumes it took), run CMD with `sh -c`, the facts in RANGESERVE_PATH,
    /// RANGESERVE_CLIENT, RANGESERVE_BYTES, RANGESERVE_SHA256, RANGESERVE_SECONDS and
    /// RANGESERVE_LINK (never in the command string). At most 4 run at once.
    #[arg(long, env = "RANGESERVE_ON_COMPLETE", value_name = "CMD")]
    pub on_complete: Option<String>,

    /// Most HTTP/2 streams (requests) in flight on one connection.
    #[arg(long, env = "RANGESERVE_MAX_STREAMS", value_name = "N", default_value_t = DEFAULT_MAX_STREAMS,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_streams: u32,

    /// Largest request header block accepted, in bytes (at least 8192); larger → 431.
    #[arg(long, env = "RANGESERVE_MAX_HEADER_BYTES", value_name = "BYTES", default_value_t = DEFAULT_MAX_HEADER_BYTES,
          value_parser = clap::value_parser!(u32).range(8192..=(1 << 20)).map(|n| n as usize))]
    pub max_header_bytes: usize,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// What `rangeserve` can print instead of serving.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print a shell completion script, e.g.
    /// `rangeserve completions bash > ~/.local/share/bash-completion/completions/rangeserve`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `rangeserve man | man -l -`.
    Man,
    /// Print a configuration file with every setting, its help and its default, commented out.
    ConfigExample,
    /// Print expiring links for a server started with --signed-links, one URL per line: for a
    /// file (its `.sha256` sidecar rides on the same link), or with --dir for a directory (its
    /// listing and everything below it).
    Link(LinkArgs),
    /// List the links `rangeserve link` made, with their completed downloads.
    Links(LinksArgs),
}

/// `rangeserve link`.
#[derive(Debug, clap::Args)]
pub struct LinkArgs {
    /// Files, or (with --dir) files and directories inside DIR.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// How long the links stay valid: `24h`, `90m`, `7d`.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = humantime::parse_duration)]
    pub expires: Duration,

    /// The folder the server serves with --dir (without it, each PATH is a file it serves with
    /// --file).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// The server's state directory (where the key is).
    #[arg(long, env = "RANGESERVE_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// The server's --link-key file.
    #[arg(long, env = "RANGESERVE_LINK_KEY", value_name = "FILE")]
    pub link_key: Option<PathBuf>,

    /// The server as the recipient reaches it, e.g. `https://example.org:8443` (default:
    /// `http://<this machine's first address>:8000`).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// The link allows N completed downloads (a client counts once it holds every byte of the
    /// file, however many connections and resumes it took); then it answers 410 to every client
    /// whose copy is not complete. Default: no limit.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub downloads: Option<u64>,
}

/// `rangeserve links`.
#[derive(Debug, clap::Args)]
pub struct LinksArgs {
    /// The server's state directory (where `rangeserve link` noted the links and the server
    /// counts their downloads).
    #[arg(long, env = "RANGESERVE_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// A header value: visible ASCII and spaces only.
fn parse_header_value(text: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(text)
        .ok()
        .filter(|_| !text.trim().is_empty())
        .ok_or_else(|| "not a valid header value (visible ASCII)".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_are_port_8000_on_all_ipv4_interfaces() {
        let args = Args::try_parse_from(["rangeserve", "--file", "x"]).unwrap();
        assert_eq!(
            (args.port, args.bind),
            (8000, IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        );
        assert_eq!(
            (args.chunk_size, args.max_ranges),
            (DEFAULT_CHUNK_SIZE, DEFAULT_MAX_RANGES)
        );
    }

    #[test]
    fn files_repeat_and_a_dir_is_one() {
        let args = Args::try_parse_from(["rangeserve", "--file", "a", "--file", "b"]).unwrap();
        assert_eq!(args.file, [PathBuf::from("a"), PathBuf::from("b")]);
        let args = Args::try_parse_from(["rangeserve", "--dir", "d", "--hidden"]).unwrap();
        assert_eq!(args.dir, Some(PathBuf::from("d")));
        assert!(args.hidden && !args.follow_symlinks);
    }

    #[test]
    fn completions_and_man_need_no_file_and_take_no_server_flags() {
        let args = Args::try_parse_from(["rangeserve", "completions", "bash"]).unwrap();
        assert!(matches!(args.command, Some(Command::Completions { .. })));
        let args = Args::try_parse_from(["rangeserve", "man"]).unwrap();
        assert!(matches!(args.command, Some(Command::Man)));
        assert!(Args::try_parse_from(["rangeserve", "completions", "tcsh"]).is_err());
        assert!(Args::try_parse_from(["rangeserve", "--port", "1", "man"]).is_err());
    }

    #[test]
    fn ipv6_bind_addresses_are_accepted() {
        let args = Args::try_parse_from(["rangeserve", "--file", "x", "--bind", "::1"]).unwrap();
        assert_eq!(args.bind, "::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn bad_values_are_rejected() {
        for argv in [
            &["rangeserve"][..],
            &["rangeserve", "--file", "x", "--port", "70000"],
            &["rangeserve", "--file", "x", "--bind", "localhost:1"],
            &["rangeserve", "--file", "x", "--chunk-size", "0"],
            &["rangeserve", "--file", "x", "--max-ranges", "0"],
            &["rangeserve", "--file", "x", "--max-connections", "0"],
            &["rangeserve", "--file", "x", "--max-header-bytes", "100"],
            &["rangeserve", "--file", "x", "--send-timeout", "0"],
            &["rangeserve", "--hidden"],
            &["rangeserve", "--file", "x", "--cache-control", "a\u{7f}b"],
            &["rangeserve", "--file", "x", "--cache-control", " "],
            &["rangeserve", "--file", "x", "--tls-cert", "c"],
            &["rangeserve", "--file", "x", "--tls-key", "k"],
            &[
                "rangeserve",
                "--file",
                "x",
                "--tls-self-signed",
                "--tls-cert",
                "c",
                "--tls-key",
                "k",
            ],
            &["rangeserve", "--file", "x", "--max-streams", "0"],
        ] {
            assert!(Args::try_parse_from(argv).is_err(), "{argv:?}");
        }
    }
}
