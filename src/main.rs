//! The `rangeserve` binary: parse the command line, set up logging, run the server. A start-up
//! error is one line on stderr and exit code 2 (clap's own usage errors also exit with 2).

#![forbid(unsafe_code)]

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser;
use rangeserve::cli::{Args, LogFormat};
use rangeserve::error::StartupError;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(command) = &args.command {
        return match rangeserve::cli::print(command, &mut std::io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("rangeserve: {err}");
                ExitCode::from(2)
            }
        };
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match args.log_format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .init(),
        LogFormat::Json => {
            rangeserve::access_log::set_json(true);
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .event_format(rangeserve::ops::json_log::JsonLines)
                .init()
        }
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rangeserve: {err}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<(), StartupError> {
    rangeserve::net::listener::run(args.into_config()?)
}
