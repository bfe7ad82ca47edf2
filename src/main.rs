//! The `rangeserve` binary: parse the command line, set up logging, run the server. A start-up
//! error is one line on stderr and exit code 2 (clap's own usage errors also exit with 2).

#![forbid(unsafe_code)]

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser;
use std::time::Duration;

use rangeserve::cli::{Args, LogFormat};
use rangeserve::error::StartupError;
use rangeserve::ops::live;
use rangeserve::ops::text_log::EscapedFields;
use rangeserve::text::Escaped;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(command) = &args.command {
        return match rangeserve::cli::print(command, &mut std::io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("rangeserve: {}", Escaped(&err.to_string()));
                ExitCode::from(2)
            }
        };
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let progress = live::mode(
        args.no_progress,
        args.log_format == LogFormat::Json,
        Duration::from_secs(args.progress_interval),
    );
    match args.log_format {
        LogFormat::Text if matches!(progress, Some(live::Mode::Terminal)) => {
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(live::LiveWriter)
                .with_ansi(true)
                .fmt_fields(EscapedFields)
                .init()
        }
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .fmt_fields(EscapedFields)
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
    if let Some(mode) = progress
        && let Err(err) = live::start(mode)
    {
        tracing::warn!("cannot show transfers: {err}");
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            live::eprint(&format!("rangeserve: {}\n", Escaped(&err.to_string())));
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<(), StartupError> {
    rangeserve::net::server::run(rangeserve::startup::configure(args)?)
}
