//! The `rangeserve` binary: parse the command line, set up logging, run the server. A start-up
//! error is one line on stderr and exit code 2 (clap's own usage errors also exit with 2).

#![forbid(unsafe_code)]

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;
use std::time::Duration;

use rangeserve::cli::{Args, LogFormat, file};
use rangeserve::error::StartupError;
use rangeserve::ops::live;
use rangeserve::ops::text_log::EscapedFields;
use rangeserve::text::Escaped;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    // Before any thread starts: taking them removes their variables from the environment.
    let activated = match rangeserve::net::activation::take_listeners() {
        Ok(listeners) => listeners,
        Err(err) => {
            eprintln!("rangeserve: {}", Escaped(&err));
            return ExitCode::from(2);
        }
    };
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
    match run(args, activated) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            live::eprint(&format!("rangeserve: {}\n", Escaped(&err.to_string())));
            ExitCode::from(2)
        }
    }
}

/// The command line, with the settings of a `--config` file: a file error, or a value the file
/// gave that clap refuses, is one line naming the file, the line and the key (exit 2).
fn parse_args() -> Result<Args, ExitCode> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let (full, loaded) = match file::load(argv.clone()) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("rangeserve: {}", Escaped(&err.to_string()));
            return Err(ExitCode::from(2));
        }
    };
    match Args::try_parse_from(&full) {
        Ok(args) => Ok(args),
        Err(err) => match loaded.as_ref().and_then(|l| file::blame(&err, l, &argv)) {
            Some(blamed) => {
                eprintln!("rangeserve: {}", Escaped(&blamed.to_string()));
                Err(ExitCode::from(2))
            }
            None => err.exit(),
        },
    }
}

fn run(args: Args, activated: Vec<std::net::TcpListener>) -> Result<(), StartupError> {
    rangeserve::net::server::run(rangeserve::startup::configure(args)?, activated)
}
