//! The command line (clap, with an environment variable behind every flag), and the validated
//! [`Config`] the server runs with. The file is checked here, before anything listens: missing,
//! unreadable or not a regular file is a [`StartupError`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use clap::builder::TypedValueParser as _;

use crate::body::DEFAULT_CHUNK_SIZE;
use crate::error::StartupError;
use crate::representation::{FileIdentity, Representation};

/// Default for `--max-ranges`: more range-specs than this in one request → the whole file.
pub const DEFAULT_MAX_RANGES: usize = 100;
/// Default for `--max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Default for `--max-header-bytes`: ample for any real client, small enough that a stalled
/// connection holds little (hyper uses the same bound for its write buffer).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;

const EXAMPLES: &str = "\
Examples:
  rangeserve --file love.rmvb --port 8000
  # then, on any machine that can reach this one (resumes where it stopped):
  wget -c http://HOST:8000/love.rmvb
  curl -C - -O http://HOST:8000/love.rmvb
  aria2c -x 8 http://HOST:8000/love.rmvb";

/// Serve one file over HTTP so that interrupted downloads resume exactly where they stopped.
#[derive(Debug, Parser)]
#[command(version, about, after_help = EXAMPLES)]
pub struct Args {
    /// The file to serve, at `/` and at `/<its file name>`.
    #[arg(long, env = "RANGESERVE_FILE", value_name = "PATH")]
    pub file: PathBuf,

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

    /// Do not hash the file: no `Repr-Digest` header and no `/<name>.sha256` sidecar (for files
    /// on storage too slow to read twice).
    #[arg(long, env = "RANGESERVE_NO_DIGEST")]
    pub no_digest: bool,

    /// Largest request header block accepted, in bytes (at least 8192); larger → 431.
    #[arg(long, env = "RANGESERVE_MAX_HEADER_BYTES", value_name = "BYTES", default_value_t = DEFAULT_MAX_HEADER_BYTES,
          value_parser = clap::value_parser!(u32).range(8192..=(1 << 20)).map(|n| n as usize))]
    pub max_header_bytes: usize,
}

/// What the server runs with, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: FileIdentity,
    pub addr: SocketAddr,
    pub chunk_size: usize,
    pub max_ranges: usize,
    pub shutdown_timeout: Duration,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub send_timeout: Duration,
    pub max_connections: usize,
    pub max_header_bytes: usize,
    /// Hash each version for `Repr-Digest` and the sidecar (`--no-digest` turns it off).
    pub digest: bool,
    pub workers: usize,
}

impl Args {
    /// Checks the file (it must open for reading and be a regular file) and builds the config.
    pub fn into_config(self) -> Result<Config, StartupError> {
        let file_error = |source| StartupError::File {
            path: self.file.clone(),
            source,
        };
        Representation::open(&self.file).map_err(file_error)?;
        let file = FileIdentity::new(&self.file).map_err(file_error)?;
        Ok(Config {
            file,
            addr: SocketAddr::new(self.bind, self.port),
            chunk_size: self.chunk_size,
            max_ranges: self.max_ranges,
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout),
            header_timeout: Duration::from_secs(self.header_timeout),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            send_timeout: Duration::from_secs(self.send_timeout),
            max_connections: self.max_connections,
            max_header_bytes: self.max_header_bytes,
            digest: !self.no_digest,
            workers: self
                .workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        })
    }
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
        ] {
            assert!(Args::try_parse_from(argv).is_err(), "{argv:?}");
        }
    }
}
